package store

import (
	"strconv"
	"strings"
	"time"

	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

// sqlBuilder translates a resolved SCIM filter into a WHERE clause over the
// users or groups table. Values always travel as parameters. Indexed
// columns serve the attributes Entra filters on; other attributes read the
// jsonb document.
type sqlBuilder struct {
	table string
	args  []any
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *sqlBuilder) where(f resource.Filter) (string, error) {
	switch t := f.(type) {
	case resource.And:
		return b.binary(t.Left, t.Right, " AND ")
	case resource.Or:
		return b.binary(t.Left, t.Right, " OR ")
	case resource.Not:
		x, err := b.where(t.X)
		if err != nil {
			return "", err
		}
		return "NOT coalesce((" + x + "), false)", nil
	case resource.Compare:
		return b.compareTop(t)
	case resource.ValuePath:
		return b.valuePath(t)
	case resource.Const:
		return strconv.FormatBool(t.Value), nil
	}
	return "", scim.NewError(400, scim.TypeInvalidFilter, "unsupported filter")
}

func (b *sqlBuilder) binary(l, r resource.Filter, op string) (string, error) {
	ls, err := b.where(l)
	if err != nil {
		return "", err
	}
	rs, err := b.where(r)
	if err != nil {
		return "", err
	}
	return "(" + ls + op + rs + ")", nil
}

// column maps attributes with their own column to it.
func (b *sqlBuilder) column(ref resource.AttrRef) (string, bool) {
	name := ref.Attr.Name
	if ref.Attr == resource.MetaAttr {
		switch ref.Sub.Name {
		case "created":
			return "created", true
		case "resourceType":
			// Every row of the table has the same; a constant of ours.
			if b.table == "groups" {
				return "'Group'::text", true
			}
			return "'User'::text", true
		}
		return "last_modified", true
	}
	if ref.Sub != nil && !(name == "manager" && ref.Sub.Name == "value") {
		return "", false
	}
	switch b.table + "." + name {
	case "users.id", "groups.id":
		return "id", true
	case "users.userName":
		return "user_name", true
	case "users.externalId", "groups.externalId":
		return "external_id", true
	case "users.displayName", "groups.displayName":
		return "display_name", true
	case "users.active":
		return "active", true
	case "users.manager":
		return "manager_id", true
	}
	return "", false
}

// jsonPath is the jsonb expression of a top-level attribute in doc; an
// extension's attributes are in the object under its URN. Names and URNs
// are the schema's own (declared ones are checked by resource.Declare),
// quoted all the same.
func jsonPath(ref resource.AttrRef) string {
	base := "doc"
	if ref.Schema != nil && strings.HasPrefix(ref.Schema.ID, resource.ExtensionPrefix) {
		base = "(doc->" + literal(ref.Schema.ID) + ")"
	}
	return base + "->" + literal(ref.Attr.Name)
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// textOf is the text of a jsonb expression: ->> for a member, #>> for a
// value as is (an element of a simple multi-valued attribute).
func textOf(expr string) string {
	if i := strings.LastIndex(expr, "->'"); i >= 0 {
		return "(" + expr[:i] + "->>" + expr[i+2:] + ")"
	}
	return "(" + expr + " #>> '{}')"
}

// ordered is the SQL value of a jsonb expression holding a declared
// extension attribute's number or dateTime, NULL when it holds anything
// else: writes store only values of the declared type, and the guard keeps
// a query from failing on anything else.
func ordered(expr string, t resource.Type) string {
	if t == resource.DateTime {
		return "(CASE WHEN jsonb_typeof(" + expr + ") = 'string' THEN " + textOf(expr) + "::timestamptz END)"
	}
	return "(CASE WHEN jsonb_typeof(" + expr + ") = 'number' THEN (" + expr + ")::numeric END)"
}

// orderedCmp compares a declared integer, decimal or dateTime attribute.
func (b *sqlBuilder) orderedCmp(expr string, c resource.Compare) (string, error) {
	leaf := c.Ref.Leaf()
	switch {
	case c.Op == "pr":
		return "(" + expr + ") IS NOT NULL", nil
	case c.Value == nil:
		if c.Op == "ne" {
			return "(" + expr + ") IS NOT NULL", nil
		}
		return "(" + expr + ") IS NULL", nil
	}
	s, _ := c.Value.(string)
	var rhs string
	if leaf.Type == resource.DateTime {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", scim.NewError(400, scim.TypeInvalidFilter, leaf.Name+" compares with an RFC 3339 date-time")
		}
		rhs = b.arg(at)
	} else {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "", scim.NewError(400, scim.TypeInvalidFilter, leaf.Name+" compares with a number")
		}
		rhs = b.arg(s) + "::numeric"
	}
	op, ok := sqlOps[c.Op]
	if !ok {
		return "", scim.NewError(400, scim.TypeInvalidFilter, leaf.Name+" supports eq, ne, gt, ge, lt, le and pr")
	}
	val := ordered(expr, leaf.Type)
	if c.Op == "ne" {
		return "(" + val + " IS NULL OR " + val + " <> " + rhs + ")", nil
	}
	return val + " " + op + " " + rhs, nil
}

