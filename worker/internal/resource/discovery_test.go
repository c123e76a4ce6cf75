package resource

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scim"
)

// The discovery documents are checked the way a strict client library reads
// them: against RFC 7643's schemas for ServiceProviderConfig, ResourceType
// and Schema (testdata/rfc7643-discovery.json), then every attribute
// definition in /Schemas against the rules of RFC 7643 sections 2 and 7.

type metaAttr struct {
	Name            string          `json:"name"`
	Type            string          `json:"type"`
	MultiValued     bool            `json:"multiValued"`
	Required        bool            `json:"required"`
	CanonicalValues []string        `json:"canonicalValues"`
	ReferenceTypes  []string        `json:"referenceTypes"`
	RawSub          json.RawMessage `json:"subAttributes"`
	Sub             []*metaAttr     `json:"-"`
}

type metaSchemas struct {
	Comment string      `json:"comment"`
	Common  []*metaAttr `json:"common"`
	Schemas []struct {
		ID         string      `json:"id"`
		Attributes []*metaAttr `json:"attributes"`
	} `json:"schemas"`
}

func loadMetaSchemas(t *testing.T) (common []*metaAttr, byID map[string][]*metaAttr) {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc7643-discovery.json")
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m metaSchemas
	require.NoError(t, dec.Decode(&m))
	var resolve func(attrs []*metaAttr)
	resolve = func(attrs []*metaAttr) {
		for _, a := range attrs {
			switch {
			case len(a.RawSub) == 0:
			case string(a.RawSub) == `"$attributes"`:
				// Sub-attributes are defined like attributes, but cannot
				// themselves have sub-attributes (RFC 7643 section 2.3.8).
				for _, sib := range attrs {
					if sib.Name != "subAttributes" {
						a.Sub = append(a.Sub, sib)
					}
				}
			default:
				d := json.NewDecoder(bytes.NewReader(a.RawSub))
				d.DisallowUnknownFields()
				require.NoError(t, d.Decode(&a.Sub))
				resolve(a.Sub)
			}
		}
	}
	resolve(m.Common)
	byID = map[string][]*metaAttr{}
	for _, s := range m.Schemas {
		resolve(s.Attributes)
		byID[s.ID] = s.Attributes
	}
	return m.Common, byID
}

// conform reports every way v, an attribute value of definition a, breaks
// the definition: wrong JSON type, closed canonical value, unknown
// sub-attribute, missing required sub-attribute.
func conform(a *metaAttr, path string, v any) []string {
	if v == nil {
		return []string{path + ": null (omit the member instead)"}
	}
	if a.MultiValued {
		list, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: multi-valued, want a JSON array, got %T", path, v)}
		}
		var errs []string
		for i, item := range list {
			errs = append(errs, conformOne(a, fmt.Sprintf("%s[%d]", path, i), item)...)
		}
		return errs
	}
	return conformOne(a, path, v)
}

func conformOne(a *metaAttr, path string, v any) []string {
	bad := func(want string) []string { return []string{fmt.Sprintf("%s: want %s, got %#v", path, want, v)} }
	switch a.Type {
	case "string", "reference", "dateTime", "binary":
		s, ok := v.(string)
		if !ok {
			return bad("a JSON string")
		}
		switch {
		case a.Type == "reference":
			if _, err := url.Parse(s); err != nil || s == "" {
				return bad("a URI reference")
			}
		case a.Type == "dateTime":
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return bad("an xsd:dateTime")
			}
		case a.Type == "binary":
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return bad("base64")
			}
		}
		if len(a.CanonicalValues) > 0 && !slices.Contains(a.CanonicalValues, s) {
			return bad("one of " + strings.Join(a.CanonicalValues, ", "))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("a JSON boolean")
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return bad("a JSON integer")
		}
		if _, err := n.Int64(); err != nil {
			return bad("a JSON integer")
		}
	case "decimal":
		if _, ok := v.(json.Number); !ok {
			return bad("a JSON number")
		}
	case "complex":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("a JSON object")
		}
		return conformObject(a.Sub, nil, path, obj)
	default:
		return []string{path + ": meta-schema has unknown type " + a.Type}
	}
	return nil
}

