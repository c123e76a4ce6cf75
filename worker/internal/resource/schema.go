// Package resource is the worker's SCIM resource model: the schemas it serves,
// how incoming Users and Groups are read (loosely, with Entra's quirks), how
// PATCH operations apply, how filters parse, and how resources are written
// back (strictly, RFC 7643 shapes). It knows nothing of storage or transport.
package resource

import (
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Type is a SCIM attribute data type.
type Type string

const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Complex   Type = "complex"
	Reference Type = "reference"
	DateTime  Type = "dateTime"
	Integer   Type = "integer"
)

// Attr describes one attribute of a schema, as published on /Schemas.
type Attr struct {
	Name            string
	Type            Type
	Multi           bool
	Required        bool
	CaseExact       bool
	Mutability      string // readWrite (default), readOnly, immutable, writeOnly
	Returned        string // default (default), always, never, request
	Uniqueness      string // none (default), server, global
	Description     string
	CanonicalValues []string
	ReferenceTypes  []string
	Sub             []*Attr
}

// Schema is a SCIM schema: core User, core Group or an extension.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attrs       []*Attr
}

// Find returns the attribute called name (case-insensitively), or nil.
func (s *Schema) Find(name string) *Attr { return findAttr(s.Attrs, name) }

// FindSub returns the sub-attribute called name (case-insensitively), or nil.
func (a *Attr) FindSub(name string) *Attr { return findAttr(a.Sub, name) }

func findAttr(attrs []*Attr, name string) *Attr {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

func str(name, desc string) *Attr { return &Attr{Name: name, Type: String, Description: desc} }

// multi builds a multi-valued complex attribute with value/type/primary
// sub-attributes, the shape shared by emails, phoneNumbers, ims, photos.
func multi(name, desc string, valueType Type, types ...string) *Attr {
	return &Attr{Name: name, Type: Complex, Multi: true, Description: desc, Sub: []*Attr{
		{Name: "value", Type: valueType, Description: "The attribute's value."},
		{Name: "display", Type: String, Description: "A human-readable name, primarily used for display purposes."},
		{Name: "type", Type: String, Description: "A label indicating the attribute's function.", CanonicalValues: types},
		{Name: "primary", Type: Boolean, Description: "Indicates the primary or preferred value."},
	}}
}

// Common attributes every resource has besides its schema's own.
var (
	attrID         = &Attr{Name: "id", Type: String, CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "server", Description: "Unique identifier issued by the service provider."}
	attrExternalID = &Attr{Name: "externalId", Type: String, CaseExact: true, Description: "Identifier of the resource in the provisioning client."}
)

// UserSchema is the core User schema as this service round-trips it. Only
// attributes that are stored and returned are listed (validators exercise
// every listed attribute).
func UserSchema() *Schema {
	return &Schema{ID: scim.SchemaUser, Name: "User", Description: "User Account", Attrs: []*Attr{
		{Name: "userName", Type: String, Required: true, Uniqueness: "server", Description: "Unique identifier for the User, typically the user principal name."},
		{Name: "name", Type: Complex, Description: "The components of the user's name.", Sub: []*Attr{
			str("formatted", "The full name."),
			str("familyName", "The family name."),
			str("givenName", "The given name."),
			str("middleName", "The middle name(s)."),
			str("honorificPrefix", "The honorific prefix(es)."),
			str("honorificSuffix", "The honorific suffix(es)."),
		}},
		str("displayName", "The name of the User, suitable for display."),
		str("nickName", "The casual way to address the user."),
		{Name: "profileUrl", Type: Reference, ReferenceTypes: []string{"external"}, Description: "A URI of the User's online profile."},
		str("title", "The user's title, such as \"Vice President\"."),
		str("userType", "The relationship between the organization and the user."),
		str("preferredLanguage", "The User's preferred written or spoken language."),
		str("locale", "The User's default location."),
		str("timezone", "The User's time zone in IANA Time Zone database format."),
		{Name: "active", Type: Boolean, Description: "The User's administrative status."},
		multi("emails", "Email addresses for the user.", String, "work", "home", "other"),
		multi("phoneNumbers", "Phone numbers for the User.", String, "work", "home", "mobile", "fax", "pager", "other"),
		multi("ims", "Instant messaging addresses for the User.", String, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
		multi("photos", "URLs of photos of the User.", Reference, "photo", "thumbnail"),
		{Name: "addresses", Type: Complex, Multi: true, Description: "A physical mailing address for this User.", Sub: []*Attr{
			str("formatted", "The full mailing address."),
			str("streetAddress", "The full street address component."),
			str("locality", "The city or locality component."),
			str("region", "The state or region component."),
			str("postalCode", "The zip code or postal code component."),
			str("country", "The country name component."),
			{Name: "type", Type: String, CanonicalValues: []string{"work", "home", "other"}, Description: "A label indicating the attribute's function."},
			{Name: "primary", Type: Boolean, Description: "Indicates the primary mailing address."},
		}},
		multi("entitlements", "A list of entitlements for the User.", String),
		multi("roles", "A list of roles for the User.", String),
	}}
}

// EnterpriseSchema is the enterprise User extension.
func EnterpriseSchema() *Schema {
	return &Schema{ID: scim.SchemaEnterpriseUser, Name: "EnterpriseUser", Description: "Enterprise User", Attrs: []*Attr{
		str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
		str("costCenter", "Identifies the name of a cost center."),
		str("organization", "Identifies the name of an organization."),
		str("division", "Identifies the name of a division."),
		str("department", "Identifies the name of a department."),
		{Name: "manager", Type: Complex, Description: "The User's manager.", Sub: []*Attr{
			{Name: "value", Type: String, CaseExact: true, Description: "The id of the SCIM resource representing the User's manager."},
			{Name: "$ref", Type: Reference, Mutability: "readOnly", ReferenceTypes: []string{"User"}, Description: "The URI of the manager's SCIM resource."},
			{Name: "displayName", Type: String, Mutability: "readOnly", Description: "The displayName of the User's manager."},
		}},
	}}
}

// GroupSchema is the core Group schema.
func GroupSchema() *Schema {
	return &Schema{ID: scim.SchemaGroup, Name: "Group", Description: "Group", Attrs: []*Attr{
		{Name: "displayName", Type: String, Required: true, Uniqueness: "server", Description: "A human-readable name for the Group."},
		{Name: "members", Type: Complex, Multi: true, Description: "A list of members of the Group.", Sub: []*Attr{
			{Name: "value", Type: String, CaseExact: true, Mutability: "immutable", Description: "Identifier of the member of this Group."},
			{Name: "$ref", Type: Reference, Mutability: "immutable", ReferenceTypes: []string{"User", "Group"}, Description: "The URI of the member resource."},
			{Name: "display", Type: String, Mutability: "readOnly", Description: "The member's display name."},
			{Name: "type", Type: String, Mutability: "immutable", CanonicalValues: []string{"User", "Group"}, Description: "The type of the member."},
		}},
	}}
}

// Schemas bundles the schema definitions, built once per worker.
type Schemas struct {
	User       *Schema
	Enterprise *Schema
	Group      *Schema
}

// NewSchemas builds the schema set.
func NewSchemas() *Schemas {
	return &Schemas{User: UserSchema(), Enterprise: EnterpriseSchema(), Group: GroupSchema()}
}
