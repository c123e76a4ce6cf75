package resource

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Limits on filters, so absurd input is a 400 and never a deep recursion.
const (
	MaxFilterLen   = 4096
	MaxFilterDepth = 32
)

// Filter is a parsed, schema-resolved SCIM filter: And, Or, Not, Compare or
// ValuePath. The store translates it to SQL.
type Filter interface{ filter() }

// And, Or and Not combine filters.
type (
	And struct{ Left, Right Filter }
	Or  struct{ Left, Right Filter }
	Not struct{ X Filter }
)

// Compare is `attr op value`. Inside a ValuePath, Attr is the element's
// sub-attribute and Top is nil.
type Compare struct {
	Ref   AttrRef
	Op    string // eq ne co sw ew gt ge lt le pr
	Value any    // string, bool, json.Number or nil
}

// ValuePath is `attr[filter]`: some element of the multi-valued Top matches.
type ValuePath struct {
	Top    AttrRef
	Filter Filter
}

// AttrRef names a resolved attribute: the schema it lives in, the top-level
// attribute and optionally one of its sub-attributes.
type AttrRef struct {
	Schema *Schema
	Attr   *Attr
	Sub    *Attr
}

// Leaf is the attribute the comparison actually reads.
func (r AttrRef) Leaf() *Attr {
	if r.Sub != nil {
		return r.Sub
	}
	return r.Attr
}

// Const is a filter whose outcome is known without reading a resource:
// a comparison of an attribute the resource type does not have, in a
// query over several resource types (RFC 7644 section 3.4.2.1 treats it as
// an attribute without a value: `ne "x"` and `eq null` hold, nothing else
// does).
type Const struct{ Value bool }

func (And) filter()       {}
func (Or) filter()        {}
func (Not) filter()       {}
func (Compare) filter()   {}
func (ValuePath) filter() {}
func (Const) filter()     {}

func errFilter(format string, args ...any) *scim.Error {
	return scim.NewError(400, scim.TypeInvalidFilter, fmt.Sprintf(format, args...))
}

// ParseFilter parses and resolves a filter for this kind. Everything RFC 7644
// allows is accepted, plus Entra's forms: `emails[type eq "work"].value eq
// "x"`, unquoted values and any keyword case.
func (k *Kind) ParseFilter(text string) (Filter, error) {
	expr, err := parseExpression(text)
	if expr == nil || err != nil {
		return nil, err
	}
	return k.resolve(expr, nil, 0)
}

// ParseRootFilter parses a filter of a query over all the given kinds (the
// server root) and resolves it for each. An attribute one kind lacks has no
// value in that kind's resources (RFC 7644 section 3.4.2.1); an attribute
// no kind has is 400 invalidFilter.
func ParseRootFilter(text string, kinds ...*Kind) ([]Filter, error) {
	expr, err := parseExpression(text)
	if expr == nil || err != nil {
		return make([]Filter, len(kinds)), err
	}
	out := make([]Filter, len(kinds))
	// unknown counts, per attribute path, the kinds that lack it.
	unknown := map[string]int{}
	for i, k := range kinds {
		r := &lenient{Kind: k, unknown: map[string]bool{}}
		if out[i], err = r.resolve(expr, nil, 0); err != nil {
			return nil, err
		}
		for path := range r.unknown {
			unknown[path]++
		}
	}
	for path, n := range unknown {
		if n == len(kinds) {
			return nil, errFilter("unknown attribute %s", path)
		}
	}
	return out, nil
}

// parseExpression parses filter text; empty text is no filter (nil).
func parseExpression(text string) (scimfilter.Expression, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	if len(text) > MaxFilterLen {
		return nil, errFilter("filter is longer than %d bytes", MaxFilterLen)
	}
	toks, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	if expr, ok := parseEqualities(toks); ok {
		return expr, nil
	}
	normalized, err := normalizeFilter(toks)
	if err != nil {
		return nil, err
	}
	expr, err := scimfilter.ParseFilterNumber([]byte(normalized))
	if err != nil {
		return nil, errFilter("cannot parse filter %q", text)
	}
	return expr, nil
}

// lenient resolves a filter for one kind of a root query: an attribute the
// kind does not have becomes a Const and is recorded in unknown.
type lenient struct {
	*Kind
	unknown map[string]bool
}

func (k *Kind) resolve(e scimfilter.Expression, within *AttrRef, depth int) (Filter, error) {
	return (&lenient{Kind: k}).resolve(e, within, depth)
}

