package app

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorker_BadInput: whatever arrives, a SCIM 4xx with an error body,
// never a 500, and nothing already stored is lost.
func TestWorker_BadInput(t *testing.T) {
	w := newTestWorker(t)
	id := create(t, w, "/Users", `{"userName":"keep@contoso.com","title":"Kept"}`)
	deep := strings.Repeat("(", 100) + `userName eq "x"` + strings.Repeat(")", 100)
	tests := []struct {
		name, method, path, query, body string
		status                          int
		scimType                        string
	}{
		{"oversize body", "POST", "/Users", "", `{"userName":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
		{"deeply nested filter", "GET", "/Users", "filter=" + url.QueryEscape(deep), "", 400, "invalidFilter"},
		{"very long filter", "GET", "/Users", "filter=" + url.QueryEscape(strings.Repeat(`userName eq "x" or `, 300)+`userName eq "y"`), "", 400, "invalidFilter"},
		{"startIndex past the end", "GET", "/Users", "startIndex=999999999", "", 200, ""},
		{"array instead of object", "POST", "/Users", "", `[{"userName":"a"}]`, 400, "invalidSyntax"},
		{"trailing garbage", "POST", "/Users", "", `{"userName":"a"} {}`, 400, "invalidSyntax"},
		{"wrong type for a complex attribute", "POST", "/Users", "", `{"userName":"a","name":"Ann"}`, 400, "invalidValue"},
		{"wrong type for a string", "POST", "/Users", "", `{"userName":"a","title":{"x":1}}`, 400, "invalidValue"},
		{"PatchOp without operations", "PATCH", "/Users/" + id, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, 400, "invalidSyntax"},
		{"PatchOp value of the wrong type", "PATCH", "/Users/" + id, "", `{"Operations":[{"op":"replace","path":"active","value":[1]}]}`, 400, "invalidValue"},
		{"unsupported method", "DELETE", "/Users", "", "", 405, ""},
		{"PUT on the collection", "PUT", "/Users", "", `{}`, 405, ""},
		{"path too deep", "GET", "/Users/a/b", "", "", 404, ""},
		{"bad escape in the query", "GET", "/Users", "filter=%zz", "", 400, "invalidSyntax"},
		{"NUL in a value", "POST", "/Users", "", `{"userName":"a\u0000b"}`, 400, "invalidValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out, reply := do(t, w, tt.method, tt.path, tt.query, tt.body)
			require.Equal(t, tt.status, status, string(reply.Body))
			require.Equal(t, "application/scim+json", header(reply).Get("Content-Type"))
			if tt.status >= 400 {
				require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, out["schemas"])
				if tt.scimType != "" {
					require.Equal(t, tt.scimType, out["scimType"])
				}
			}
		})
	}
	status, out, _ := do(t, w, "GET", "/Users/"+id, "", "")
	require.Equal(t, 200, status)
	require.Equal(t, "Kept", out["title"])
}
