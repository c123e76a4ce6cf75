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
	// MaxBytes bounds the UTF-8 length of the attribute's string values
	// (0: unbounded). Set on values the store indexes: see MaxIndexedBytes.
	MaxBytes int
	// Cleared is what a PATCH that removes the attribute (or sets it to
	// null or "") stores instead of removing it; nil means remove.
	Cleared any
}

// MaxIndexedBytes bounds the values the store keeps in a B-tree or GIN index
// (userName, displayName, externalId, emails.value, manager.value). A
// PostgreSQL index entry holds at most 2704 bytes (8 kB pages) and the
// indexes are over lower(value), which can grow a UTF-8 string by half (a
// 2-byte capital such as U+023A lowercases to a 3-byte letter): 1024 bytes
// stay under 1600 after lower(), well inside the limit. Entra's own limits
// are far smaller (userPrincipalName 113 characters, displayName 256, which
// is at most 1024 bytes even in 4-byte characters).
const MaxIndexedBytes = 1024

// indexed marks a string attribute as stored in an index.
func indexed(a *Attr) *Attr {
	a.MaxBytes = MaxIndexedBytes
	return a
}

// Schema is a SCIM schema: core User, core Group or an extension.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attrs       []*Attr
	// Declared marks an extension schema the tenant declared (see
	// Declare): its attributes are reached only through its URN.
	Declared bool
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

// multi builds a multi-valued complex attribute with value/display/type/
// primary sub-attributes, the shape shared by emails, phoneNumbers, ims,
// photos, entitlements and roles (RFC 7643 section 2.4).
func multi(name, desc string, value *Attr, types ...string) *Attr {
	return &Attr{Name: name, Type: Complex, Multi: true, Description: desc, Sub: []*Attr{
		value,
		{Name: "display", Type: String, Description: "A human-readable name, primarily used for display purposes."},
		{Name: "type", Type: String, Description: "A label indicating the attribute's function.", CanonicalValues: types},
		{Name: "primary", Type: Boolean, Description: "Indicates the primary or preferred value; true at most once."},
	}}
}

// Common attributes every resource has besides its schema's own.
var (
	attrID         = &Attr{Name: "id", Type: String, CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "server", Description: "Unique identifier issued by the service provider."}
	attrExternalID = indexed(&Attr{Name: "externalId", Type: String, CaseExact: true, Description: "Identifier of the resource in the provisioning client."})
)

// UserSchema is the core User schema as this service round-trips it. Only
// attributes that are stored and returned are listed (validators exercise
// every listed attribute).
func UserSchema() *Schema {
	return &Schema{ID: scim.SchemaUser, Name: "User", Description: "User Account", Attrs: []*Attr{
		indexed(&Attr{Name: "userName", Type: String, Required: true, Uniqueness: "server", Description: "Unique identifier for the User, typically the user principal name."}),
		{Name: "name", Type: Complex, Description: "The components of the user's name.", Sub: []*Attr{
			str("formatted", "The full name."),
			str("familyName", "The family name."),
			str("givenName", "The given name."),
			str("middleName", "The middle name(s)."),
			str("honorificPrefix", "The honorific prefix(es)."),
			str("honorificSuffix", "The honorific suffix(es)."),
		}},
		indexed(str("displayName", "The name of the User, suitable for display.")),
		str("nickName", "The casual way to address the user."),
		{Name: "profileUrl", Type: Reference, ReferenceTypes: []string{"external"}, Description: "A URI of the User's online profile."},
		str("title", "The user's title, such as \"Vice President\"."),
		str("userType", "The relationship between the organization and the user."),
		str("preferredLanguage", "The User's preferred written or spoken language."),
		str("locale", "The User's default location."),
		str("timezone", "The User's time zone in IANA Time Zone database format."),
		// Removing active deactivates: see patcher.clear.
		{Name: "active", Type: Boolean, Cleared: false, Description: "The User's administrative status; true unless set otherwise at creation, false once removed."},
		multi("emails", "Email addresses for the user.",
			indexed(str("value", "An email address.")), "work", "home", "other"),
		multi("phoneNumbers", "Phone numbers for the User.",
			str("value", "A phone number."), "work", "home", "mobile", "fax", "pager", "other"),
		multi("ims", "Instant messaging addresses for the User.",
			str("value", "An instant messaging address."), "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
		multi("photos", "URLs of photos of the User.",
			&Attr{Name: "value", Type: Reference, ReferenceTypes: []string{"external"}, Description: "The URL of a photo of the User."}, "photo", "thumbnail"),
		{Name: "addresses", Type: Complex, Multi: true, Description: "A physical mailing address for this User.", Sub: []*Attr{
			str("formatted", "The full mailing address."),
			str("streetAddress", "The full street address component."),
			str("locality", "The city or locality component."),
			str("region", "The state or region component."),
			str("postalCode", "The zip code or postal code component."),
			str("country", "The country name component."),
			{Name: "type", Type: String, CanonicalValues: []string{"work", "home", "other"}, Description: "A label indicating the attribute's function."},
			{Name: "primary", Type: Boolean, Description: "Indicates the primary mailing address; true at most once."},
		}},
		multi("entitlements", "A list of entitlements for the User.", str("value", "The value of an entitlement.")),
		multi("roles", "A list of roles for the User.", str("value", "The value of a role.")),
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
			indexed(&Attr{Name: "value", Type: String, CaseExact: true, Description: "The id of the SCIM resource representing the User's manager."}),
			{Name: "$ref", Type: Reference, Mutability: "readOnly", ReferenceTypes: []string{"User"}, Description: "The URI of the manager's SCIM resource."},
			{Name: "displayName", Type: String, Mutability: "readOnly", Description: "The displayName of the User's manager."},
		}},
	}}
}

// GroupSchema is the core Group schema. Unlike RFC 7643's, displayName is
// required and unique: Entra matches groups on it.
func GroupSchema() *Schema {
	return &Schema{ID: scim.SchemaGroup, Name: "Group", Description: "Group", Attrs: []*Attr{
		indexed(&Attr{Name: "displayName", Type: String, Required: true, Uniqueness: "server", Description: "A human-readable name for the Group."}),
		{Name: "members", Type: Complex, Multi: true, Description: "A list of members of the Group.", Sub: []*Attr{
			{Name: "value", Type: String, CaseExact: true, Mutability: "immutable", Description: "Identifier of the member of this Group."},
			{Name: "$ref", Type: Reference, Mutability: "immutable", ReferenceTypes: []string{"User", "Group"}, Description: "The URI of the member resource."},
			{Name: "display", Type: String, Mutability: "readOnly", Description: "The member's display name."},
			{Name: "type", Type: String, Mutability: "immutable", CanonicalValues: []string{"User", "Group"}, Description: "The type of the member."},
		}},
	}}
}

// Schemas bundles the schema definitions: the built-in ones and the
// tenant's declared extensions. A set never changes; a new declaration
// builds a new set.
type Schemas struct {
	User       *Schema
	Enterprise *Schema
	Group      *Schema
	// UserExts and GroupExts are the tenant's declared extension schemas,
	// in URN order.
	UserExts  []*Schema
	GroupExts []*Schema
	// Declarations are what they were built from.
	Declarations []Declared
}

// NewSchemas builds the schema set with the tenant's declared extension
// attributes, which Declare has checked.
func NewSchemas(decls ...Declared) *Schemas {
	return &Schemas{User: UserSchema(), Enterprise: EnterpriseSchema(), Group: GroupSchema(),
		UserExts: extensionSchemas(decls, "User"), GroupExts: extensionSchemas(decls, "Group"),
		Declarations: decls}
}