// conformObject checks an object against its attribute definitions; extra
// names the common attributes also allowed. Attribute names are matched
// exactly: they are emitted in their canonical camelCase.
func conformObject(defs, extra []*metaAttr, path string, obj map[string]any) []string {
	var errs []string
	all := append(append([]*metaAttr(nil), defs...), extra...)
	for key, v := range obj {
		i := slices.IndexFunc(all, func(d *metaAttr) bool { return d.Name == key })
		if i < 0 {
			errs = append(errs, path+"."+key+": not defined by the schema")
			continue
		}
		errs = append(errs, conform(all[i], path+"."+key, v)...)
	}
	for _, d := range all {
		if _, ok := obj[d.Name]; d.Required && !ok {
			errs = append(errs, path+"."+d.Name+": required, missing")
		}
	}
	return errs
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// checkAttrDefs applies the rules of RFC 7643 sections 2.1, 2.3.8 and 7 to
// the attribute definitions of one served schema. sub is true for
// sub-attributes; resourceTypes are the names a reference may point to.
func checkAttrDefs(path string, defs []any, sub bool, resourceTypes []string) []string {
	var errs []string
	seen := map[string]bool{}
	for i, raw := range defs {
		d, _ := raw.(map[string]any)
		name, _ := d["name"].(string)
		p := fmt.Sprintf("%s[%d](%s)", path, i, name)
		if !attrNameRE.MatchString(name) && !(sub && name == "$ref") {
			errs = append(errs, p+": name is not an RFC 7643 ATTRNAME")
		}
		if seen[strings.ToLower(name)] {
			errs = append(errs, p+": name defined twice")
		}
		seen[strings.ToLower(name)] = true
		if desc, _ := d["description"].(string); strings.TrimSpace(desc) == "" {
			errs = append(errs, p+": no description (RFC 7643 section 7: service providers MUST specify it)")
		}
		typ, _ := d["type"].(string)
		refTypes, hasRefTypes := d["referenceTypes"].([]any)
		switch {
		case typ == "reference" && len(refTypes) == 0:
			errs = append(errs, p+": a reference needs referenceTypes")
		case typ != "reference" && hasRefTypes:
			errs = append(errs, p+": referenceTypes on a "+typ)
		}
		for _, rt := range refTypes {
			if s, _ := rt.(string); s != "external" && s != "uri" && !slices.Contains(resourceTypes, s) {
				errs = append(errs, fmt.Sprintf("%s: referenceType %v is neither external, uri nor a served resource type", p, rt))
			}
		}
		subs, hasSubs := d["subAttributes"].([]any)
		switch {
		case typ == "complex" && sub:
			errs = append(errs, p+": a sub-attribute cannot be complex (RFC 7643 section 2.3.8)")
		case typ == "complex" && len(subs) == 0:
			errs = append(errs, p+": a complex attribute needs subAttributes")
		case typ != "complex" && hasSubs:
			errs = append(errs, p+": subAttributes on a "+typ)
		}
		if hasSubs {
			errs = append(errs, checkAttrDefs(p+".subAttributes", subs, true, resourceTypes)...)
		}
	}
	return errs
}

// roundTrip gives a document as a client decodes it.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	require.NoError(t, dec.Decode(&out))
	return out
}

