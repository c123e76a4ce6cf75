package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimplane/scimplane/plugins/scim"
)

// MaxPatchOperations bounds one PATCH request.
const MaxPatchOperations = 1000

// MemberOpKind says what a MemberOp does to a group's members.
type MemberOpKind int

const (
	MembersAdd MemberOpKind = iota + 1
	MembersRemove
	MembersRemoveAll
	MembersReplace
)

// MemberOp is a change to a group's membership, applied by the store with
// targeted row changes, in request order.
type MemberOp struct {
	Kind MemberOpKind
	IDs  []string
}

// PatchResult is the outcome of applying a PATCH body to a resource.
type PatchResult struct {
	Doc     Doc
	Members []MemberOp
	// Changed is false when no attribute of Doc changed.
	Changed bool
	// Dropped lists attribute names that were ignored as unknown.
	Dropped []string
	// Summary describes the operations in words, for the SCIM log.
	Summary []string
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

type patchBody struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

// Patch applies an RFC 7644 PatchOp body to a copy of doc. Operations apply
// in order and all-or-nothing: on error doc is untouched. Both Entra dialects
// are accepted (capitalised ops, string booleans, path-less objects with
// dotted and URN keys, members removal by value array or filter path).
func (k *Kind) Patch(doc Doc, body []byte) (*PatchResult, error) {
	var req patchBody
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if len(req.Operations) == 0 {
		return nil, scim.NewError(400, scim.TypeInvalidSyntax, "PatchOp request has no Operations")
	}
	if len(req.Operations) > MaxPatchOperations {
		return nil, scim.NewError(400, scim.TypeInvalidSyntax, "PatchOp request has too many Operations")
	}
	before, _ := json.Marshal(doc)
	p := &patcher{k: k, doc: deepCopy(doc).(Doc), res: &PatchResult{}}
	for i, op := range req.Operations {
		if err := p.apply(op); err != nil {
			var se *scim.Error
			if errors.As(err, &se) && i > 0 {
				se.Detail = "operation " + itoa(i+1) + ": " + se.Detail
			}
			return nil, err
		}
	}
	k.pruneExt(p.doc)
	if err := k.checkLengths(p.doc); err != nil {
		return nil, err
	}
	after, _ := json.Marshal(p.doc)
	p.res.Doc = p.doc
	p.res.Changed = string(before) != string(after)
	return p.res, nil
}

type patcher struct {
	k   *Kind
	doc Doc
	res *PatchResult
}

// target is a resolved PATCH path.
type target struct {
	schema *Schema
	attr   *Attr // nil: the extension object itself
	filter Filter
	sub    *Attr
	path   string
}

func (p *patcher) apply(op patchOp) error {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	if kind != "add" && kind != "replace" && kind != "remove" {
		return scim.NewError(400, scim.TypeInvalidSyntax, "op must be add, replace or remove, not "+strconvQuote(op.Op))
	}
	var value any
	hasValue := len(op.Value) > 0
	if hasValue {
		if err := decodeJSON(op.Value, &value); err != nil {
			return err
		}
	}
	if !hasValue && kind != "remove" {
		// RFC 7644 section 3.5.2.1 and 3.5.2.3: add and replace carry a
		// value. Without this check the operation would clear the target.
		return errInvalidValue(kind + " needs a value (null or \"\" clears an attribute)")
	}
	path := strings.TrimSpace(op.Path)
	if path == "" {
		if kind == "remove" {
			return scim.NewError(400, scim.TypeNoTarget, "remove needs a path")
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return errInvalidValue(kind + " without a path needs an object value")
		}
		for key, v := range obj {
			if err := p.applyPathless(kind, key, v); err != nil {
				return err
			}
		}
		return nil
	}
	t, err := p.k.parsePatchPath(path)
	if err != nil {
		return err
	}
	if t == nil { // unknown attribute: accepted and ignored
		p.res.Dropped = append(p.res.Dropped, path)
		return nil
	}
	return p.applyTarget(kind, t, value, hasValue)
}

// applyPathless handles one key of a path-less add/replace value object: a
// plain or dotted attribute name, a URN-qualified name or an extension URN.
func (p *patcher) applyPathless(kind, key string, v any) error {
	switch {
	case strings.EqualFold(key, "schemas"), strings.EqualFold(firstSegment(key), "meta"):
		// A path-less value may carry what a GET returned: meta is
		// ignored, as in a POST or PUT body.
		return nil
	case strings.EqualFold(key, "id"):
		return scim.NewError(400, scim.TypeMutability, "id is read-only")
	}
	t, err := p.k.parsePatchPath(key)
	if err != nil {
		return err
	}
	if t == nil {
		p.res.Dropped = append(p.res.Dropped, key)
		return nil
	}
	return p.applyTarget(kind, t, v, true)
}

// parsePatchPath resolves a PATCH path; nil means an unknown attribute.
func (k *Kind) parsePatchPath(path string) (*target, error) {
	schema, rest, ok := k.splitURN(path)
	if !ok {
		return nil, nil
	}
	if rest == "" {
		if schema == k.Core {
			return nil, scim.NewError(400, scim.TypeInvalidPath, "path cannot be the core schema URN")
		}
		return &target{schema: schema, path: path}, nil
	}
	var ap scimfilter.AttributePath
	var valueFilter scimfilter.Expression
	var subName string
	if strings.ContainsRune(rest, '[') {
		parsed, err := scimfilter.ParsePathNumber([]byte(rest))
		if err != nil || parsed.ValueExpression == nil {
			return nil, scim.NewError(400, scim.TypeInvalidPath, "cannot parse path "+strconvQuote(path))
		}
		ap, valueFilter, subName = parsed.AttributePath, parsed.ValueExpression, parsed.SubAttributeName()
	} else {
		name, sub, _ := strings.Cut(rest, ".")
		ap.AttributeName, subName = name, sub
	}
	var attr *Attr
	if schema != nil && schema != k.Core {
		attr = schema.Find(ap.AttributeName)
	} else {
		if strings.EqualFold(ap.AttributeName, "meta") {
			// RFC 7643 section 3.1: meta and its sub-attributes are
			// readOnly; RFC 7644 section 3.5.2 refuses such an operation.
			return nil, scim.NewError(400, scim.TypeMutability, "meta is read-only: the service provider maintains it")
		}
		schema, attr = k.lookup(ap.AttributeName)
	}
	if attr == nil {
		return nil, nil
	}
	t := &target{schema: schema, attr: attr, path: path}
	if subName != "" {
		if t.sub = attr.FindSub(subName); t.sub == nil {
			if attr.Type != Complex {
				return nil, scim.NewError(400, scim.TypeInvalidPath, attr.Name+" has no sub-attributes")
			}
			return nil, nil
		}
	}
	if valueFilter != nil {
		if attr.Type != Complex {
			return nil, scim.NewError(400, scim.TypeInvalidPath, attr.Name+" cannot take a value filter")
		}
		ref := AttrRef{Schema: schema, Attr: attr}
		f, err := k.resolve(valueFilter, &ref, 0)
		if err != nil {
			detail := err.Error()
			var se *scim.Error
			if errors.As(err, &se) {
				detail = se.Detail
			}
			return nil, scim.NewError(400, scim.TypeInvalidPath, "bad filter in path "+strconvQuote(path)+": "+detail)
		}
		t.filter = f
	}
	return t, nil
}

func (p *patcher) applyTarget(kind string, t *target, value any, hasValue bool) error {
	if t.attr == nil { // the extension object
		return p.applyExt(kind, t, value)
	}
	if t.attr == attrID || t.attr.Mutability == "readOnly" {
		return scim.NewError(400, scim.TypeMutability, t.attr.Name+" is read-only")
	}
	if t.sub != nil && t.sub.Mutability == "readOnly" {
		// RFC 7644 section 3.5.2: operations must respect mutability. It
		// was silently ignored (manager.displayName is derived, never stored).
		return scim.NewError(400, scim.TypeMutability, t.attr.Name+"."+t.sub.Name+" is read-only")
	}
	if p.k.Name == "Group" && t.attr.Name == "members" {
		return p.applyMembers(kind, t, value, hasValue)
	}
	c := p.k.container(p.doc, t.schema, true)
	defer p.k.pruneExt(p.doc)
	if t.attr.Cleared != nil && t.sub == nil && t.filter == nil && (kind == "remove" || isEmpty(value)) {
		// active: removing it, or setting it to null or "", leaves the
		// attribute unassigned (RFC 7644 section 3.5.2.2, RFC 7643 section
		// 2.5), and what an unassigned active means is the service
		// provider's to define (RFC 7643 section 4.1.1). A user created
		// without active is active, but one whose client withdraws the
		// assertion is not: it fails closed, so a removal can never
		// re-enable a user that was deactivated.
		p.res.Summary = append(p.res.Summary, "cleared "+t.path+", stored as "+fmt.Sprint(t.attr.Cleared))
		c[t.attr.Name] = t.attr.Cleared
		return nil
	}
	if kind == "remove" {
		return p.remove(c, t, value, hasValue)
	}
	if isEmpty(value) {
		// Entra's validators clear attributes with "" and null.
		if t.attr.Required && t.sub == nil {
			return scim.NewError(400, scim.TypeInvalidValue, t.attr.Name+" is required and cannot be cleared")
		}
		p.res.Summary = append(p.res.Summary, "cleared "+t.path)
		return p.remove(c, t, nil, false)
	}
	p.res.Summary = append(p.res.Summary, kind+" "+t.path)
	switch {
	case t.attr.Multi:
		return p.setMulti(kind, c, t, value)
	case t.attr.Type == Complex:
		return p.setComplex(c, t, value)
	default:
		v, err := readScalar(t.attr, value)
		if err != nil {
			return err
		}
		c[t.attr.Name] = v
		return nil
	}
}

func (p *patcher) applyExt(kind string, t *target, value any) error {
	if kind == "remove" {
		delete(p.doc, t.schema.ID)
		p.res.Summary = append(p.res.Summary, "removed "+t.schema.ID)
		return nil
	}
	obj, ok := value.(map[string]any)
	if !ok {
		if isEmpty(value) {
			return nil
		}
		return errInvalidValue(t.schema.ID + " needs an object value")
	}
	for name, v := range obj {
		sub, err := p.k.parsePatchPath(t.schema.ID + ":" + name)
		if err != nil {
			return err
		}
		if sub == nil {
			p.res.Dropped = append(p.res.Dropped, t.schema.ID+":"+name)
			continue
		}
		if err := p.applyTarget(kind, sub, v, true); err != nil {
			return err
		}
	}
	return nil
}

// setComplex sets a single-valued complex attribute (name, manager) or one
// of its sub-attributes; an object value merges into what is there.
func (p *patcher) setComplex(c map[string]any, t *target, value any) error {
	cur, _ := c[t.attr.Name].(map[string]any)
	if t.filter != nil && cur != nil && !matches(t.filter, cur) {
		return nil
	}
	if t.sub != nil {
		v, err := readScalar(t.sub, value)
		if err != nil {
			return err
		}
		if cur == nil {
			cur = map[string]any{}
		}
		cur[t.sub.Name] = v
		if t.attr.Name == "manager" {
			cur = map[string]any{"value": cur["value"]}
		}
		c[t.attr.Name] = cur
		return nil
	}
	if obj, ok := value.(map[string]any); ok && t.attr.Name != "manager" {
		if cur == nil {
			cur = map[string]any{}
		}
		for name, sv := range obj {
			sub := t.attr.FindSub(name)
			if sub == nil {
				p.res.Dropped = append(p.res.Dropped, t.attr.Name+"."+name)
				continue
			}
			v, err := readScalar(sub, sv)
			if err != nil {
				return err
			}
			if isEmpty(v) {
				delete(cur, sub.Name)
			} else {
				cur[sub.Name] = v
			}
		}
		if len(cur) == 0 {
			delete(c, t.attr.Name)
		} else {
			c[t.attr.Name] = cur
		}
		return nil
	}
	var dropped []string
	v, err := readValue(t.attr, value, &dropped)
	if err != nil {
		return err
	}
	if v == nil {
		delete(c, t.attr.Name)
	} else {
		c[t.attr.Name] = v
	}
	return nil
}

// setMulti adds to or replaces a multi-valued attribute, or the elements a
// value filter selects. A filter that selects nothing creates the element
// from the filter's equality constraints (`emails[type eq "fax"].value`).
// The values written are then settled: duplicates collapse, and a value
// made primary takes primary from the others.
func (p *patcher) setMulti(kind string, c map[string]any, t *target, value any) error {
	list, _ := c[t.attr.Name].([]any)
	var touched []bool
	if t.filter == nil && t.sub == nil {
		v, err := readValue(t.attr, value, &p.res.Dropped)
		if err != nil || v == nil {
			return err
		}
		items := v.([]any)
		if kind == "replace" {
			list = nil
		}
		list = append(append([]any(nil), list...), items...)
		touched = make([]bool, len(list))
		for i := len(list) - len(items); i < len(list); i++ {
			touched[i] = true
		}
		return p.settleInto(c, t.attr, list, touched)
	}
	var patchValue map[string]any
	if t.sub != nil {
		v, err := readScalar(t.sub, value)
		if err != nil {
			return err
		}
		patchValue = map[string]any{t.sub.Name: v}
	} else {
		v, err := readSingle(t.attr, value, &p.res.Dropped)
		if err != nil {
			return err
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return errInvalidValue(t.attr.Name + " needs an object value")
		}
		patchValue = obj
	}
	touched = make([]bool, len(list))
	found := false
	for i, item := range list {
		elem, ok := item.(map[string]any)
		if !ok || (t.filter != nil && !matches(t.filter, elem)) {
			continue
		}
		found, touched[i] = true, true
		for name, v := range patchValue {
			elem[name] = v
		}
	}
	if !found {
		elem := map[string]any{}
		if t.filter != nil {
			var ok bool
			if elem, ok = equalities(t.filter); !ok {
				return scim.NewError(400, scim.TypeNoTarget, "no value of "+t.attr.Name+" matches "+strconvQuote(t.path))
			}
		}
		for name, v := range patchValue {
			elem[name] = v
		}
		list, touched = append(list, elem), append(touched, true)
	}
	return p.settleInto(c, t.attr, list, touched)
}

func (p *patcher) settleInto(c map[string]any, a *Attr, list []any, touched []bool) error {
	list, err := settle(a, list, touched)
	if err != nil {
		return err
	}
	c[a.Name] = list
	return nil
}

func (p *patcher) remove(c map[string]any, t *target, value any, hasValue bool) error {
	if t.attr.Required && t.sub == nil && t.filter == nil {
		return scim.NewError(400, scim.TypeMutability, t.attr.Name+" is required and cannot be removed")
	}
	p.res.Summary = append(p.res.Summary, "remove "+t.path)
	cur, present := c[t.attr.Name]
	if !present {
		return nil
	}
	if !t.attr.Multi {
		obj, _ := cur.(map[string]any)
		if t.filter != nil && (obj == nil || !matches(t.filter, obj)) {
			return nil
		}
		if t.sub != nil && obj != nil && t.attr.Name != "manager" {
			delete(obj, t.sub.Name)
			if len(obj) > 0 {
				return nil
			}
		}
		delete(c, t.attr.Name)
		return nil
	}
	list, _ := cur.([]any)
	var keep []any
	var drop []any
	if hasValue && t.filter == nil && t.sub == nil && !isEmpty(value) {
		v, err := readValue(t.attr, value, &p.res.Dropped)
		if err != nil {
			return err
		}
		drop, _ = v.([]any)
	}
	for _, item := range list {
		elem, _ := item.(map[string]any)
		switch {
		case t.filter != nil && !matches(t.filter, elem):
			keep = append(keep, item)
		case drop != nil && !containsValue(t.attr, drop, item):
			keep = append(keep, item)
		case t.sub != nil:
			delete(elem, t.sub.Name)
			if len(elem) > 0 {
				keep = append(keep, elem)
			}
		}
	}
	if len(keep) == 0 {
		delete(c, t.attr.Name)
	} else {
		c[t.attr.Name] = keep
	}
	return nil
}

// containsValue reports whether item is among items: complex values
// compare by value, simple ones (a declared multi-valued attribute's) as
// a's caseExact says.
func containsValue(a *Attr, items []any, item any) bool {
	elem, complexItem := item.(map[string]any)
	for _, it := range items {
		if !complexItem {
			if _, isMap := it.(map[string]any); !isMap && foldSub(a, it) == foldSub(a, item) {
				return true
			}
			continue
		}
		m, _ := it.(map[string]any)
		if m != nil && m["value"] != nil && m["value"] == elem["value"] {
			return true
		}
	}
	return false
}

// applyMembers turns operations on a group's members into MemberOps.
func (p *patcher) applyMembers(kind string, t *target, value any, hasValue bool) error {
	if t.sub != nil && kind != "remove" {
		return scim.NewError(400, scim.TypeMutability, "members sub-attributes are immutable; add or remove the member instead")
	}
	if t.filter != nil {
		if kind != "remove" {
			return scim.NewError(400, scim.TypeInvalidPath, "members can be added only without a filter")
		}
		ids, ok := memberFilterIDs(t.filter)
		if !ok {
			return scim.NewError(400, scim.TypeInvalidFilter, `members filters support only value eq "id" (joined by or)`)
		}
		p.addMemberOp(MembersRemove, ids)
		return nil
	}
	var ids []string
	if hasValue && !isEmpty(value) {
		var err error
		if ids, err = memberIDs(value); err != nil {
			return err
		}
	}
	switch {
	case kind == "add":
		p.addMemberOp(MembersAdd, ids)
	case kind == "replace":
		p.res.Members = append(p.res.Members, MemberOp{Kind: MembersReplace, IDs: ids})
		p.res.Summary = append(p.res.Summary, "replaced members with "+itoa(len(ids)))
	case len(ids) > 0: // Entra's legacy removal: only the listed members
		p.addMemberOp(MembersRemove, ids)
	default:
		p.res.Members = append(p.res.Members, MemberOp{Kind: MembersRemoveAll})
		p.res.Summary = append(p.res.Summary, "removed all members")
	}
	return nil
}

func (p *patcher) addMemberOp(kind MemberOpKind, ids []string) {
	if len(ids) == 0 {
		return
	}
	p.res.Members = append(p.res.Members, MemberOp{Kind: kind, IDs: ids})
	verb := "added "
	if kind == MembersRemove {
		verb = "removed "
	}
	p.res.Summary = append(p.res.Summary, verb+itoa(len(ids))+" member"+plural(len(ids)))
}

// memberIDs reads [{"value":"id"}, ...], a single object or bare ids.
func memberIDs(value any) ([]string, error) {
	items, ok := value.([]any)
	if !ok {
		items = []any{value}
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		switch v := it.(type) {
		case string:
			ids = append(ids, v)
		case map[string]any:
			var id any
			for key, x := range v {
				if strings.EqualFold(key, "value") {
					id = x
				}
			}
			s, ok := id.(string)
			if !ok || s == "" {
				return nil, errInvalidValue(`each member needs a "value" with the member's id`)
			}
			ids = append(ids, s)
		case nil:
		default:
			return nil, errInvalidValue(`members must be objects with a "value"`)
		}
	}
	return ids, nil
}

func memberFilterIDs(f Filter) ([]string, bool) {
	switch t := f.(type) {
	case Compare:
		s, ok := t.Value.(string)
		if t.Op != "eq" || t.Ref.Leaf().Name != "value" || !ok {
			return nil, false
		}
		return []string{s}, true
	case Or:
		l, ok1 := memberFilterIDs(t.Left)
		r, ok2 := memberFilterIDs(t.Right)
		return append(l, r...), ok1 && ok2
	}
	return nil, false
}

// matches evaluates a value filter against one element of a multi-valued
// attribute (or a single complex value).
func matches(f Filter, elem map[string]any) bool {
	switch t := f.(type) {
	case And:
		return matches(t.Left, elem) && matches(t.Right, elem)
	case Or:
		return matches(t.Left, elem) || matches(t.Right, elem)
	case Not:
		return !matches(t.X, elem)
	case Compare:
		return compareValue(t, elem[t.Ref.Leaf().Name])
	}
	return false
}

func compareValue(c Compare, v any) bool {
	if c.Op == "pr" {
		return !isEmpty(v)
	}
	if b, ok := c.Value.(bool); ok {
		have, _ := v.(bool)
		if c.Op == "ne" {
			return have != b
		}
		return have == b
	}
	want, _ := c.Value.(string)
	have, ok := v.(string)
	if !ok {
		return c.Op == "ne"
	}
	if !c.Ref.Leaf().CaseExact {
		want, have = strings.ToLower(want), strings.ToLower(have)
	}
	switch c.Op {
	case "eq":
		return have == want
	case "ne":
		return have != want
	case "co":
		return strings.Contains(have, want)
	case "sw":
		return strings.HasPrefix(have, want)
	case "ew":
		return strings.HasSuffix(have, want)
	case "gt":
		return have > want
	case "ge":
		return have >= want
	case "lt":
		return have < want
	case "le":
		return have <= want
	}
	return false
}

// equalities returns the attribute values a filter pins with eq (joined by
// and), to build a new element; ok is false for any other filter.
func equalities(f Filter) (map[string]any, bool) {
	switch t := f.(type) {
	case Compare:
		if t.Op != "eq" || t.Value == nil {
			return nil, false
		}
		return map[string]any{t.Ref.Leaf().Name: t.Value}, true
	case And:
		l, ok1 := equalities(t.Left)
		r, ok2 := equalities(t.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case Doc:
		m := make(Doc, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = deepCopy(x)
		}
		return l
	}
	return v
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
