package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/scimplane/scimplane/plugins/scim"
)

// decodeJSON decodes a request body keeping numbers exact.
func decodeJSON(body []byte, v any) error {
	if bytes.Contains(body, []byte(`\u0000`)) {
		return scim.NewError(400, scim.TypeInvalidValue, "values must not contain NUL characters")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return scim.NewError(400, scim.TypeInvalidSyntax, "request body is not valid JSON: "+err.Error())
	}
	if dec.More() {
		return scim.NewError(400, scim.TypeInvalidSyntax, "request body has trailing data after the JSON document")
	}
	return nil
}

// Read parses a POST or PUT body into a Doc. Attribute names match in any
// case, nulls mean absent, unknown attributes and schemas are dropped (their
// names are returned so the SCIM log can show them), and values that cannot
// be accepted give a 400: among them two primary values of one attribute
// and over-long indexed values (see settle and checkLengths).
func (k *Kind) Read(body []byte) (Doc, []string, error) {
	var raw map[string]any
	if err := decodeJSON(body, &raw); err != nil {
		return nil, nil, err
	}
	if raw == nil {
		return nil, nil, scim.NewError(400, scim.TypeInvalidSyntax, "request body must be a JSON object")
	}
	doc := Doc{}
	var dropped []string
	for key, v := range raw {
		switch {
		case strings.EqualFold(key, "schemas"), strings.EqualFold(key, "meta"), strings.EqualFold(key, "id"):
			continue
		}
		schema, rest, ok := k.splitURN(key)
		if !ok {
			dropped = append(dropped, key)
			continue
		}
		if rest == "" { // the extension object
			if schema == k.Core {
				dropped = append(dropped, key)
				continue
			}
			if err := k.mergeExt(doc, schema, v, &dropped); err != nil {
				return nil, nil, err
			}
			continue
		}
		var attr *Attr
		if schema != nil {
			attr = schema.Find(rest)
		} else {
			schema, attr = k.lookup(rest)
		}
		if attr == nil || attr == attrID {
			dropped = append(dropped, key)
			continue
		}
		if attr.Mutability == "readOnly" {
			continue
		}
		val, err := readValue(attr, v, &dropped)
		if err != nil {
			return nil, nil, err
		}
		if val != nil {
			k.container(doc, schema, true)[attr.Name] = val
		}
	}
	if err := k.settleAll(doc); err != nil {
		return nil, nil, err
	}
	if err := k.checkLengths(doc); err != nil {
		return nil, nil, err
	}
	return doc, dropped, nil
}

// mergeExt merges an extension object value into doc, attribute by attribute.
func (k *Kind) mergeExt(doc Doc, s *Schema, v any, dropped *[]string) error {
	if v == nil {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errInvalidValue(s.ID + " must be an object")
	}
	for name, sv := range obj {
		attr := s.Find(name)
		if attr == nil {
			*dropped = append(*dropped, s.ID+":"+name)
			continue
		}
		val, err := readValue(attr, sv, dropped)
		if err != nil {
			return err
		}
		c := k.container(doc, s, true)
		if val == nil {
			delete(c, attr.Name)
		} else {
			c[attr.Name] = val
		}
	}
	k.pruneExt(doc)
	return nil
}

// readValue converts a JSON value to the stored form of attr; nil means absent.
func readValue(attr *Attr, v any, dropped *[]string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if attr.Multi {
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		out := make([]any, 0, len(items))
		for _, item := range items {
			val, err := readSingle(attr, item, dropped)
			if err != nil {
				return nil, err
			}
			if val != nil {
				out = append(out, val)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if arr, ok := v.([]any); ok && attr.Type == Complex {
		// manager as a one-element array (older Entra documentation).
		switch len(arr) {
		case 0:
			return nil, nil
		case 1:
			v = arr[0]
		default:
			return nil, errInvalidValue(attr.Name + " must be a single value, not an array")
		}
	}
	return readSingle(attr, v, dropped)
}

func readSingle(attr *Attr, v any, dropped *[]string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if attr.Type != Complex {
		return readScalar(attr, v)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		// manager as a bare id; a bare value for multi-valued items.
		if s, isStr := v.(string); isStr {
			if s == "" {
				return nil, nil
			}
			if value := attr.FindSub("value"); value != nil {
				return map[string]any{"value": s}, nil
			}
		}
		return nil, errInvalidValue(attr.Name + " must be an object")
	}
	out := make(map[string]any, len(obj))
	for name, sv := range obj {
		sub := attr.FindSub(name)
		if sub == nil {
			*dropped = append(*dropped, attr.Name+"."+name)
			continue
		}
		val, err := readScalar(sub, sv)
		if err != nil {
			return nil, err
		}
		if val != nil {
			out[sub.Name] = val
		}
	}
	if attr.Name == "manager" {
		// Only the id is stored; $ref and displayName are derived on output.
		if s, _ := out["value"].(string); s == "" {
			return nil, nil
		}
		return map[string]any{"value": out["value"]}, nil
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// readScalar accepts a simple value for attr. Booleans may arrive as the
// strings "True"/"False" (Entra's default mapping); strings are kept exactly.
// Numbers (only declared extension attributes have them) may arrive as
// strings too and are stored as JSON numbers; dateTimes must be RFC 3339.
func readScalar(attr *Attr, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch attr.Type {
	case Boolean:
		return parseBool(attr.Name, v)
	case Integer, Decimal:
		return parseNumber(attr, v)
	case DateTime:
		s, ok := v.(string)
		if !ok {
			return nil, errInvalidValue(attr.Name + " must be a dateTime string (RFC 3339, such as 2026-01-31T09:00:00Z)")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, errInvalidValue(attr.Name + " must be a dateTime (RFC 3339, such as 2026-01-31T09:00:00Z), not " + strconvQuote(s))
		}
		return s, nil
	case Complex:
		return nil, errInvalidValue(attr.Name + " has sub-attributes and cannot take a simple value")
	default:
		switch t := v.(type) {
		case string:
			return t, nil
		case json.Number:
			return t.String(), nil
		case bool:
			if t {
				return "true", nil
			}
			return "false", nil
		default:
			return nil, errInvalidValue(attr.Name + " must be a string")
		}
	}
}

// maxExactInteger is the largest integer a float64 holds exactly: stored
// documents decode numbers as float64, so larger integers would not read
// back as written.
const maxExactInteger = 1<<53 - 1

// parseNumber reads an integer or decimal, as a JSON number or a string
// holding one, into the float64 a stored document reads back as, so a
// write response spells it as every later read does.
func parseNumber(attr *Attr, v any) (any, error) {
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
	case string:
		text = strings.TrimSpace(t)
		if text == "" {
			return nil, nil
		}
	default:
		return nil, errInvalidValue(attr.Name + " must be a number")
	}
	if attr.Type == Integer {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n > maxExactInteger || n < -maxExactInteger {
			return nil, errInvalidValue(fmt.Sprintf("%s must be an integer between -%d and %d, not %s", attr.Name, int64(maxExactInteger), int64(maxExactInteger), strconvQuote(text)))
		}
		return float64(n), nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errInvalidValue(attr.Name + " must be a decimal number, not " + strconvQuote(text))
	}
	return f, nil
}

func parseBool(name string, v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		switch {
		case strings.EqualFold(t, "true"):
			return true, nil
		case strings.EqualFold(t, "false"):
			return false, nil
		}
	}
	return false, errInvalidValue(name + " must be a boolean (true or false)")
}
