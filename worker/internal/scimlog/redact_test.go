package scimlog

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testJWT   = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	testToken = "scimtok_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA"
	testKey   = "spk_a1b2c3d4e5f6a7b8c9d0e1f2"
)

func TestRedactBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		// gone must not survive; kept must.
		gone, kept []string
		same       bool // the body is kept byte for byte
	}{
		{name: "patch replace path password (Entra)", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"password","value":"s3cret-1"}]}`,
			gone: []string{"s3cret-1"}, kept: []string{`"path":"password"`, `"op":"Replace"`}},
		{name: "patch replace value object", body: `{"Operations":[{"op":"replace","value":{"password":"s3cret-2","title":"Boss"}}]}`,
			gone: []string{"s3cret-2"}, kept: []string{"Boss"}},
		{name: "patch add path password", body: `{"Operations":[{"op":"add","path":"password","value":"s3cret-3"}]}`, gone: []string{"s3cret-3"}},
		{name: "path in another case", body: `{"Operations":[{"Op":"Add","Path":"PassWord","Value":"s3cret-4"}]}`, gone: []string{"s3cret-4"}},
		{name: "extension path", body: `{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:acme:2.0:User:secretCode","value":"s3cret-5"}]}`,
			gone: []string{"s3cret-5"}},
		{name: "nested path", body: `{"Operations":[{"op":"replace","path":"credentials.password","value":["s3cret-6"]}]}`, gone: []string{"s3cret-6"}},
		{name: "path with a value filter", body: `{"Operations":[{"op":"replace","path":"x509Certificates[type eq \"pw\"].privateKey","value":{"v":"s3cret-7"}}]}`,
			gone: []string{"s3cret-7"}},
		{name: "value filter naming no secret", body: `{"Operations":[{"op":"replace","path":"emails[value eq \"password@contoso.com\"].primary","value":true}]}`,
			kept: []string{"password@contoso.com", `"value":true`}},
		{name: "extension attribute in a value object", body: `{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:acme:2.0:User:apiKey":"s3cret-8"}}]}`,
			gone: []string{"s3cret-8"}},
		{name: "remove carries no value", body: `{"Operations":[{"op":"remove","path":"password"}]}`, kept: []string{`"path":"password"`}, same: true},
		{name: "post", body: `{"userName":"ann@contoso.com","password":"s3cret-9","name":{"givenName":"Ann"}}`,
			gone: []string{"s3cret-9"}, kept: []string{"ann@contoso.com", "Ann"}},
		{name: "put with a nested extension", body: `{"userName":"ann","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"Password":"s3cret-10"}}`,
			gone: []string{"s3cret-10"}},
		{name: "bearer token in a value", body: `{"title":"Bearer abcdefghijklmnopqrstuvwxyz0123"}`, gone: []string{"abcdefghijklmnopqrstuvwxyz0123"}, kept: []string{"Bearer [redacted]"}},
		{name: "service token in a value", body: `{"title":"see ` + testToken + ` here"}`, gone: []string{testToken}, kept: []string{"see [redacted] here"}},
		{name: "service key in an array", body: `{"emails":[{"value":"` + testKey + `"}]}`, gone: []string{testKey}},
		{name: "jwt in a response", body: `{"detail":"` + testJWT + ` not found"}`, gone: []string{testJWT}, kept: []string{"not found"}},
		{name: "secret in a search filter", body: `{"filter":"password eq \"s3cret-11\"","count":5}`, gone: []string{"s3cret-11"}, kept: []string{`"count":5`}},
		{name: "not json with a password", body: `{"userName":"x","password":"s3cret-12"`, gone: []string{"s3cret-12"}, kept: []string{Redacted}},
		{name: "not json with a token", body: `oops ` + testToken, gone: []string{testToken}, kept: []string{"oops [redacted]"}},
		{name: "nothing secret", body: `{"userName":"bob","title":"Token Ring <admin>","n":1.50}`, same: true},
		{name: "discovery document", body: `{"authenticationSchemes":[{"type":"oauthbearertoken","name":"OAuth Bearer Token","description":"Bearer token authentication"}]}`, same: true},
		{name: "big numbers keep their digits", body: `{"password":"x","employeeNumber":12345678901234567890}`, kept: []string{"12345678901234567890"}},
		{name: "html is not escaped", body: `{"password":"x","title":"R&D <team>"}`, kept: []string{"R&D <team>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(RedactBody([]byte(tt.body)))
			for _, s := range tt.gone {
				require.NotContains(t, got, s)
			}
			for _, s := range tt.kept {
				require.Contains(t, got, s)
			}
			if tt.same {
				require.Equal(t, tt.body, got)
			}
		})
	}
}