func isOrdered(t resource.Type) bool {
	return t == resource.Integer || t == resource.Decimal || t == resource.DateTime
}

func (b *sqlBuilder) compareTop(c resource.Compare) (string, error) {
	if col, ok := b.column(c.Ref); ok {
		return b.cmp(col, c, c.Ref.Leaf().CaseExact)
	}
	if b.table == "groups" && c.Ref.Attr.Name == "members" {
		inner, err := b.cmp("m.user_id", c, true)
		if err != nil {
			return "", err
		}
		return "EXISTS (SELECT 1 FROM members m WHERE m.group_id = groups.id AND " + inner + ")", nil
	}
	if c.Ref.Attr.Multi && c.Ref.Attr.Type != resource.Complex {
		// A declared multi-valued simple attribute: some element matches.
		arr := jsonPath(c.Ref)
		if c.Op == "pr" {
			return "jsonb_array_length(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " + arr + " ELSE '[]' END) > 0", nil
		}
		inner, err := b.jsonCmp("e", c)
		if err != nil {
			return "", err
		}
		return "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " + arr + " END) e WHERE " + inner + ")", nil
	}
	if c.Ref.Attr.Multi {
		// Some element's sub-attribute (default value) matches.
		if c.Op == "pr" && c.Ref.Sub == nil {
			return "jsonb_array_length(coalesce(" + jsonPath(c.Ref) + ", '[]')) > 0", nil
		}
		sub := c.Ref.Leaf()
		prefix := ""
		if b.table == "users" && c.Ref.Attr.Name == "emails" && sub.Name == "value" && c.Op == "eq" {
			if s, ok := c.Value.(string); ok {
				prefix = "emails_lc @> ARRAY[lower(" + b.arg(s) + ")] AND "
			}
		}
		inner, err := b.elemCmp("e", c)
		if err != nil {
			return "", err
		}
		return "(" + prefix + "EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(" + jsonPath(c.Ref) + ", '[]')) e WHERE " + inner + "))", nil
	}
	expr := jsonPath(c.Ref)
	if c.Ref.Sub != nil {
		expr += "->'" + c.Ref.Sub.Name + "'"
	}
	return b.jsonCmp(expr, c)
}

func (b *sqlBuilder) valuePath(v resource.ValuePath) (string, error) {
	if b.table == "groups" && v.Top.Attr.Name == "members" {
		inner, err := b.memberWhere(v.Filter)
		if err != nil {
			return "", err
		}
		return "EXISTS (SELECT 1 FROM members m WHERE m.group_id = groups.id AND " + inner + ")", nil
	}
	inner, err := b.elemWhere(v.Filter)
	if err != nil {
		return "", err
	}
	prefix := ""
	if b.table == "users" && v.Top.Attr.Name == "emails" {
		if s, ok := eqValue(v.Filter); ok {
			prefix = "emails_lc @> ARRAY[lower(" + b.arg(s) + ")] AND "
		}
	}
	if !v.Top.Attr.Multi { // manager[value eq "x"]
		return b.elemWhereOn(v.Filter, jsonPath(v.Top))
	}
	return "(" + prefix + "EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(" + jsonPath(v.Top) + ", '[]')) e WHERE " + inner + "))", nil
}

// eqValue finds a `value eq "x"` conjunct, used to reach the emails index.
func eqValue(f resource.Filter) (string, bool) {
	switch t := f.(type) {
	case resource.Compare:
		s, ok := t.Value.(string)
		return s, ok && t.Op == "eq" && t.Ref.Leaf().Name == "value"
	case resource.And:
		if s, ok := eqValue(t.Left); ok {
			return s, true
		}
		return eqValue(t.Right)
	}
	return "", false
}