// discoveryErrors validates the three discovery documents as served.
func discoveryErrors(t *testing.T, spc map[string]any, rts, schemaDocs []map[string]any) []string {
	common, meta := loadMetaSchemas(t)
	base := "https://scim.example.net/scim/t/v2"
	var errs []string
	check := func(doc map[string]any, schemaID, resourceType, location string) {
		obj := roundTrip(t, doc).(map[string]any)
		path := resourceType
		if id, ok := obj["id"].(string); ok {
			path += "(" + id + ")"
		}
		errs = append(errs, conformObject(meta[schemaID], common, path, obj)...)
		if got, _ := obj["schemas"].([]any); len(got) != 1 || got[0] != schemaID {
			errs = append(errs, fmt.Sprintf("%s.schemas: want [%s], got %v", path, schemaID, obj["schemas"]))
		}
		m, _ := obj["meta"].(map[string]any)
		if m["resourceType"] != resourceType || m["location"] != location {
			errs = append(errs, fmt.Sprintf("%s.meta: want resourceType %s at %s, got %v", path, resourceType, location, m))
		}
	}
	check(spc, scim.SchemaServiceConfig, "ServiceProviderConfig", base+"/ServiceProviderConfig")
	var typeNames, schemaIDs []string
	for _, s := range schemaDocs {
		id, _ := s["id"].(string)
		schemaIDs = append(schemaIDs, id)
	}
	for _, rt := range rts {
		id, _ := rt["id"].(string)
		name, _ := rt["name"].(string)
		typeNames = append(typeNames, name)
		check(rt, scim.SchemaResourceType, "ResourceType", base+"/ResourceTypes/"+id)
		obj := roundTrip(t, rt).(map[string]any)
		refs := []any{obj["schema"]}
		exts, _ := obj["schemaExtensions"].([]any)
		for _, e := range exts {
			m, _ := e.(map[string]any)
			refs = append(refs, m["schema"])
		}
		for _, r := range refs {
			if s, _ := r.(string); !slices.Contains(schemaIDs, s) {
				errs = append(errs, fmt.Sprintf("ResourceType(%s): schema %v is not served on /Schemas", id, r))
			}
		}
		if ep, _ := obj["endpoint"].(string); !strings.HasPrefix(ep, "/") {
			errs = append(errs, fmt.Sprintf("ResourceType(%s): endpoint %v is not relative to the base URL", id, obj["endpoint"]))
		}
	}
	for _, s := range schemaDocs {
		id, _ := s["id"].(string)
		check(s, scim.SchemaSchema, "Schema", base+"/Schemas/"+id)
		if !strings.HasPrefix(id, "urn:") {
			errs = append(errs, "Schema("+id+"): id is not a URN")
		}
		attrs, _ := roundTrip(t, s["attributes"]).([]any)
		errs = append(errs, checkAttrDefs("Schema("+id+").attributes", attrs, false, typeNames)...)
	}
	return errs
}

func TestDiscovery_ConformsToRFC7643(t *testing.T) {
	base := "https://scim.example.net/scim/t/v2"
	for name, s := range map[string]*Schemas{
		"built-in schemas only": NewSchemas(),
		// A tenant's declarations: every type, multi-valued and
		// case-exact ones, for User and Group.
		"with declared extensions": NewSchemas(testDeclarations...),
	} {
		t.Run(name, func(t *testing.T) {
			errs := discoveryErrors(t, ServiceProviderConfig(base), s.ResourceTypes(base), s.SchemaDocs(base))
			require.Empty(t, errs, "discovery documents break RFC 7643:\n%s", strings.Join(errs, "\n"))
		})
	}
}

