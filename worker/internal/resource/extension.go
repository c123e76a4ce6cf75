package resource

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Decimal is the SCIM decimal type, which only declared extension
// attributes use.
const Decimal Type = "decimal"

// ExtensionPrefix is what every declared extension schema URN starts with.
const ExtensionPrefix = "urn:ietf:params:scim:schemas:extension:"

// Bounds on a tenant's declarations.
const (
	MaxExtensionSchemas    = 20
	MaxExtensionAttributes = 100
	maxURNLength           = 200
	maxAttrNameLength      = 64
	maxDescriptionLength   = 1000
)

// Declared is one attribute a tenant declared in an extension schema of
// its own (Entra's "custom extension attributes").
type Declared struct {
	Schema       string // the schema URN, under ExtensionPrefix
	ResourceType string // "User" or "Group"
	Name         string
	Type         Type // string, boolean, integer, decimal, dateTime or reference
	MultiValued  bool
	CaseExact    bool
	Description  string
}

// ExtensionTypes are the types a declared attribute may have.
var ExtensionTypes = []Type{String, Boolean, Integer, Decimal, DateTime, Reference}

var (
	// urnSegments: what follows ExtensionPrefix, colon-separated segments
	// of letters, digits, '.', '-' and '_' (Entra's
	// "CustomExtensionName:2.0:User").
	urnSegments = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)*$`)
	// attrName is RFC 7643 section 2.1's ATTRNAME.
	attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

// Declare checks d against the declarations in force (have) and returns
// them with d added, d's schema URN spelt as already declared. It refuses
// (400 with a message for the admin) a malformed URN or name, an unknown
// type, a URN of the core or enterprise schemas or one that is a prefix of
// another declared URN, an attribute the resource type already has, a
// schema declared for the other resource type, a duplicate, and more than
// MaxExtensionSchemas schemas or MaxExtensionAttributes attributes.
func Declare(have []Declared, d Declared) ([]Declared, Declared, error) {
	bad := func(format string, args ...any) error {
		return scim.NewError(400, scim.TypeInvalidValue, fmt.Sprintf(format, args...))
	}
	d.Schema = strings.TrimSpace(d.Schema)
	d.Name = strings.TrimSpace(d.Name)
	switch {
	case !hasPrefixFold(d.Schema, ExtensionPrefix) || !urnSegments.MatchString(d.Schema[len(ExtensionPrefix):]):
		return nil, d, bad("schema must be a URN under %s followed by segments of letters, digits, '.', '-' or '_' separated by ':' (for example %sCustomExtensionName:2.0:User)", ExtensionPrefix, ExtensionPrefix)
	case len(d.Schema) > maxURNLength:
		return nil, d, bad("schema is longer than %d characters", maxURNLength)
	case d.ResourceType != "User" && d.ResourceType != "Group":
		return nil, d, bad(`resourceType must be "User" or "Group"`)
	case !attrName.MatchString(d.Name) || len(d.Name) > maxAttrNameLength:
		return nil, d, bad("name must start with a letter and hold only letters, digits, '-' and '_' (at most %d)", maxAttrNameLength)
	case len(d.Description) > maxDescriptionLength:
		return nil, d, bad("description is longer than %d characters", maxDescriptionLength)
	}
	if d.Type = typeOf(d.Type); d.Type == "" {
		return nil, d, bad("type must be one of string, boolean, integer, decimal, dateTime, reference")
	}
	for _, reserved := range []string{scim.SchemaUser, scim.SchemaGroup, scim.SchemaEnterpriseUser} {
		if related(d.Schema, reserved) {
			return nil, d, bad("schema %s is served by this service and cannot be declared", d.Schema)
		}
	}
	core := UserSchema()
	if d.ResourceType == "Group" {
		core = GroupSchema()
	}
	for _, common := range []string{"id", "externalId", "meta", "schemas"} {
		if strings.EqualFold(d.Name, common) {
			return nil, d, bad("%s is a common attribute of every resource", common)
		}
	}
	if a := core.Find(d.Name); a != nil {
		return nil, d, bad("%s is an attribute of the core %s schema", a.Name, d.ResourceType)
	}
	schemas := map[string]bool{}
	for _, h := range have {
		schemas[strings.ToLower(h.Schema)] = true
		if strings.EqualFold(h.Schema, d.Schema) {
			d.Schema = h.Schema
			if h.ResourceType != d.ResourceType {
				return nil, d, bad("schema %s extends %s, not %s", h.Schema, h.ResourceType, d.ResourceType)
			}
			if strings.EqualFold(h.Name, d.Name) {
				return nil, d, scim.NewError(409, scim.TypeUniqueness, fmt.Sprintf("%s:%s is already declared", h.Schema, h.Name))
			}
			continue
		}
		if related(d.Schema, h.Schema) {
			return nil, d, bad("schema %s and the declared %s are prefixes of one another, which makes attribute paths ambiguous", d.Schema, h.Schema)
		}
	}
	schemas[strings.ToLower(d.Schema)] = true
	if len(schemas) > MaxExtensionSchemas {
		return nil, d, bad("a tenant declares at most %d extension schemas", MaxExtensionSchemas)
	}
	if len(have)+1 > MaxExtensionAttributes {
		return nil, d, bad("a tenant declares at most %d extension attributes", MaxExtensionAttributes)
	}
	return append(append([]Declared(nil), have...), d), d, nil
}

// typeOf is t spelt as SCIM spells it, or "" if it is not a declarable type.
func typeOf(t Type) Type {
	for _, x := range ExtensionTypes {
		if strings.EqualFold(string(t), string(x)) {
			return x
		}
	}
	return ""
}

// related reports whether one URN equals the other or is a prefix of it up
// to a colon (attribute paths are URN ":" name).
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.EqualFold(a, b) || hasPrefixFold(b, a+":")
}

// extensionSchemas builds the declared schemas of one resource type, in
// URN order, their attributes in declaration order.
func extensionSchemas(decls []Declared, resourceType string) []*Schema {
	byURN := map[string]*Schema{}
	var out []*Schema
	for _, d := range decls {
		if d.ResourceType != resourceType {
			continue
		}
		s := byURN[d.Schema]
		if s == nil {
			s = &Schema{ID: d.Schema, Name: schemaName(d.Schema), Description: "Extension declared by the tenant.", Declared: true}
			byURN[d.Schema] = s
			out = append(out, s)
		}
		a := &Attr{Name: d.Name, Type: d.Type, Multi: d.MultiValued, CaseExact: d.CaseExact, Description: d.Description}
		if a.Description == "" {
			// RFC 7643 section 7: the service provider must give one.
			a.Description = "A " + string(d.Type) + " attribute the tenant declared."
		}
		if a.Type == Reference {
			a.ReferenceTypes = []string{"external"}
		}
		s.Attrs = append(s.Attrs, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// schemaName is the first segment after ExtensionPrefix
// ("CustomExtensionName").
func schemaName(urn string) string {
	rest := urn[len(ExtensionPrefix):]
	if i := strings.IndexByte(rest, ':'); i > 0 {
		return rest[:i]
	}
	return rest
}