// absent resolves a comparison of an attribute the kind lacks, or reports
// the attribute unknown when resolving strictly.
func (r *lenient) absent(p scimfilter.AttributePath, op scimfilter.CompareOperator, value any, err error) (Filter, error) {
	if r.unknown == nil {
		return nil, err
	}
	r.unknown[strings.ToLower(p.String())] = true
	switch strings.ToLower(string(op)) {
	case "ne":
		return Const{value != nil}, nil
	case "eq":
		return Const{value == nil}, nil
	}
	return Const{false}, nil
}

// parseEqualities is a fast path for the filters Entra sends on every
// lookup: `attr eq value` and `emails[type eq "work"].value eq value`, joined
// by `and`. Anything else goes to the full RFC 7644 parser.
func parseEqualities(toks []string) (scimfilter.Expression, bool) {
	expr, rest, ok := parseConjunction(toks, true)
	return expr, ok && len(rest) == 0
}

func parseConjunction(toks []string, allowValuePath bool) (scimfilter.Expression, []string, bool) {
	var expr scimfilter.Expression
	for {
		var item scimfilter.Expression
		var ok bool
		if allowValuePath && len(toks) > 1 && toks[1] == "[" {
			item, toks, ok = parseValuePathEq(toks)
		} else {
			item, toks, ok = parseEq(toks)
		}
		if !ok {
			return nil, nil, false
		}
		if expr == nil {
			expr = item
		} else {
			expr = &scimfilter.LogicalExpression{Left: expr, Right: item, Operator: scimfilter.AND}
		}
		if len(toks) == 0 || !strings.EqualFold(toks[0], "and") {
			return expr, toks, true
		}
		toks = toks[1:]
	}
}