// elemWhere translates a value filter over one array element e.
func (b *sqlBuilder) elemWhere(f resource.Filter) (string, error) {
	return b.elemWhereOn(f, "e")
}

func (b *sqlBuilder) elemWhereOn(f resource.Filter, elem string) (string, error) {
	switch t := f.(type) {
	case resource.And, resource.Or:
		var l, r resource.Filter
		op := " AND "
		if a, ok := t.(resource.And); ok {
			l, r = a.Left, a.Right
		} else {
			o := t.(resource.Or)
			l, r, op = o.Left, o.Right, " OR "
		}
		ls, err := b.elemWhereOn(l, elem)
		if err != nil {
			return "", err
		}
		rs, err := b.elemWhereOn(r, elem)
		if err != nil {
			return "", err
		}
		return "(" + ls + op + rs + ")", nil
	case resource.Not:
		x, err := b.elemWhereOn(t.X, elem)
		if err != nil {
			return "", err
		}
		return "NOT coalesce((" + x + "), false)", nil
	case resource.Compare:
		return b.elemCmp(elem, t)
	}
	return "", scim.NewError(400, scim.TypeInvalidFilter, "unsupported value filter")
}

func (b *sqlBuilder) memberWhere(f resource.Filter) (string, error) {
	switch t := f.(type) {
	case resource.And:
		return b.binaryWith(t.Left, t.Right, " AND ", b.memberWhere)
	case resource.Or:
		return b.binaryWith(t.Left, t.Right, " OR ", b.memberWhere)
	case resource.Not:
		x, err := b.memberWhere(t.X)
		if err != nil {
			return "", err
		}
		return "NOT coalesce((" + x + "), false)", nil
	case resource.Compare:
		if t.Ref.Leaf().Name != "value" {
			return "", scim.NewError(400, scim.TypeInvalidFilter, "members can be filtered by value only")
		}
		return b.cmp("m.user_id", t, true)
	}
	return "", scim.NewError(400, scim.TypeInvalidFilter, "unsupported members filter")
}

func (b *sqlBuilder) binaryWith(l, r resource.Filter, op string, fn func(resource.Filter) (string, error)) (string, error) {
	ls, err := fn(l)
	if err != nil {
		return "", err
	}
	rs, err := fn(r)
	if err != nil {
		return "", err
	}
	return "(" + ls + op + rs + ")", nil
}

func (b *sqlBuilder) elemCmp(elem string, c resource.Compare) (string, error) {
	return b.jsonCmp(elem+"->'"+c.Ref.Leaf().Name+"'", c)
}

// jsonCmp compares a jsonb expression holding a string or boolean (or a
// declared extension attribute's number or dateTime).
func (b *sqlBuilder) jsonCmp(expr string, c resource.Compare) (string, error) {
	leaf := c.Ref.Leaf()
	if isOrdered(leaf.Type) {
		return b.orderedCmp(expr, c)
	}
	if leaf.Type == resource.Boolean {
		switch c.Op {
		case "pr":
			return "(" + expr + ") IS NOT NULL", nil
		case "eq":
			return "(" + expr + ") = to_jsonb(" + b.arg(c.Value) + "::boolean)", nil
		case "ne":
			return "(" + expr + ") IS DISTINCT FROM to_jsonb(" + b.arg(c.Value) + "::boolean)", nil
		}
		return "", scim.NewError(400, scim.TypeInvalidFilter, "booleans support only eq, ne and pr")
	}
	return b.cmp(textOf(expr), c, leaf.CaseExact)
}

