package app

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

// randomText is incompressible ASCII of n bytes (PostgreSQL compresses
// index entries, so repeated letters would not reach the index limit).
func randomText(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestWorker_IndexedValueLength: values of indexed attributes answered 500
// from about 2.7 kB (PostgreSQL's index entry limit). Over
// resource.MaxIndexedBytes they are a 400 invalidValue; at the limit they
// are stored, including characters that grow under lower().
func TestWorker_IndexedValueLength(t *testing.T) {
	w := newTestWorker(t)
	limit := resource.MaxIndexedBytes
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	userID := create(t, w, "/Users", `{"userName":"keep@contoso.com","displayName":"Kept"}`)
	groupID := create(t, w, "/Groups", `{"displayName":"Kept group"}`)
	tests := []struct {
		name, method, path string
		body               func(v string) string
	}{
		{"POST userName", "POST", "/Users", func(v string) string { return `{"userName":` + jsonString(v) + `}` }},
		{"POST displayName", "POST", "/Users", func(v string) string { return `{"userName":"d` + v[:8] + `","displayName":` + jsonString(v) + `}` }},
		{"POST externalId", "POST", "/Users", func(v string) string { return `{"userName":"e` + v[:8] + `","externalId":` + jsonString(v) + `}` }},
		{"POST email", "POST", "/Users", func(v string) string {
			return `{"userName":"m` + v[:8] + `","emails":[{"type":"work","value":` + jsonString(v) + `}]}`
		}},
		{"POST manager", "POST", "/Users", func(v string) string {
			return `{"userName":"g` + v[:8] + `","` + ent + `":{"manager":` + jsonString(v) + `}}`
		}},
		{"PUT userName", "PUT", "/Users/" + userID, func(v string) string { return `{"userName":` + jsonString(v) + `}` }},
		{"PATCH userName", "PATCH", "/Users/" + userID, func(v string) string {
			return `{"Operations":[{"op":"Replace","path":"userName","value":` + jsonString(v) + `}]}`
		}},
		{"PATCH path-less externalId", "PATCH", "/Users/" + userID, func(v string) string {
			return `{"Operations":[{"op":"replace","value":{"externalId":` + jsonString(v) + `}}]}`
		}},
		{"POST group displayName", "POST", "/Groups", func(v string) string { return `{"displayName":` + jsonString(v) + `}` }},
		{"POST group externalId", "POST", "/Groups", func(v string) string { return `{"displayName":"x` + v[:8] + `","externalId":` + jsonString(v) + `}` }},
		{"PATCH group displayName", "PATCH", "/Groups/" + groupID, func(v string) string {
			return `{"Operations":[{"op":"Replace","path":"displayName","value":` + jsonString(v) + `}]}`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{2800, limit + 1} {
				status, out, reply := do(t, w, tt.method, tt.path, "", tt.body(randomText(size)))
				require.Equal(t, 400, status, "%d bytes: %s", size, reply.Body)
				require.Equal(t, "invalidValue", out["scimType"])
			}
			status, _, reply := do(t, w, tt.method, tt.path, "", tt.body(randomText(limit)))
			require.Less(t, status, 300, "at the limit: %s", reply.Body)
		})
	}
	// Every refusal left its log row (a 500 here often lost it).
	require.Len(t, logIDs(t, w, scimworker.LogQuery{Status: "400", Limit: 100}), 2*len(tests))
	// The worst case for the lower() indexes: 2-byte capitals that lower to
	// 3 bytes (1536 bytes under the C.UTF-8 or ICU collations production
	// databases use; the test server's C locale leaves them as they are).
	capitals := strings.Repeat("Ⱥ", limit/2)
	id := create(t, w, "/Users", `{"userName":`+jsonString(capitals)+`,"displayName":`+jsonString(capitals)+`}`)
	status, out, _ := do(t, w, "GET", "/Users", "filter="+url.QueryEscape(`userName eq `+jsonString(capitals)), "")
	require.Equal(t, 200, status)
	require.EqualValues(t, 1, out["totalResults"])
	require.Equal(t, id, out["Resources"].([]any)[0].(map[string]any)["id"])
	create(t, w, "/Groups", `{"displayName":`+jsonString(capitals)+`}`)
}

// TestWorker_MultiValuedRules: one primary value per attribute and no
// duplicate values (RFC 7643 section 2.4), through the SCIM handler.
func TestWorker_MultiValuedRules(t *testing.T) {
	w := newTestWorker(t)
	status, out, _ := do(t, w, "POST", "/Users", "", `{"userName":"two@contoso.com","emails":[
		{"value":"a@contoso.com","type":"work","primary":true},{"value":"b@contoso.com","type":"home","primary":"True"}]}`)
	require.Equal(t, 400, status)
	require.Equal(t, "invalidValue", out["scimType"])
	require.Contains(t, out["detail"], "primary")

	id := create(t, w, "/Users", `{"userName":"one@contoso.com","emails":[
		{"value":"a@contoso.com","type":"work","primary":true},{"value":"a@contoso.com","type":"work"}]}`)
	status, out, _ = do(t, w, "GET", "/Users/"+id, "", "")
	require.Equal(t, 200, status)
	require.Equal(t, []any{map[string]any{"value": "a@contoso.com", "type": "work", "primary": true}}, out["emails"])

	patch(t, w, "/Users/"+id, `[{"op":"add","path":"emails","value":[{"value":"n@contoso.com","type":"home","primary":true}]}]`, 200)
	status, out, _ = do(t, w, "GET", "/Users/"+id, "", "")
	require.Equal(t, 200, status)
	require.Equal(t, []any{
		map[string]any{"value": "a@contoso.com", "type": "work", "primary": false},
		map[string]any{"value": "n@contoso.com", "type": "home", "primary": true},
	}, out["emails"])

	status, out, _ = do(t, w, "PUT", "/Users/"+id, "", `{"userName":"one@contoso.com","phoneNumbers":[
		{"value":"1","type":"work","primary":true},{"value":"2","type":"mobile","primary":true}]}`)
	require.Equal(t, 400, status)
	require.Equal(t, "invalidValue", out["scimType"])
}

// TestWorker_RemovingActiveDeactivates: a PATCH removing active used to
// re-enable a deactivated user (missing meant true).
func TestWorker_RemovingActiveDeactivates(t *testing.T) {
	w := newTestWorker(t)
	for _, op := range []string{
		`{"op":"remove","path":"active"}`,
		`{"op":"Remove","path":"active"}`,
		`{"op":"replace","path":"active","value":null}`,
		`{"op":"replace","value":{"active":null}}`,
	} {
		t.Run(op, func(t *testing.T) {
			name := randomSuffix() + "@contoso.com"
			id := create(t, w, "/Users", `{"userName":"`+name+`","active":true}`)
			patch(t, w, "/Users/"+id, `[{"op":"Replace","path":"active","value":"False"}]`, 200)
			patch(t, w, "/Users/"+id, `[`+op+`]`, 200)
			status, out, _ := do(t, w, "GET", "/Users/"+id, "", "")
			require.Equal(t, 200, status)
			require.Equal(t, false, out["active"])
			status, out, _ = do(t, w, "GET", "/Users", "filter="+url.QueryEscape(`userName eq "`+name+`" and active eq false`), "")
			require.Equal(t, 200, status)
			require.EqualValues(t, 1, out["totalResults"])
		})
	}
}

// TestWorker_WriteTimestampsMatchReads: a write response gave meta times in
// nanoseconds, later reads the stored microseconds.
func TestWorker_WriteTimestampsMatchReads(t *testing.T) {
	w := newTestWorker(t)
	for _, tt := range []struct{ path, body string }{
		{"/Users", `{"userName":"stamp@contoso.com"}`},
		{"/Groups", `{"displayName":"Stamped"}`},
	} {
		status, created, reply := do(t, w, "POST", tt.path, "", tt.body)
		require.Equal(t, 201, status, string(reply.Body))
		id := created["id"].(string)
		_, read, _ := do(t, w, "GET", tt.path+"/"+id, "", "")
		require.Equal(t, read["meta"].(map[string]any)["created"], created["meta"].(map[string]any)["created"])
		require.Equal(t, read["meta"].(map[string]any)["lastModified"], created["meta"].(map[string]any)["lastModified"])
	}
	id := create(t, w, "/Users", `{"userName":"stamp2@contoso.com"}`)
	status, patched, _ := do(t, w, "PATCH", "/Users/"+id, "", `{"Operations":[{"op":"replace","path":"title","value":"T"}]}`)
	require.Equal(t, 200, status)
	_, read, _ := do(t, w, "GET", "/Users/"+id, "", "")
	require.Equal(t, read["meta"].(map[string]any)["lastModified"], patched["meta"].(map[string]any)["lastModified"])
}
