// Package scimlog is the SCIM log of one tenant: what an exchange leaves
// for support to read (Entry), how it is captured, redacted and cut to
// size, when it is written (with the change, or after it: Recorder), how
// support queries, exports and watches it (Admin), and how its daily
// partitions are kept and expired (Maintain). SQL lives in the worker's
// store package, which implements Store.
package scimlog

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Size limits of what a row holds. Indexed columns stay well below
// PostgreSQL's btree entry limit (about 2,700 bytes, lower() can grow a
// UTF-8 string by half), so an exchange with a huge userName, externalId,
// resource id or request id is still recorded.
const (
	MaxIndexed = 512
	MaxText    = 8 << 10
	MaxBody    = 64 << 10
)

// Markers put in place of what the log does not keep.
const (
	Redacted  = scim.Redacted
	Truncated = "...[truncated]"
)

// Entry is one row of the SCIM log.
type Entry struct {
	At           time.Time
	RequestID    string
	Method       string
	Path         string
	Query        string
	Filter       string
	ResourceType string
	ResourceID   string
	ExternalID   string
	UserName     string
	DisplayName  string
	Summary      string
	Status       int
	ScimType     string
	Detail       string
	Latency      time.Duration
	RequestBody  []byte
	ResponseBody []byte
}

// prepared returns the row as it is stored: every field redacted
// (Redact), made storable in a PostgreSQL text column, and cut to its
// limit.
func (e *Entry) prepared() *Entry {
	out := *e
	Redact(&out)
	for _, f := range []struct {
		s   *string
		max int
	}{
		{&out.RequestID, MaxIndexed}, {&out.Method, MaxIndexed}, {&out.ResourceType, MaxIndexed},
		{&out.ResourceID, MaxIndexed}, {&out.ExternalID, MaxIndexed}, {&out.UserName, MaxIndexed},
		{&out.DisplayName, MaxIndexed}, {&out.ScimType, MaxIndexed},
		{&out.Path, MaxText}, {&out.Query, MaxText}, {&out.Filter, MaxText}, {&out.Summary, MaxText}, {&out.Detail, MaxText},
	} {
		*f.s = Cut(clean(*f.s), f.max)
	}
	out.RequestBody = cutBody(out.RequestBody)
	out.ResponseBody = cutBody(out.ResponseBody)
	return &out
}

func cutBody(b []byte) []byte {
	if b == nil {
		return nil
	}
	s := string(b)
	c := Cut(clean(s), MaxBody)
	if c == s {
		return b
	}
	return []byte(c)
}

// Cut shortens s to at most max bytes and a Truncated marker, on a rune
// boundary.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + Truncated
}

// clean makes arbitrary request text storable in a PostgreSQL text
// column, which takes neither NUL bytes nor invalid UTF-8.
func clean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\\u0000")
}

// size is roughly what e holds in memory, for the spool's bound.
func (e *Entry) size() int {
	return 256 + len(e.RequestID) + len(e.Path) + len(e.Query) + len(e.Filter) + len(e.ResourceID) + len(e.ExternalID) +
		len(e.UserName) + len(e.DisplayName) + len(e.Summary) + len(e.Detail) + len(e.RequestBody) + len(e.ResponseBody)
}