// TestDiscovery_DeclaredExtensions: declared schemas are served on
// /Schemas and listed as optional extensions of their resource type.
func TestDiscovery_DeclaredExtensions(t *testing.T) {
	base := "https://scim.example.net/scim/t/v2"
	s := NewSchemas(testDeclarations...)
	rts := roundTrip(t, s.ResourceTypes(base)).([]any)
	require.Equal(t, []any{
		map[string]any{"schema": scim.SchemaEnterpriseUser, "required": false},
		map[string]any{"schema": testUserExt, "required": false},
	}, rts[0].(map[string]any)["schemaExtensions"])
	require.Equal(t, []any{map[string]any{"schema": testGroupExt, "required": false}}, rts[1].(map[string]any)["schemaExtensions"])
	_, noExt := NewSchemas().ResourceTypes(base)[1]["schemaExtensions"]
	require.False(t, noExt, "a Group without declared extensions lists none")

	docs := roundTrip(t, s.SchemaDocs(base)).([]any)
	require.Len(t, docs, 5)
	user := docs[3].(map[string]any)
	require.Equal(t, testUserExt, user["id"])
	require.Equal(t, "CustomExtensionName", user["name"])
	attrs := user["attributes"].([]any)
	require.Len(t, attrs, 7)
	require.Equal(t, map[string]any{"name": "costCenter", "type": "string", "multiValued": false, "description": "Cost center.",
		"required": false, "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"}, attrs[0])
	require.Equal(t, []any{"external"}, attrs[6].(map[string]any)["referenceTypes"])
	require.Equal(t, testGroupExt, docs[4].(map[string]any)["id"])
}

