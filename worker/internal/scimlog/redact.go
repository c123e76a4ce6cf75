package scimlog

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
)

// secretWords mark an attribute, parameter or PATCH path whose value is a
// secret, in any case and anywhere in the name ("password",
// "urn:...:User:secretCode", "access_token").
var secretWords = []string{"password", "passwd", "secret", "token", "credential", "apikey", "api_key", "privatekey", "private_key"}

// secretName reports whether name names a secret.
func secretName(name string) bool {
	l := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// triggers are lower-case strings without which a text holds nothing to
// redact: the secret words and the starts of token-shaped strings.
var triggers = append([]string{"bearer", "scimtok_", "spk_", "eyj"}, secretWords...)

func mayHoldSecret(lower []byte) bool {
	for _, t := range triggers {
		if bytes.Contains(lower, []byte(t)) {
			return true
		}
	}
	return false
}

// secretPair matches a secret-named attribute compared in a filter
// (`password eq "x"`) or assigned in text (`password=x`,
// `"password": "x"`); the value is the last group.
var secretPair = regexp.MustCompile(`(?i)([A-Za-z0-9_:.$-]*(?:password|passwd|secret|token|credential|apikey|api_key|privatekey|private_key)[A-Za-z0-9_.-]*"?(?:\s+(?:eq|ne|co|sw|ew|gt|ge|lt|le)\s+|\s*[:=]\s*))(\\"(?:[^\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&})\]"'\\]+)`)

// RedactText removes token-shaped strings (scim.RedactTokens) and
// secret-named values from free text (a path, filter, detail or query
// value).
func RedactText(s string) string {
	if !mayHoldSecret([]byte(strings.ToLower(s))) {
		return s
	}
	return secretPair.ReplaceAllString(scim.RedactTokens(s), `$1"`+Redacted+`"`)
}

// Redact applies the log's one redaction pass to everything support can
// read of e: bodies, path, query, filter, resource id, names, summary and
// detail. The worker never sees the exchange's HTTP headers (the control
// plane checks the Authorization header and forwards none of it), so no
// header reaches the log.
func Redact(e *Entry) {
	for _, s := range []*string{&e.RequestID, &e.Method, &e.Filter, &e.ResourceType, &e.ResourceID, &e.ExternalID,
		&e.UserName, &e.DisplayName, &e.Summary, &e.ScimType, &e.Detail} {
		*s = RedactText(*s)
	}
	e.Path = redactPath(e.Path)
	e.Query = redactQuery(e.Query)
	e.RequestBody = RedactBody(e.RequestBody)
	e.ResponseBody = RedactBody(e.ResponseBody)
}

// redactPath redacts each segment of a request path, decoded.
func redactPath(p string) string {
	if !mayHoldSecret([]byte(strings.ToLower(p))) {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			d = s
		}
		if r := RedactText(d); r != d {
			segs[i] = r
		}
	}
	return strings.Join(segs, "/")
}

// redactQuery redacts a raw query string parameter by parameter: the
// value of a secret-named parameter whole, others as text. Parameters
// with nothing to redact keep their bytes.
func redactQuery(q string) string {
	if !mayHoldSecret([]byte(strings.ToLower(q))) {
		return q
	}
	parts := strings.Split(q, "&")
	for i, part := range parts {
		k, v, hasValue := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			val = v
		}
		switch {
		case secretName(key) && hasValue:
			parts[i] = k + "=" + url.QueryEscape(Redacted)
		case RedactText(key) != key:
			parts[i] = url.QueryEscape(Redacted)
		default:
			if r := RedactText(val); r != val {
				parts[i] = k + "=" + url.QueryEscape(r)
			}
		}
	}
	return strings.Join(parts, "&")
}

// RedactBody redacts a JSON body: the values of secret-named attributes
// at any depth (including `"value"` of a PATCH operation whose `path`
// names a secret, in any case, with or without a schema URN or a value
// filter), and every string as text (RedactText). A body that is not JSON
// is redacted as text, or replaced whole if it mentions a secret-named
// attribute, since its value cannot be found reliably.
func RedactBody(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	lower := bytes.ToLower(b)
	if !mayHoldSecret(lower) {
		return b
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		for _, w := range secretWords {
			if bytes.Contains(lower, []byte(w)) {
				return []byte(Redacted + " (a body that is not JSON, with a secret-named attribute)")
			}
		}
		return []byte(RedactText(string(b)))
	}
	v, changed := redactValue(v)
	if !changed {
		return b
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(Redacted)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

// redactValue redacts v in place and reports whether it changed anything.
func redactValue(v any) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		changed := false
		secretValue := false
		for k, x := range t {
			if p, ok := x.(string); ok && strings.EqualFold(k, "path") && secretPath(p) {
				secretValue = true
			}
		}
		for k, x := range t {
			if x == nil {
				continue
			}
			if secretName(k) || (secretValue && strings.EqualFold(k, "value")) {
				if x != Redacted {
					t[k], changed = Redacted, true
				}
				continue
			}
			var c bool
			if t[k], c = redactValue(x); c {
				changed = true
			}
		}
		return t, changed
	case []any:
		changed := false
		for i, x := range t {
			var c bool
			if t[i], c = redactValue(x); c {
				changed = true
			}
		}
		return t, changed
	case string:
		r := RedactText(t)
		return r, r != t
	}
	return v, false
}

// secretPath reports whether a PATCH path names a secret attribute: any
// of its names, outside value filters ("emails[value eq "x"]" names
// emails and value, not x).
func secretPath(p string) bool {
	var names strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth = max(depth-1, 0)
		case depth == 0:
			names.WriteRune(r)
		}
	}
	return secretName(names.String())
}