// parseEq reads `path eq value`.
func parseEq(toks []string) (*scimfilter.AttributeExpression, []string, bool) {
	if len(toks) < 3 || !strings.EqualFold(toks[1], "eq") || strings.ContainsAny(toks[0], `[]()"`) || strings.ContainsAny(toks[2], "()[]") {
		return nil, nil, false
	}
	var value any
	if err := json.Unmarshal([]byte(quoteBare(toks[2])), &value); err != nil {
		return nil, nil, false
	}
	if f, ok := value.(float64); ok {
		value = json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return &scimfilter.AttributeExpression{AttributePath: attrPath(toks[0]), Operator: scimfilter.EQ, CompareValue: value}, toks[3:], true
}

// parseValuePathEq reads `name[conjunction]` with an optional `.sub eq value`.
func parseValuePathEq(toks []string) (scimfilter.Expression, []string, bool) {
	inner, rest, ok := parseConjunction(toks[2:], false)
	if !ok || len(rest) == 0 || rest[0] != "]" {
		return nil, nil, false
	}
	rest = rest[1:]
	if len(rest) > 0 && strings.HasPrefix(rest[0], ".") {
		sub, after, ok := parseEq(append([]string{rest[0][1:]}, rest[1:]...))
		if !ok {
			return nil, nil, false
		}
		inner, rest = &scimfilter.LogicalExpression{Left: inner, Right: sub, Operator: scimfilter.AND}, after
	}
	return &scimfilter.ValuePath{AttributePath: attrPath(toks[0]), ValueFilter: inner}, rest, true
}

// attrPath splits `[urn:...:]name[.sub]`; the URN itself contains dots, so
// it is cut at its last colon first.
func attrPath(s string) scimfilter.AttributePath {
	var p scimfilter.AttributePath
	if hasPrefixFold(s, "urn:") {
		if i := strings.LastIndexByte(s, ':'); i > 0 {
			uri := s[:i]
			p.URIPrefix, s = &uri, s[i+1:]
		}
	}
	name, sub, found := strings.Cut(s, ".")
	p.AttributeName = name
	if found {
		p.SubAttribute = &sub
	}
	return p
}

func (r *lenient) resolve(e scimfilter.Expression, within *AttrRef, depth int) (Filter, error) {
	k := r.Kind
	if depth > MaxFilterDepth {
		return nil, errFilter("filter is nested more than %d levels deep", MaxFilterDepth)
	}
	switch t := e.(type) {
	case *scimfilter.LogicalExpression:
		left, err := r.resolve(t.Left, within, depth+1)
		if err != nil {
			return nil, err
		}
		right, err := r.resolve(t.Right, within, depth+1)
		if err != nil {
			return nil, err
		}
		if t.Operator == scimfilter.OR {
			return Or{left, right}, nil
		}
		return And{left, right}, nil
	case *scimfilter.NotExpression:
		x, err := r.resolve(t.Expression, within, depth+1)
		if err != nil {
			return nil, err
		}
		return Not{x}, nil
	case *scimfilter.ValuePath:
		if within != nil {
			return nil, errFilter("value filters cannot be nested")
		}
		top, err := k.resolvePath(t.AttributePath)
		if err != nil {
			return r.absent(t.AttributePath, scimfilter.PR, nil, err)
		}
		if top.Sub != nil || !top.Attr.Multi && top.Attr.Type != Complex {
			return nil, errFilter("%s is not a multi-valued attribute", t.AttributePath.String())
		}
		inner, err := r.resolve(t.ValueFilter, &top, depth+1)
		if err != nil {
			return nil, err
		}
		return ValuePath{Top: top, Filter: inner}, nil
	case *scimfilter.AttributeExpression:
		var ref AttrRef
		if within != nil {
			sub := within.Attr.FindSub(t.AttributePath.AttributeName)
			if sub == nil || t.AttributePath.SubAttribute != nil || t.AttributePath.URIPrefix != nil {
				return nil, errFilter("%s has no sub-attribute %s", within.Attr.Name, t.AttributePath.String())
			}
			ref = AttrRef{Schema: within.Schema, Attr: within.Attr, Sub: sub}
		} else {
			var err error
			if ref, err = k.resolvePath(t.AttributePath); err != nil {
				return r.absent(t.AttributePath, t.Operator, t.CompareValue, err)
			}
			if ref.Sub == nil && ref.Attr.Type == Complex {
				// `emails co "x"`, `manager eq "id"`: compare the value sub-attribute.
				if v := ref.Attr.FindSub("value"); v != nil {
					ref.Sub = v
				} else if t.Operator != scimfilter.PR {
					return nil, errFilter("%s is complex; name one of its sub-attributes", ref.Attr.Name)
				}
			}
		}
		return k.compare(ref, t)
	}
	return nil, errFilter("unsupported filter expression")
}

func (k *Kind) compare(ref AttrRef, t *scimfilter.AttributeExpression) (Filter, error) {
	op := strings.ToLower(string(t.Operator))
	c := Compare{Ref: ref, Op: op, Value: t.CompareValue}
	if op == "pr" {
		c.Value = nil
		return c, nil
	}
	leaf := ref.Leaf()
	switch v := t.CompareValue.(type) {
	case nil:
		if op != "eq" && op != "ne" {
			return nil, errFilter("%s needs a value", op)
		}
	case bool:
		if leaf.Type != Boolean {
			return nil, errFilter("%s is not a boolean", leaf.Name)
		}
		if op != "eq" && op != "ne" {
			return nil, errFilter("booleans support only eq and ne")
		}
	case string:
		if leaf.Type == Boolean {
			b, err := parseBool(leaf.Name, v) // "True" from Entra
			if err != nil {
				return nil, errFilter("%s compares with true or false", leaf.Name)
			}
			if op != "eq" && op != "ne" {
				return nil, errFilter("booleans support only eq and ne")
			}
			c.Value = b
		}
	case json.Number:
		if leaf.Type == Boolean {
			return nil, errFilter("%s is not a number", leaf.Name)
		}
		c.Value = v.String()
	default:
		return nil, errFilter("unsupported comparison value for %s", leaf.Name)
	}
	switch leaf.Type {
	case Integer, Decimal, DateTime:
		// Ordered types of declared extension attributes.
		if op == "co" || op == "sw" || op == "ew" {
			return nil, errFilter("%s is a %s: it supports eq, ne, gt, ge, lt, le and pr", leaf.Name, leaf.Type)
		}
		if s, ok := c.Value.(string); ok && leaf.Type != DateTime {
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return nil, errFilter("%s compares with a number", leaf.Name)
			}
		}
	}
	return c, nil
}