// TestDiscovery_StrictCheckCatches proves the check above can fail: each
// case breaks one rule in a copy of the served documents.
func TestDiscovery_StrictCheckCatches(t *testing.T) {
	base := "https://scim.example.net/scim/t/v2"
	userAttr := func(docs []map[string]any, name string) map[string]any {
		for _, a := range docs[0]["attributes"].([]any) {
			if a.(map[string]any)["name"] == name {
				return a.(map[string]any)
			}
		}
		t.Fatalf("no attribute %s", name)
		return nil
	}
	subAttr := func(a map[string]any, name string) map[string]any {
		for _, s := range a["subAttributes"].([]any) {
			if s.(map[string]any)["name"] == name {
				return s.(map[string]any)
			}
		}
		t.Fatalf("no sub-attribute %s", name)
		return nil
	}
	tests := []struct {
		name   string
		mutate func(spc map[string]any, rts, docs []map[string]any)
		want   string
	}{
		{"reference without referenceTypes (photos.value before the fix)", func(_ map[string]any, _, docs []map[string]any) {
			subAttr(userAttr(docs, "photos"), "value")["referenceTypes"] = nil
		}, "subAttributes[0].referenceTypes: null"},
		{"reference with an empty referenceTypes", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "profileUrl")["referenceTypes"] = []string{}
		}, "(profileUrl): a reference needs referenceTypes"},
		{"referenceTypes on a string", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["referenceTypes"] = []string{"external"}
		}, "(title): referenceTypes on a string"},
		{"unknown referenceType", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "profileUrl")["referenceTypes"] = []string{"Device"}
		}, "referenceType Device"},
		{"unknown type", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["type"] = "text"
		}, ".type: want one of"},
		{"complex without subAttributes", func(_ map[string]any, _, docs []map[string]any) {
			delete(userAttr(docs, "name"), "subAttributes")
		}, "(name): a complex attribute needs subAttributes"},
		{"complex sub-attribute", func(_ map[string]any, _, docs []map[string]any) {
			subAttr(userAttr(docs, "name"), "givenName")["type"] = "complex"
		}, "(givenName): a sub-attribute cannot be complex"},
		{"bad mutability", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["mutability"] = "readwrite"
		}, ".mutability: want one of"},
		{"bad returned", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["returned"] = "sometimes"
		}, ".returned: want one of"},
		{"bad uniqueness", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "userName")["uniqueness"] = "unique"
		}, ".uniqueness: want one of"},
		{"missing name", func(_ map[string]any, _, docs []map[string]any) {
			delete(userAttr(docs, "title"), "name")
		}, ".name: required, missing"},
		{"missing multiValued", func(_ map[string]any, _, docs []map[string]any) {
			delete(userAttr(docs, "title"), "multiValued")
		}, ".multiValued: required, missing"},
		{"multiValued as a string", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["multiValued"] = "false"
		}, ".multiValued: want a JSON boolean"},
		{"canonicalValues not an array", func(_ map[string]any, _, docs []map[string]any) {
			subAttr(userAttr(docs, "emails"), "type")["canonicalValues"] = "work"
		}, ".canonicalValues: multi-valued"},
		{"unknown member of an attribute definition", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["maxLength"] = 10
		}, ".maxLength: not defined by the schema"},
		{"no description", func(_ map[string]any, _, docs []map[string]any) {
			userAttr(docs, "title")["description"] = ""
		}, "(title): no description"},
		{"attribute defined twice", func(_ map[string]any, _, docs []map[string]any) {
			docs[0]["attributes"] = append(docs[0]["attributes"].([]any), userAttr(docs, "title"))
		}, "(title): name defined twice"},
		{"schema document without attributes", func(_ map[string]any, _, docs []map[string]any) {
			delete(docs[1], "attributes")
		}, ".attributes: required, missing"},
		{"resource type pointing at an unserved schema", func(_ map[string]any, rts, _ []map[string]any) {
			rts[1]["schema"] = "urn:example:Group"
		}, "schema urn:example:Group is not served"},
		{"resource type without endpoint", func(_ map[string]any, rts, _ []map[string]any) {
			delete(rts[0], "endpoint")
		}, ".endpoint: required, missing"},
		{"schemaExtensions.required as a string", func(_ map[string]any, rts, _ []map[string]any) {
			rts[0]["schemaExtensions"] = []any{map[string]any{"schema": scim.SchemaEnterpriseUser, "required": "false"}}
		}, ".required: want a JSON boolean"},
		{"service provider config without etag", func(spc map[string]any, _, _ []map[string]any) {
			delete(spc, "etag")
		}, ".etag: required, missing"},
		{"maxResults not an integer", func(spc map[string]any, _, _ []map[string]any) {
			spc["filter"] = map[string]any{"supported": true, "maxResults": 1.5}
		}, ".maxResults: want a JSON integer"},
		{"authentication scheme without type", func(spc map[string]any, _, _ []map[string]any) {
			delete(spc["authenticationSchemes"].([]any)[0].(map[string]any), "type")
		}, ".type: required, missing"},
		{"wrong schemas URN", func(spc map[string]any, _, _ []map[string]any) {
			spc["schemas"] = []string{scim.SchemaSchema}
		}, ".schemas: want [" + scim.SchemaServiceConfig + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSchemas()
			// Work on decoded copies, as a client sees them.
			spc := roundTrip(t, ServiceProviderConfig(base)).(map[string]any)
			var rts, docs []map[string]any
			for _, rt := range s.ResourceTypes(base) {
				rts = append(rts, roundTrip(t, rt).(map[string]any))
			}
			for _, d := range s.SchemaDocs(base) {
				docs = append(docs, roundTrip(t, d).(map[string]any))
			}
			tt.mutate(spc, rts, docs)
			errs := discoveryErrors(t, spc, rts, docs)
			require.NotEmpty(t, errs)
			require.Contains(t, strings.Join(errs, "\n"), tt.want)
		})
	}
}

// rfcAttr is an attribute of testdata/rfc7643-resource-schemas.json.
type rfcAttr struct {
	Name            string     `json:"name"`
	Type            string     `json:"type"`
	MultiValued     bool       `json:"multiValued"`
	Required        bool       `json:"required"`
	CaseExact       bool       `json:"caseExact"`
	Mutability      string     `json:"mutability,omitempty"`
	Returned        string     `json:"returned,omitempty"`
	Uniqueness      string     `json:"uniqueness,omitempty"`
	CanonicalValues []string   `json:"canonicalValues,omitempty"`
	ReferenceTypes  []string   `json:"referenceTypes,omitempty"`
	Prose           string     `json:"prose,omitempty"`
	Sub             []*rfcAttr `json:"subAttributes,omitempty"`
}

