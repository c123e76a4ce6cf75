package resource

import (
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Doc is a resource's stored attributes: canonical attribute names, values as
// received (strings byte for byte), each extension (the enterprise one and
// those the tenant declared) nested under its URN. It never holds id, meta,
// schemas or group members.
type Doc map[string]any

// Kind is a resource type (User or Group) with its schemas.
type Kind struct {
	Name     string // "User" or "Group"
	Endpoint string // "/Users" or "/Groups"
	Core     *Schema
	// Exts are the extension schemas: for User the enterprise one first,
	// then the tenant's declared ones.
	Exts []*Schema
}

// Kinds returns the User and Group kinds built from s.
func (s *Schemas) Kinds() (user, group *Kind) {
	return &Kind{Name: "User", Endpoint: "/Users", Core: s.User, Exts: append([]*Schema{s.Enterprise}, s.UserExts...)},
		&Kind{Name: "Group", Endpoint: "/Groups", Core: s.Group, Exts: s.GroupExts}
}

// lookup finds a top-level attribute by name in the core schema, then among
// the common attributes, then (bare names like "manager") in the built-in
// extension. Declared extensions' attributes are reached only through their
// URN: their names may repeat the enterprise extension's (costCenter).
func (k *Kind) lookup(name string) (schema *Schema, attr *Attr) {
	if a := k.Core.Find(name); a != nil {
		return k.Core, a
	}
	if strings.EqualFold(name, "externalId") {
		return k.Core, attrExternalID
	}
	if strings.EqualFold(name, "id") {
		return k.Core, attrID
	}
	for _, ext := range k.Exts {
		if ext.Declared {
			continue
		}
		if a := ext.Find(name); a != nil {
			return ext, a
		}
	}
	return nil, nil
}

// splitURN separates a schema URN prefix from an attribute path. It returns
// the schema the path belongs to and the rest ("" when the path is the URN of
// the extension itself). ok is false for URNs this kind does not serve.
func (k *Kind) splitURN(path string) (schema *Schema, rest string, ok bool) {
	if path == "" {
		return nil, "", false
	}
	if !hasPrefixFold(path, "urn:") {
		return nil, path, true
	}
	for _, s := range append(k.Exts[:len(k.Exts):len(k.Exts)], k.Core) {
		if len(path) == len(s.ID) && strings.EqualFold(path, s.ID) {
			return s, "", true
		}
		if len(path) > len(s.ID) && hasPrefixFold(path, s.ID) && path[len(s.ID)] == ':' {
			return s, path[len(s.ID)+1:], true
		}
	}
	return nil, "", false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// container returns the map holding attributes of schema s inside doc,
// creating the extension object when create is set.
func (k *Kind) container(doc Doc, s *Schema, create bool) map[string]any {
	if s == k.Core || s == nil {
		return doc
	}
	if m, ok := doc[s.ID].(map[string]any); ok {
		return m
	}
	if !create {
		return nil
	}
	m := map[string]any{}
	doc[s.ID] = m
	return m
}

// pruneExt drops extension objects that have become empty.
func (k *Kind) pruneExt(doc Doc) {
	for _, ext := range k.Exts {
		if m, ok := doc[ext.ID].(map[string]any); ok && len(m) == 0 {
			delete(doc, ext.ID)
		}
	}
}

// ext returns the extension schema whose URN is key, or nil.
func (k *Kind) ext(key string) *Schema {
	for _, ext := range k.Exts {
		if ext.ID == key {
			return ext
		}
	}
	return nil
}

// errInvalidValue is a 400 invalidValue.
func errInvalidValue(detail string) *scim.Error {
	return scim.NewError(400, scim.TypeInvalidValue, detail)
}
