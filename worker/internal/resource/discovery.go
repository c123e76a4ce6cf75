package resource

import (
	"github.com/scimplane/scimplane/plugins/scim"
)

// MaxResults is the largest page a list request returns.
const MaxResults = 1000

// ServiceProviderConfig is the /ServiceProviderConfig document.
func ServiceProviderConfig(base string) map[string]any {
	return map[string]any{
		"schemas":          []string{scim.SchemaServiceConfig},
		"documentationUri": base,
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword":   map[string]any{"supported": false},
		// sortBy works on every attribute filters reach (see Kind.ParseSort);
		// ETags are meta.version, checked by If-Match and If-None-Match.
		"sort": map[string]any{"supported": true},
		"etag": map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "Authentication with the tenant's secret token as a bearer token.",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}

// ResourceTypes returns the User and Group resource type documents. The
// tenant's declared extensions are optional extensions of theirs.
func (s *Schemas) ResourceTypes(base string) []map[string]any {
	group := map[string]any{
		"schemas": []string{scim.SchemaResourceType}, "id": "Group", "name": "Group",
		"endpoint": "/Groups", "description": "Group", "schema": scim.SchemaGroup,
		"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/Group"},
	}
	if len(s.GroupExts) > 0 {
		group["schemaExtensions"] = extensionRefs(s.GroupExts)
	}
	return []map[string]any{
		{
			"schemas": []string{scim.SchemaResourceType}, "id": "User", "name": "User",
			"endpoint": "/Users", "description": "User Account", "schema": scim.SchemaUser,
			"schemaExtensions": extensionRefs(append([]*Schema{s.Enterprise}, s.UserExts...)),
			"meta":             map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"},
		},
		group,
	}
}

func extensionRefs(exts []*Schema) []any {
	out := make([]any, len(exts))
	for i, ext := range exts {
		out[i] = map[string]any{"schema": ext.ID, "required": false}
	}
	return out
}

// SchemaDocs returns the /Schemas documents: core User, enterprise User,
// core Group, then the tenant's declared extensions, with the common
// externalId declared on User and Group.
func (s *Schemas) SchemaDocs(base string) []map[string]any {
	out := []map[string]any{
		schemaDoc(s.User, base, true),
		schemaDoc(s.Enterprise, base, false),
		schemaDoc(s.Group, base, true),
	}
	for _, ext := range append(s.UserExts[:len(s.UserExts):len(s.UserExts)], s.GroupExts...) {
		out = append(out, schemaDoc(ext, base, false))
	}
	return out
}

func schemaDoc(s *Schema, base string, withExternalID bool) map[string]any {
	attrs := make([]any, 0, len(s.Attrs)+1)
	for _, a := range s.Attrs {
		attrs = append(attrs, attrDoc(a))
	}
	if withExternalID {
		attrs = append(attrs, attrDoc(attrExternalID))
	}
	return map[string]any{
		"schemas":     []string{scim.SchemaSchema},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Description,
		"attributes":  attrs,
		"meta":        map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + s.ID},
	}
}

func attrDoc(a *Attr) map[string]any {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	d := map[string]any{
		"name":        a.Name,
		"type":        string(a.Type),
		"multiValued": a.Multi,
		"description": a.Description,
		"required":    a.Required,
		"mutability":  or(a.Mutability, "readWrite"),
		"returned":    or(a.Returned, "default"),
	}
	if a.Type != Complex && a.Type != Boolean {
		d["caseExact"] = a.CaseExact
		d["uniqueness"] = or(a.Uniqueness, "none")
	}
	if len(a.CanonicalValues) > 0 {
		d["canonicalValues"] = a.CanonicalValues
	}
	if len(a.ReferenceTypes) > 0 {
		d["referenceTypes"] = a.ReferenceTypes
	}
	if len(a.Sub) > 0 {
		subs := make([]any, len(a.Sub))
		for i, sa := range a.Sub {
			subs[i] = attrDoc(sa)
		}
		d["subAttributes"] = subs
	}
	return d
}
