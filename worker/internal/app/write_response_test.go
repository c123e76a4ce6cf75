package app

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// TestWorker_WriteResponses: POST and PUT /Groups answered without members
// (returned by default), and no write honoured attributes or
// excludedAttributes (RFC 7644 section 3.9); a group PATCH naming
// attributes answered 204 where RFC 7644 section 3.5.2 requires 200 with
// the group. Every answer must equal a GET of the resource with the same
// query, and the SCIM log keeps the body sent.
func TestWorker_WriteResponses(t *testing.T) {
	w := newTestWorker(t)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","displayName":"Ann"}`)
	bob := create(t, w, "/Users", `{"userName":"bob@contoso.com"}`)
	cy := create(t, w, "/Users", `{"userName":"cy@contoso.com","displayName":"Cy"}`)
	member := func(id, display string) map[string]any {
		m := map[string]any{"value": id, "type": "User", "$ref": testBase + "/Users/" + id}
		if display != "" {
			m["display"] = display
		}
		return m
	}
	sales := create(t, w, "/Groups", `{"displayName":"Sales"}`)
	// members lists Cy before Ann: the answer follows the users' creation.
	annCy := `[{"value":"` + cy + `"},{"value":"` + ann + `"},{"value":"no-such-user"}]`

	tests := []struct {
		name, method, path, query, body string
		status                          int
		// want lists keys the body must have with these values; absent
		// lists keys it must not have.
		want   map[string]any
		absent []string
	}{
		{name: "POST group with members", method: "POST", path: "/Groups", body: `{"displayName":"Eng","members":` + annCy + `}`, status: 201,
			want: map[string]any{"displayName": "Eng", "members": []any{member(ann, "Ann"), member(cy, "Cy")}}},
		{name: "POST group without members", method: "POST", path: "/Groups", body: `{"displayName":"Empty"}`, status: 201,
			want: map[string]any{"members": []any{}}},
		{name: "POST group excluding members", method: "POST", path: "/Groups", query: "excludedAttributes=members", status: 201,
			body: `{"displayName":"Ops","members":` + annCy + `}`, want: map[string]any{"displayName": "Ops"}, absent: []string{"members"}},
		{name: "POST group with attributes", method: "POST", path: "/Groups", query: "attributes=displayName", status: 201,
			body: `{"displayName":"Legal","externalId":"x","members":` + annCy + `}`, want: map[string]any{"displayName": "Legal"},
			absent: []string{"members", "externalId", "meta"}},
		{name: "POST group with a member sub-attribute", method: "POST", path: "/Groups", query: "attributes=members.value", status: 201,
			body: `{"displayName":"HR","members":` + annCy + `}`,
			want: map[string]any{"members": []any{map[string]any{"value": ann}, map[string]any{"value": cy}}}, absent: []string{"displayName"}},
		{name: "PUT group with members", method: "PUT", path: "/Groups/" + sales, status: 200,
			body: `{"displayName":"Sales","members":[{"value":"` + bob + `"},{"value":"` + ann + `"}]}`,
			want: map[string]any{"members": []any{member(ann, "Ann"), member(bob, "")}}},
		{name: "PUT group replacing members", method: "PUT", path: "/Groups/" + sales, status: 200,
			body: `{"displayName":"Sales","members":[{"value":"` + cy + `"}]}`, want: map[string]any{"members": []any{member(cy, "Cy")}}},
		{name: "PUT group excluding members", method: "PUT", path: "/Groups/" + sales, query: "excludedAttributes=members", status: 200,
			body: `{"displayName":"Sales","members":[{"value":"` + cy + `"}]}`, absent: []string{"members"}},
		{name: "PATCH members naming attributes", method: "PATCH", path: "/Groups/" + sales, query: "attributes=members", status: 200,
			body: `{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + ann + `"}]}]}`,
			want: map[string]any{"members": []any{member(ann, "Ann"), member(cy, "Cy")}}, absent: []string{"displayName"}},
		{name: "PATCH rename naming members", method: "PATCH", path: "/Groups/" + sales, query: "attributes=members,displayName", status: 200,
			body: `{"Operations":[{"op":"replace","value":{"displayName":"Sales EMEA"}}]}`,
			want: map[string]any{"displayName": "Sales EMEA", "members": []any{member(ann, "Ann"), member(cy, "Cy")}}},
		{name: "PATCH rename and members naming members", method: "PATCH", path: "/Groups/" + sales, query: "attributes=members", status: 200,
			body: `{"Operations":[{"op":"replace","path":"displayName","value":"Sales"},{"op":"remove","path":"members[value eq \"` + cy + `\"]"}]}`,
			want: map[string]any{"members": []any{member(ann, "Ann")}}},
		{name: "PATCH naming attributes without members", method: "PATCH", path: "/Groups/" + sales, query: "attributes=externalId", status: 200,
			body: `{"Operations":[{"op":"replace","path":"externalId","value":"s-1"}]}`, want: map[string]any{"externalId": "s-1"},
			absent: []string{"members", "displayName"}},
		{name: "PATCH excluding members answers 204", method: "PATCH", path: "/Groups/" + sales, query: "excludedAttributes=members", status: 204,
			body: `{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + bob + `"}]}]}`},
		{name: "POST user with attributes", method: "POST", path: "/Users", query: "attributes=userName", status: 201,
			body: `{"userName":"dee@contoso.com","title":"T"}`, want: map[string]any{"userName": "dee@contoso.com"}, absent: []string{"title", "active", "meta"}},
		{name: "PUT user excluding attributes", method: "PUT", path: "/Users/" + bob, query: "excludedAttributes=emails,meta", status: 200,
			body: `{"userName":"bob@contoso.com","emails":[{"value":"b@x"}],"title":"T"}`, want: map[string]any{"title": "T"}, absent: []string{"emails", "meta"}},
		{name: "PATCH user with attributes", method: "PATCH", path: "/Users/" + bob, query: "attributes=title", status: 200,
			body: `{"Operations":[{"op":"replace","path":"title","value":"Boss"}]}`, want: map[string]any{"title": "Boss"}, absent: []string{"userName"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqID := "write-" + string(rune('a'+i))
			status, out, reply := doEx(t, w, &scimworker.Exchange{RequestID: reqID, Method: tt.method, Path: tt.path, RawQuery: tt.query, Body: []byte(tt.body)})
			require.Equal(t, tt.status, status, string(reply.Body))
			require.NotEmpty(t, reply.ETag, "every answer about one resource carries its version")
			var logged *string
			require.NoError(t, w.pool.Load().QueryRow(context.Background(),
				`SELECT response_body FROM scim_requests WHERE request_id = $1`, reqID).Scan(&logged))
			if status == 204 {
				require.Empty(t, reply.Body)
				require.Nil(t, logged)
				return
			}
			require.NotNil(t, logged)
			require.JSONEq(t, string(reply.Body), *logged)
			for k, v := range tt.want {
				require.Equal(t, v, out[k], k)
			}
			for _, k := range tt.absent {
				require.NotContains(t, out, k)
			}
			require.Contains(t, out, "id")
			require.Contains(t, out, "schemas")
			path := tt.path
			if tt.method == "POST" {
				path += "/" + out["id"].(string)
			}
			_, read, _ := do(t, w, "GET", path, tt.query, "")
			require.Equal(t, read, out, "the answer equals a GET with the same query")
			if !strings.Contains(tt.query, "meta") && !strings.Contains(tt.query, "attributes=") {
				require.Equal(t, out["meta"].(map[string]any)["version"], reply.ETag)
			}
		})
	}
}
