package apitest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/docs"
	"github.com/scimplane/scimplane/tests/apitest"
)

func TestChecker_Check(t *testing.T) {
	c, err := apitest.NewChecker(docs.OpenAPI())
	require.NoError(t, err)
	jsonHeader := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_1"}}
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		h.Set(k, v)
		return h
	}
	tests := []struct {
		name   string
		method string
		path   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"described", "GET", "/api/v1/me", 200, jsonHeader, `{"key_id":"key_1","role":"operator"}`, true},
		{"wrong type", "GET", "/api/v1/me", 200, jsonHeader, `{"key_id":1,"role":"operator"}`, false},
		{"unknown enum value", "GET", "/api/v1/me", 200, jsonHeader, `{"key_id":"key_1","role":"root"}`, false},
		{"missing required field", "GET", "/api/v1/me", 200, jsonHeader, `{"role":"operator"}`, false},
		{"undeclared status", "GET", "/api/v1/me", 418, jsonHeader, `{"error":"teapot","request_id":"req_1"}`, false},
		{"no request id", "GET", "/api/v1/me", 200, http.Header{"Content-Type": {"application/json"}}, `{"key_id":"key_1","role":"operator"}`, false},
		{"401 with its challenge", "GET", "/api/v1/me", 401, with(jsonHeader, "WWW-Authenticate", `Bearer realm="scimplane"`), `{"error":"invalid token","request_id":"req_1"}`, true},
		{"401 without its challenge", "GET", "/api/v1/me", 401, jsonHeader, `{"error":"invalid token","request_id":"req_1"}`, false},
		{"503 with Retry-After", "GET", "/api/v1/tenants", 503, with(jsonHeader, "Retry-After", "5"), `{"error":"database unavailable, retry later","request_id":"req_1"}`, true},
		{"503 without Retry-After", "GET", "/api/v1/tenants", 503, jsonHeader, `{"error":"database unavailable, retry later","request_id":"req_1"}`, false},
		{"refused connection", "GET", "/api/v1/tenants", 429,
			http.Header{"Content-Type": {"application/scim+json"}, "X-Request-Id": {"req_1"}, "Retry-After": {"1"}},
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"too many connections"}`, true},
		{"unknown route, 404", "GET", "/api/v1/nope", 404, jsonHeader, `{"error":"not found","request_id":"req_1"}`, true},
		{"unknown route, 200", "GET", "/api/v1/nope", 200, jsonHeader, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://127.0.0.1:8080"+tt.path, nil)
			require.NoError(t, err)
			err = c.Check(req, &http.Response{StatusCode: tt.status, Header: tt.header}, []byte(tt.body))
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