// characteristics lists an attribute definition's characteristics with the
// defaults of RFC 7643 section 2.2 filled in, from a served definition (a
// decoded /Schemas attribute) or an RFC one.
func characteristics(d map[string]any) map[string]string {
	or := func(key, def string) string {
		if v, ok := d[key]; ok {
			return fmt.Sprint(v)
		}
		return def
	}
	list := func(key string) string {
		vs, _ := d[key].([]any)
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = fmt.Sprint(v)
		}
		return strings.Join(s, ",")
	}
	c := map[string]string{
		"type": or("type", ""), "multiValued": or("multiValued", "false"), "required": or("required", "false"),
		"mutability": or("mutability", "readWrite"), "returned": or("returned", "default"),
		"uniqueness": or("uniqueness", "none"), "canonicalValues": list("canonicalValues"),
		"referenceTypes": list("referenceTypes"),
	}
	if t := c["type"]; t == "string" || t == "reference" || t == "binary" {
		c["caseExact"] = or("caseExact", "false")
	}
	return c
}

// TestSchemas_MatchRFC7643Definitions compares every attribute served under
// a core or enterprise URN with RFC 7643's definition of it: the same
// characteristics, save the deviations listed here with their reason.
func TestSchemas_MatchRFC7643Definitions(t *testing.T) {
	deviations := map[string]string{
		"Group.displayName.required":             "Entra matches groups on displayName, so every group has one",
		"Group.displayName.uniqueness":           "displayName is Entra's matching attribute; a second group of that name is a 409",
		"Group.members.value.caseExact":          "members are referenced by id, and ids are case-exact (RFC 7643 section 3.1)",
		"EnterpriseUser.manager.value.caseExact": "the manager is referenced by id, and ids are case-exact",
		"EnterpriseUser.manager.$ref.mutability": "derived from value on output; a $ref a client sends is ignored",
	}
	b, err := os.ReadFile("testdata/rfc7643-resource-schemas.json")
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rfc struct {
		Comment string                `json:"comment"`
		Schemas map[string][]*rfcAttr `json:"schemas"`
	}
	require.NoError(t, dec.Decode(&rfc))
	used := map[string]bool{}
	var diffs []string
	var compare func(path string, served []any, defs []*rfcAttr)
	compare = func(path string, served []any, defs []*rfcAttr) {
		for _, raw := range served {
			s := raw.(map[string]any)
			name, _ := s["name"].(string)
			p := path + "." + name
			i := slices.IndexFunc(defs, func(d *rfcAttr) bool { return d.Name == name })
			if i < 0 {
				diffs = append(diffs, p+": not defined by RFC 7643 (a new attribute belongs in an extension schema)")
				continue
			}
			want := characteristics(roundTrip(t, defs[i]).(map[string]any))
			got := characteristics(s)
			for key, w := range want {
				if got[key] == w {
					continue
				}
				if _, ok := deviations[p+"."+key]; ok {
					used[p+"."+key] = true
					continue
				}
				diffs = append(diffs, fmt.Sprintf("%s.%s: served %q, RFC 7643 %q", p, key, got[key], w))
			}
			subs, _ := s["subAttributes"].([]any)
			compare(p, subs, defs[i].Sub)
		}
	}
	base := "https://scim.example.net/scim/t/v2"
	for _, doc := range NewSchemas().SchemaDocs(base) {
		d := roundTrip(t, doc).(map[string]any)
		defs, ok := rfc.Schemas[d["id"].(string)]
		require.True(t, ok, "no RFC definitions for %s", d["id"])
		attrs, _ := d["attributes"].([]any)
		compare(d["name"].(string), attrs, defs)
	}
	require.Empty(t, diffs, "served attribute definitions differ from RFC 7643:\n%s", strings.Join(diffs, "\n"))
	for key, why := range deviations {
		require.True(t, used[key], "deviation %s (%s) no longer occurs: remove it from the list", key, why)
	}
}
