package tenant

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkText refuses a name PostgreSQL cannot store (invalid UTF-8, NUL) or
// that would mislead where it is shown (control characters).
func checkText(field, v string) error {
	if err := checkStorable(field, v); err != nil {
		return err
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return invalid(field + " must not contain control characters")
	}
	return nil
}

// checkStorable refuses free text (policy sources, comments) that
// PostgreSQL's text and jsonb cannot store: invalid UTF-8 and NUL.
func checkStorable(field, v string) error {
	if !utf8.ValidString(v) {
		return invalid(field + " must be valid UTF-8")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return invalid(field + " must not contain NUL characters")
	}
	return nil
}

// checkStorableJSON applies checkStorable to every key and string in doc,
// which jsonb refuses when one holds \u0000.
func checkStorableJSON(field string, doc json.RawMessage) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return invalid(field + " must be a JSON document")
	}
	var walk func(any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case string:
			return checkStorable(field, v)
		case []any:
			for _, e := range v {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			for k, e := range v {
				if err := checkStorable(field, k); err != nil {
					return err
				}
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(v)
}
