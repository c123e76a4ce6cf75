package resource

import (
	"strconv"
	"strings"
	"time"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Meta is the server-maintained part of a resource.
type Meta struct {
	ID           string
	Created      time.Time
	LastModified time.Time
	Version      int64
}

// ETag is the weak entity tag of this version.
func (m Meta) ETag() string { return `W/"` + strconv.FormatInt(m.Version, 10) + `"` }

// Member is one group member as returned in a Group.
type Member struct {
	Value   string
	Display string
}

// Render builds the RFC 7643 representation of a stored resource. base is the
// tenant's SCIM base URL. members is nil when members are not returned.
func (k *Kind) Render(doc Doc, m Meta, base string, members []Member) map[string]any {
	out := make(map[string]any, len(doc)+4)
	schemas := []any{k.Core.ID}
	for key, v := range doc {
		if !hasPrefixFold(key, "urn:") {
			out[key] = v
			continue
		}
		// Values of a schema no longer declared are not returned.
		if ext := k.ext(key); ext != nil && ext.ID == scim.SchemaEnterpriseUser {
			out[key] = renderEnterprise(v.(map[string]any), base)
		} else if ext != nil {
			if m := declaredOnly(ext, v); len(m) > 0 {
				out[key] = m
			}
		}
	}
	for _, ext := range k.Exts {
		if _, ok := out[ext.ID]; ok {
			schemas = append(schemas, ext.ID)
		}
	}
	if k.Name == "User" {
		if _, ok := out["active"]; !ok {
			out["active"] = true
		}
	}
	if members != nil {
		list := make([]any, len(members))
		for i, mb := range members {
			item := map[string]any{"value": mb.Value, "$ref": base + "/Users/" + mb.Value, "type": "User"}
			if mb.Display != "" {
				item["display"] = mb.Display
			}
			list[i] = item
		}
		out["members"] = list
	}
	out["schemas"] = schemas
	out["id"] = m.ID
	out["meta"] = map[string]any{
		"resourceType": k.Name,
		"created":      stamp(m.Created),
		"lastModified": stamp(m.LastModified),
		"location":     base + k.Endpoint + "/" + m.ID,
		"version":      m.ETag(),
	}
	return out
}

// declaredOnly is the stored object of a declared extension with only the
// attributes still declared (a removal refuses while values exist, but a
// write racing it may have stored one).
func declaredOnly(ext *Schema, v any) map[string]any {
	m, _ := v.(map[string]any)
	for name := range m {
		if ext.Find(name) == nil {
			out := make(map[string]any, len(m))
			for n, x := range m {
				if ext.Find(n) != nil {
					out[n] = x
				}
			}
			return out
		}
	}
	return m
}

// renderEnterprise adds the manager's $ref to the stored enterprise
// extension object, without changing the stored one.
func renderEnterprise(ext map[string]any, base string) map[string]any {
	mgr, ok := ext["manager"].(map[string]any)
	if !ok {
		return ext
	}
	copyExt := make(map[string]any, len(ext))
	for ek, ev := range ext {
		copyExt[ek] = ev
	}
	id, _ := mgr["value"].(string)
	copyExt["manager"] = map[string]any{"value": id, "$ref": base + "/Users/" + id}
	return copyExt
}

// stamp spells a time as the store keeps it: PostgreSQL holds microseconds
// (pgx truncates), so a write response built from the clock's nanoseconds
// says the same as every later read.
func stamp(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// Projection is a request's attributes / excludedAttributes selection.
type Projection struct {
	Attributes []string
	Excluded   []string
}

// ParseProjection reads the comma-separated query parameters.
func ParseProjection(attributes, excluded string) Projection {
	return Projection{Attributes: splitList(attributes), Excluded: splitList(excluded)}
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Returns reports whether the top-level attribute name (e.g. "members") is
// returned under this projection, so callers can skip loading it.
func (p Projection) Returns(k *Kind, name string) bool {
	for _, x := range p.Excluded {
		// Excluding a sub-attribute (members.display) still returns the rest.
		if top, rest := k.topName(x); rest == "" && strings.EqualFold(top, name) {
			return false
		}
	}
	if len(p.Attributes) == 0 {
		return true
	}
	for _, a := range p.Attributes {
		if top, _ := k.topName(a); strings.EqualFold(top, name) {
			return true
		}
	}
	return false
}

// topName splits a projection path into its top-level key in the rendered
// resource (the extension URN for extension attributes) and the rest.
func (k *Kind) topName(path string) (top, rest string) {
	schema, r, ok := k.splitURN(path)
	if !ok {
		return path, ""
	}
	if schema != nil && schema != k.Core {
		return schema.ID, r
	}
	if s, a := k.lookup(firstSegment(r)); a != nil && s != k.Core {
		return s.ID, r
	}
	return firstSegment(r), afterFirstSegment(r)
}

func firstSegment(p string) string {
	if i := strings.IndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return p
}

func afterFirstSegment(p string) string {
	if i := strings.IndexByte(p, '.'); i >= 0 {
		return p[i+1:]
	}
	return ""
}

// Apply trims a rendered resource to the projection. id and schemas are
// always returned.
func (p Projection) Apply(k *Kind, out map[string]any) {
	if len(p.Attributes) > 0 {
		whole := map[string]bool{}
		subs := map[string]map[string]bool{}
		for _, a := range p.Attributes {
			top, rest := k.topName(a)
			key := matchKey(out, top)
			switch {
			case key == "":
			case rest == "":
				whole[key] = true
			default:
				if subs[key] == nil {
					subs[key] = map[string]bool{}
				}
				subs[key][strings.ToLower(firstSegment(rest))] = true
			}
		}
		for key, v := range out {
			if key == "id" || key == "schemas" || whole[key] {
				continue
			}
			if s, ok := subs[key]; ok {
				out[key] = keepSubs(v, s)
				continue
			}
			delete(out, key)
		}
	}
	for _, x := range p.Excluded {
		top, rest := k.topName(x)
		key := matchKey(out, top)
		if key == "" || key == "id" || key == "schemas" {
			continue
		}
		if rest == "" {
			delete(out, key)
			continue
		}
		dropSub(out[key], firstSegment(rest))
	}
}

func matchKey(out map[string]any, name string) string {
	if _, ok := out[name]; ok {
		return name
	}
	for key := range out {
		if strings.EqualFold(key, name) {
			return key
		}
	}
	return ""
}

func keepSubs(v any, subs map[string]bool) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(subs))
		for k, sv := range t {
			if subs[strings.ToLower(k)] {
				m[k] = sv
			}
		}
		return m
	case []any:
		list := make([]any, len(t))
		for i, item := range t {
			list[i] = keepSubs(item, subs)
		}
		return list
	}
	return v
}

func dropSub(v any, name string) {
	switch t := v.(type) {
	case map[string]any:
		for k := range t {
			if strings.EqualFold(k, name) {
				delete(t, k)
			}
		}
	case []any:
		for _, item := range t {
			dropSub(item, name)
		}
	}
}

// ListResponse builds the RFC 7644 list envelope.
func ListResponse(total, startIndex int, resources []map[string]any) map[string]any {
	if resources == nil {
		resources = []map[string]any{}
	}
	return map[string]any{
		"schemas":      []string{scim.SchemaListResponse},
		"totalResults": total,
		"startIndex":   startIndex,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
}
