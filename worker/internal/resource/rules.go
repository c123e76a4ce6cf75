package resource

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Rules every stored document keeps, whichever request wrote it: values the
// store indexes fit the index (MaxIndexedBytes), and multi-valued attributes
// hold each value once and at most one primary (RFC 7643 section 2.4).

// topAttrs lists the top-level attributes of schema s as stored in a
// document (the core schema also holds the common externalId).
func (k *Kind) topAttrs(s *Schema) []*Attr {
	if s != k.Core {
		return s.Attrs
	}
	return append(s.Attrs[:len(s.Attrs):len(s.Attrs)], attrExternalID)
}

func (k *Kind) schemas() []*Schema {
	return append([]*Schema{k.Core}, k.Exts...)
}

// checkLengths answers 400 invalidValue for a value longer than its
// attribute allows. Without it the insert fails in PostgreSQL ("index row
// size exceeds maximum") and the client gets a 500.
func (k *Kind) checkLengths(doc Doc) error {
	for _, s := range k.schemas() {
		c := k.container(doc, s, false)
		if c == nil {
			continue
		}
		for _, a := range k.topAttrs(s) {
			v, ok := c[a.Name]
			if !ok {
				continue
			}
			if err := checkLength(a, a.Name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkLength(a *Attr, path string, v any) error {
	switch t := v.(type) {
	case string:
		if a.MaxBytes > 0 && len(t) > a.MaxBytes {
			return errInvalidValue(fmt.Sprintf("%s is %d bytes long; at most %d bytes (UTF-8) are accepted", path, len(t), a.MaxBytes))
		}
	case []any:
		for _, item := range t {
			if err := checkLength(a, path, item); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, sub := range a.Sub {
			if sv, ok := t[sub.Name]; ok && sub.MaxBytes > 0 {
				if err := checkLength(sub, path+"."+sub.Name, sv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// settleAll applies the multi-valued rules to every multi-valued attribute
// of a document read from a POST or PUT body: duplicates collapse, and two
// primary values are a 400 (the client's intent is ambiguous).
func (k *Kind) settleAll(doc Doc) error {
	for _, s := range k.schemas() {
		c := k.container(doc, s, false)
		if c == nil {
			continue
		}
		for _, a := range s.Attrs {
			list, ok := c[a.Name].([]any)
			if !ok || !a.Multi {
				continue
			}
			touched := make([]bool, len(list))
			for i := range touched {
				touched[i] = true
			}
			settled, err := settle(a, list, touched)
			if err != nil {
				return err
			}
			c[a.Name] = settled
		}
	}
	return nil
}

// settle collapses duplicate values of the multi-valued attribute a and
// resolves primary. touched marks the values the current request wrote:
// if one of them is primary, every other value stops being primary (RFC
// 7644 section 3.5.2); if several are, the request is refused. Values the
// request did not write are never the cause of an error, so documents
// stored before these rules existed stay patchable.
func settle(a *Attr, list []any, touched []bool) ([]any, error) {
	list, touched = collapse(a, list, touched)
	if a.FindSub("primary") == nil {
		return list, nil
	}
	winner := -1
	for i, item := range list {
		if !touched[i] || !isPrimary(item) {
			continue
		}
		if winner >= 0 {
			return nil, errInvalidValue(a.Name + " has more than one value with primary true; at most one value may be primary")
		}
		winner = i
	}
	if winner < 0 {
		return list, nil
	}
	for i, item := range list {
		if i != winner && isPrimary(item) {
			item.(map[string]any)["primary"] = false
		}
	}
	return list, nil
}

func isPrimary(item any) bool {
	m, _ := item.(map[string]any)
	b, _ := m["primary"].(bool)
	return b
}

// collapse merges values that are the same (RFC 7643 section 2.4: the same
// type and value should not appear twice) into the first of them; a value
// a request wrote marks the merged one as written.
func collapse(a *Attr, list []any, touched []bool) ([]any, []bool) {
	out := make([]any, 0, len(list))
	outTouched := make([]bool, 0, len(list))
	seen := make(map[string]int, len(list))
	for i, item := range list {
		var key string
		elem, ok := item.(map[string]any)
		if ok {
			key = elementKey(a, elem)
		} else {
			// A simple value (a declared multi-valued string, number...).
			b, _ := json.Marshal(foldSub(a, item))
			key = string(b)
		}
		if j, dup := seen[key]; dup && !ok {
			outTouched[j] = outTouched[j] || touched[i]
			continue
		}
		if j, dup := seen[key]; dup {
			mergeElement(out[j].(map[string]any), elem)
			outTouched[j] = outTouched[j] || touched[i]
			continue
		}
		seen[key] = len(out)
		out, outTouched = append(out, item), append(outTouched, touched[i])
	}
	return out, outTouched
}

// elementKey identifies a value of a multi-valued attribute: its value and
// type when it has a value, else all its sub-attributes but primary. Strings
// compare as their sub-attribute's caseExact says.
func elementKey(a *Attr, elem map[string]any) string {
	var parts []any
	if _, hasValue := elem["value"]; hasValue && a.FindSub("value") != nil {
		for _, name := range []string{"value", "type"} {
			parts = append(parts, foldSub(a.FindSub(name), elem[name]))
		}
	} else {
		for _, sub := range a.Sub {
			if sub.Name != "primary" {
				parts = append(parts, foldSub(sub, elem[sub.Name]))
			}
		}
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

func foldSub(sub *Attr, v any) any {
	if s, ok := v.(string); ok && (sub == nil || !sub.CaseExact) {
		return strings.ToLower(s)
	}
	return v
}

// mergeElement folds a duplicate into the value kept: the kept value and
// type spellings stay, other sub-attributes take the later value, and the
// result is primary if either was.
func mergeElement(dst, src map[string]any) {
	for name, v := range src {
		switch name {
		case "value", "type":
			if _, ok := dst[name]; !ok {
				dst[name] = v
			}
		case "primary":
			dst[name] = isPrimary(dst) || isPrimary(src)
		default:
			dst[name] = v
		}
	}
}