func (k *Kind) resolvePath(p scimfilter.AttributePath) (AttrRef, error) {
	name := p.AttributeName
	if p.URIPrefix != nil {
		name = *p.URIPrefix + ":" + name
	}
	schema, rest, ok := k.splitURN(name)
	if !ok || rest == "" {
		return AttrRef{}, errFilter("unknown attribute %s", p.String())
	}
	var attr *Attr
	if schema != nil {
		attr = schema.Find(rest)
		if attr == nil && schema == k.Core {
			schema, attr = k.lookup(rest)
		}
	} else {
		schema, attr = k.lookup(rest)
	}
	if attr == nil {
		if strings.EqualFold(rest, "meta") && p.SubAttribute != nil {
			return k.metaRef(p.SubAttributeName())
		}
		return AttrRef{}, errFilter("unknown attribute %s", p.String())
	}
	ref := AttrRef{Schema: schema, Attr: attr}
	if p.SubAttribute != nil {
		if ref.Sub = attr.FindSub(*p.SubAttribute); ref.Sub == nil {
			return AttrRef{}, errFilter("unknown attribute %s", p.String())
		}
	}
	return ref, nil
}

// MetaAttr is the pseudo-schema of filterable meta sub-attributes.
var MetaAttr = &Attr{Name: "meta", Type: Complex, Mutability: "readOnly", Sub: []*Attr{
	{Name: "created", Type: DateTime, Mutability: "readOnly"},
	{Name: "lastModified", Type: DateTime, Mutability: "readOnly"},
	{Name: "resourceType", Type: String, CaseExact: true, Mutability: "readOnly"},
	{Name: "version", Type: String, CaseExact: true, Mutability: "readOnly"},
}}

func (k *Kind) metaRef(sub string) (AttrRef, error) {
	s := MetaAttr.FindSub(sub)
	if s == nil || s.Name == "version" {
		return AttrRef{}, errFilter("meta.%s is not filterable", sub)
	}
	return AttrRef{Schema: k.Core, Attr: MetaAttr, Sub: s}, nil
}

// normalizeFilter rewrites Entra's forms into RFC 7644 syntax: a value path
// followed by a sub-attribute comparison (`emails[type eq "work"].value eq
// "x"` becomes `emails[type eq "work" and value eq "x"]`) and bare words
// after an operator become quoted strings.
func normalizeFilter(toks []string) (string, error) {
	var out []string
	var open []int // positions in out of unmatched "["
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t {
		case "(", "[":
			depth++
			if depth > MaxFilterDepth {
				return "", errFilter("filter is nested more than %d levels deep", MaxFilterDepth)
			}
		case ")":
			depth--
		}
		switch {
		case t == "[":
			open = append(open, len(out))
			out = append(out, t)
		case t == "]" && i+1 < len(toks) && strings.HasPrefix(toks[i+1], ".") && len(toks[i+1]) > 1 && i+2 < len(toks) && isCompareOp(toks[i+2]):
			depth--
			if len(open) == 0 {
				return "", errFilter("unbalanced ] in filter")
			}
			start := open[len(open)-1]
			open = open[:len(open)-1]
			inner := append([]string(nil), out[start+1:]...)
			if containsFold(inner, "or") {
				inner = append(append([]string{"("}, inner...), ")")
			}
			inner = append(inner, "and", toks[i+1][1:], toks[i+2])
			i += 2
			if !strings.EqualFold(toks[i], "pr") {
				if i+1 >= len(toks) {
					return "", errFilter("missing comparison value")
				}
				i++
				inner = append(inner, quoteBare(toks[i]))
			}
			out = append(append(out[:start+1], inner...), "]")
		case t == "]":
			depth--
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
			out = append(out, t)
		case len(out) > 0 && isCompareOp(out[len(out)-1]) && !strings.EqualFold(out[len(out)-1], "pr"):
			out = append(out, quoteBare(t))
		default:
			out = append(out, t)
		}
	}
	var b strings.Builder
	for i, t := range out {
		if i > 0 {
			prev := out[i-1]
			if t != "[" && t != "]" && t != ")" && prev != "[" && prev != "(" {
				b.WriteByte(' ')
			}
		}
		b.WriteString(t)
	}
	return b.String(), nil
}

func containsFold(toks []string, word string) bool {
	for _, t := range toks {
		if strings.EqualFold(t, word) {
			return true
		}
	}
	return false
}

func isCompareOp(t string) bool {
	switch strings.ToLower(t) {
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr":
		return true
	}
	return false
}

// quoteBare quotes a bare comparison value that is not a JSON literal.
func quoteBare(t string) string {
	if strings.HasPrefix(t, `"`) {
		return t
	}
	switch t {
	case "true", "false", "null":
		return t
	}
	if lower := strings.ToLower(t); lower == "true" || lower == "false" {
		return lower
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return t
	}
	b, _ := json.Marshal(t)
	return string(b)
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			toks = append(toks, s[i:i+1])
			i++
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, errFilter("unterminated string in filter")
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()[]\"", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}