// cmp compares a text, boolean or timestamp column expression.
func (b *sqlBuilder) cmp(col string, c resource.Compare, caseExact bool) (string, error) {
	leaf := c.Ref.Leaf()
	switch {
	case c.Op == "pr":
		if leaf.Type == resource.String || leaf.Type == resource.Reference {
			return "(" + col + " IS NOT NULL AND " + col + " <> '')", nil
		}
		return col + " IS NOT NULL", nil
	case c.Value == nil:
		if c.Op == "ne" {
			return col + " IS NOT NULL", nil
		}
		return col + " IS NULL", nil
	}
	if leaf.Type == resource.Boolean {
		switch c.Op {
		case "eq":
			return col + " = " + b.arg(c.Value), nil
		case "ne":
			return col + " IS DISTINCT FROM " + b.arg(c.Value), nil
		}
		return "", scim.NewError(400, scim.TypeInvalidFilter, "booleans support only eq, ne and pr")
	}
	s, _ := c.Value.(string)
	if leaf.Type == resource.DateTime {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", scim.NewError(400, scim.TypeInvalidFilter, leaf.Name+" compares with an RFC 3339 date-time")
		}
		op, ok := sqlOps[c.Op]
		if !ok {
			return "", scim.NewError(400, scim.TypeInvalidFilter, "date-times support eq, ne, gt, ge, lt and le")
		}
		return col + " " + op + " " + b.arg(at), nil
	}
	lhs, rhs := col, b.arg(s)
	if !caseExact && (leaf.Type == resource.String || leaf.Type == resource.Reference) {
		lhs, rhs = "lower("+col+")", "lower("+rhs+")"
	}
	switch c.Op {
	case "co":
		return "strpos(" + lhs + ", " + rhs + ") > 0", nil
	case "sw":
		return "starts_with(" + lhs + ", " + rhs + ")", nil
	case "ew":
		return "right(" + lhs + ", char_length(" + rhs + ")) = " + rhs, nil
	case "ne":
		return "(" + col + " IS NULL OR " + lhs + " <> " + rhs + ")", nil
	}
	op, ok := sqlOps[c.Op]
	if !ok {
		return "", scim.NewError(400, scim.TypeInvalidFilter, "unsupported operator "+c.Op)
	}
	return lhs + " " + op + " " + rhs, nil
}

var sqlOps = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

// MaxSorted bounds how many matching resources a list request may sort on
// an attribute that no index orders: such a request reads at most this
// many rows, plus one to tell that there are more, and answers 400
// tooMany if there are. Orders an index serves have no bound.
const MaxSorted = 10_000

// sortKey is the SQL expression rows are ordered by (RFC 7644 section
// 3.4.2.3: case-insensitive strings compare lower-cased; a multi-valued
// attribute by its primary value, or else its first) and whether an index
// of the table serves that order. Ties are broken by creation order; the
// NULLs of resources without a value come last in ascending order and
// first in descending, PostgreSQL's default and the RFC's rule.
func (b *sqlBuilder) sortKey(s *resource.Sort) (key string, indexed bool) {
	ref := s.Ref
	if col, ok := b.column(ref); ok {
		switch col {
		case "id", "external_id":
			return col, true
		case "user_name", "display_name":
			return "lower(" + col + ")", true
		}
		return col, false
	}
	leaf := ref.Leaf()
	var expr string
	switch {
	case ref.Attr.Multi && ref.Attr.Type != resource.Complex:
		// A declared multi-valued simple attribute: by its first value.
		arr := jsonPath(ref)
		first := "(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " + arr + "->0 END)"
		if isOrdered(leaf.Type) {
			return ordered(first, leaf.Type), false
		}
		expr = textOf(first)
	case isOrdered(leaf.Type) && !ref.Attr.Multi && ref.Attr != resource.MetaAttr:
		return ordered(jsonPath(ref), leaf.Type), false
	case ref.Attr.Multi:
		arr := jsonPath(ref)
		expr = "(SELECT x.e->>'" + leaf.Name + "' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " + arr + " END)" +
			" WITH ORDINALITY AS x(e, n) ORDER BY x.e->'primary' = 'true'::jsonb DESC NULLS LAST, x.n LIMIT 1)"
	default:
		expr = jsonPath(ref)
		if ref.Sub != nil {
			expr += "->'" + ref.Sub.Name + "'"
		}
		expr = textOf(expr)
	}
	// Booleans read as 'false' and 'true', which sort as the booleans do.
	if !leaf.CaseExact && (leaf.Type == resource.String || leaf.Type == resource.Reference) {
		expr = "lower(" + expr + ")"
	}
	return expr, false
}

// orderBy is the ORDER BY list of a sort: the sort key, then the
// tie-breakers (creation order), all in the requested direction, so a
// descending list is exactly the ascending one reversed.
func orderBy(s *resource.Sort, keys ...string) string {
	if s.Descending {
		return strings.Join(keys, " DESC, ") + " DESC"
	}
	return strings.Join(keys, ", ")
}