func TestRedactText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "userName eq \"ann\"", "userName eq \"ann\""},
		{"filter on a secret", `password eq "s3cret"`, `password eq "[redacted]"`},
		{"filter on an extension secret, any case", `urn:acme:User:SecretCode EQ "s3cret" and userName eq "a"`, `urn:acme:User:SecretCode EQ "[redacted]" and userName eq "a"`},
		{"assignment", "password=s3cret&x=1", `password="[redacted]"&x=1`},
		{"json fragment in a detail", `bad value in {"password": "s3cret"}`, `bad value in {"password": "[redacted]"}`},
		{"bearer", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer [redacted]"},
		{"service token", "User " + testToken + " not found", "User [redacted] not found"},
		{"service key", testKey, Redacted},
		{"jwt", "x " + testJWT, "x [redacted]"},
		{"words alone", "ignored unknown attributes password", "ignored unknown attributes password"},
		{"short bearer is prose", "the Bearer token scheme", "the Bearer token scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, RedactText(tt.in))
		})
	}
}

func TestRedact_Entry(t *testing.T) {
	e := Entry{
		RequestID:    "req-1",
		Method:       "GET",
		Path:         "/Users/" + testToken,
		Query:        "filter=password+eq+%22s3cret-q%22&count=5&access_token=opaque-1&attributes=" + testJWT + "&" + testKey + "=1",
		Filter:       `password eq "s3cret-f"`,
		ResourceID:   testToken,
		ExternalID:   testKey,
		UserName:     "Bearer abcdefghijklmnopqrstuvwxyz",
		DisplayName:  testJWT,
		Summary:      "patched user " + testKey,
		ScimType:     "invalidFilter",
		Detail:       `cannot parse filter "password eq \"s3cret-d\""`,
		RequestBody:  []byte(`{"Operations":[{"op":"replace","path":"password","value":"s3cret-b"}]}`),
		ResponseBody: []byte(`{"detail":"User ` + testToken + ` not found"}`),
	}
	Redact(&e)
	all := strings.Join([]string{e.RequestID, e.Method, e.Path, e.Query, e.Filter, e.ResourceID, e.ExternalID, e.UserName,
		e.DisplayName, e.Summary, e.ScimType, e.Detail, string(e.RequestBody), string(e.ResponseBody)}, "\n")
	for _, s := range []string{testToken, testJWT, testKey, "abcdefghijklmnopqrstuvwxyz", "s3cret", "opaque-1"} {
		require.NotContains(t, all, s)
	}
	require.Equal(t, "/Users/[redacted]", e.Path)
	require.Equal(t, "filter=password+eq+%22%5Bredacted%5D%22&count=5&access_token=%5Bredacted%5D&attributes=%5Bredacted%5D&%5Bredacted%5D", e.Query)
	require.Equal(t, "req-1", e.RequestID)
}

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 4, "abcd" + Truncated},
		{"ééé", 3, "é" + Truncated}, // never half a rune
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Cut(tt.in, tt.max))
	}
}

func TestEntry_Prepared(t *testing.T) {
	long := strings.Repeat("ü", MaxText)
	e := Entry{RequestID: long, UserName: long, ExternalID: long, ResourceID: long, Path: long, Detail: "nul\x00 and \xff",
		RequestBody: []byte(strings.Repeat("b", MaxBody+10)), ResponseBody: []byte(`{"password":"x"}`)}
	p := e.prepared()
	for _, s := range []string{p.RequestID, p.UserName, p.ExternalID, p.ResourceID} {
		require.LessOrEqual(t, len(s), MaxIndexed+len(Truncated))
		require.True(t, strings.HasSuffix(s, Truncated))
	}
	require.LessOrEqual(t, len(p.Path), MaxText+len(Truncated))
	require.Equal(t, "nul\\u0000 and \uFFFD", p.Detail)
	require.Len(t, p.RequestBody, MaxBody+len(Truncated))
	require.Equal(t, `{"password":"[redacted]"}`, string(p.ResponseBody))
	require.Equal(t, long, e.UserName, "the capture itself is left whole")
}

// BenchmarkRedact_Entry is the redaction of a typical Entra exchange: a
// PATCH that sets a password, and its user in reply.
func BenchmarkRedact_Entry(b *testing.B) {
	req := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"password","value":"xyz"},{"op":"Replace","path":"title","value":"Engineer"}]}`)
	resp := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223-7f76-453a-919d-413861904646","userName":"ann@contoso.com","active":true,"title":"Engineer","meta":{"resourceType":"User","version":"W/\"2\""}}`)
	b.ReportAllocs()
	for b.Loop() {
		e := Entry{RequestID: "req-1", Method: "PATCH", Path: "/Users/2819c223-7f76-453a-919d-413861904646", UserName: "ann@contoso.com",
			Summary: "patched user ann@contoso.com: replace title", RequestBody: req, ResponseBody: resp}
		_ = e.prepared()
	}
}

// BenchmarkRedact_Clean is the common case: nothing to redact.
func BenchmarkRedact_Clean(b *testing.B) {
	req := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"title","value":"Engineer"}]}`)
	resp := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223-7f76-453a-919d-413861904646","userName":"ann@contoso.com","active":true,"title":"Engineer"}`)
	b.ReportAllocs()
	for b.Loop() {
		e := Entry{RequestID: "req-1", Method: "PATCH", Path: "/Users/2819c223-7f76-453a-919d-413861904646", UserName: "ann@contoso.com",
			Summary: "patched user ann@contoso.com: replace title", RequestBody: req, ResponseBody: resp}
		_ = e.prepared()
	}
}
