package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// doEx sends a full exchange (headers included) and returns status and
// decoded body.
func doEx(tb testing.TB, w *Worker, ex *scimworker.Exchange) (int, map[string]any, *scimworker.Reply) {
	tb.Helper()
	if ex.RequestID == "" {
		ex.RequestID = "req-test"
	}
	reply, err := w.Handle(context.Background(), ex)
	require.NoError(tb, err)
	var out map[string]any
	if len(reply.Body) > 0 {
		require.NoError(tb, json.Unmarshal(reply.Body, &out), "body: %s", reply.Body)
	}
	return reply.Status, out, reply
}

// version reads a resource's meta.version, checking it equals the ETag.
func version(tb testing.TB, w *Worker, path string) string {
	tb.Helper()
	status, out, reply := do(tb, w, "GET", path, "", "")
	require.Equal(tb, 200, status, string(reply.Body))
	v := out["meta"].(map[string]any)["version"].(string)
	require.Equal(tb, v, reply.ETag)
	return v
}

// logged returns the status and scimType of the SCIM log row of reqID.
func logged(tb testing.TB, w *Worker, reqID string) (int, string) {
	tb.Helper()
	var status int
	var scimType *string
	require.NoError(tb, w.pool.Load().QueryRow(context.Background(),
		`SELECT status, scim_type FROM scim_requests WHERE request_id = $1`, reqID).Scan(&status, &scimType))
	if scimType == nil {
		return status, ""
	}
	return status, *scimType
}

// TestWorker_Preconditions: If-Match and If-None-Match were ignored (a PUT
// with a stale If-Match wrote, a GET with the current If-None-Match
// answered 200). Each case starts from a resource at version 2, so that
// W/"1" is stale.
func TestWorker_Preconditions(t *testing.T) {
	w := newTestWorker(t)
	member := create(t, w, "/Users", `{"userName":"member@contoso.com","displayName":"Member"}`)
	const (
		current = "$current"
		stale   = `W/"1"`
	)
	tests := []struct {
		name, kind, method, body string
		ifMatch, ifNoneMatch     string
		want                     int
	}{
		// Users.
		{"GET if-none-match current", "Users", "GET", "", "", current, 304},
		{"GET if-none-match star", "Users", "GET", "", "", "*", 304},
		{"GET if-none-match stale", "Users", "GET", "", "", stale, 200},
		{"GET if-match stale", "Users", "GET", "", stale, "", 412},
		{"GET if-match current", "Users", "GET", "", current, "", 200},
		{"PUT if-match current", "Users", "PUT", `{"userName":"$name","title":"New"}`, current, "", 200},
		{"PUT if-match stale", "Users", "PUT", `{"userName":"$name","title":"New"}`, stale, "", 412},
		{"PUT if-match star", "Users", "PUT", `{"userName":"$name","title":"New"}`, "*", "", 200},
		{"PUT if-match strong spelling", "Users", "PUT", `{"userName":"$name","title":"New"}`, `"2"`, "", 200},
		{"PUT if-none-match star", "Users", "PUT", `{"userName":"$name","title":"New"}`, "", "*", 412},
		{"PUT if-none-match stale", "Users", "PUT", `{"userName":"$name","title":"New"}`, "", stale, 200},
		{"PATCH if-match current", "Users", "PATCH", `{"Operations":[{"op":"replace","path":"title","value":"New"}]}`, current, "", 200},
		{"PATCH if-match stale", "Users", "PATCH", `{"Operations":[{"op":"replace","path":"title","value":"New"}]}`, stale, "", 412},
		{"PATCH if-match list with current", "Users", "PATCH", `{"Operations":[{"op":"replace","path":"title","value":"New"}]}`, `W/"9", ` + current, "", 200},
		{"PATCH if-none-match current", "Users", "PATCH", `{"Operations":[{"op":"replace","path":"title","value":"New"}]}`, "", current, 412},
		{"DELETE if-match stale", "Users", "DELETE", "", stale, "", 412},
		{"DELETE if-match current", "Users", "DELETE", "", current, "", 204},
		// Groups, members included in the version.
		{"group GET if-none-match current", "Groups", "GET", "", "", current, 304},
		{"group GET if-none-match stale", "Groups", "GET", "", "", stale, 200},
		{"group PUT if-match stale", "Groups", "PUT", `{"displayName":"$name"}`, stale, "", 412},
		{"group PUT if-match current", "Groups", "PUT", `{"displayName":"$name"}`, current, "", 200},
		{"group PATCH members if-match stale", "Groups", "PATCH", `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"$member"}]}]}`, stale, "", 412},
		{"group PATCH members if-match current", "Groups", "PATCH", `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"$member"}]}]}`, current, "", 204},
		{"group PATCH rename if-match stale", "Groups", "PATCH", `{"Operations":[{"op":"Replace","path":"displayName","value":"$name renamed"}]}`, stale, "", 412},
		{"group PATCH rename if-none-match current", "Groups", "PATCH", `{"Operations":[{"op":"Replace","path":"displayName","value":"$name renamed"}]}`, "", current, 412},
		{"group PATCH rename if-match current", "Groups", "PATCH", `{"Operations":[{"op":"Replace","path":"displayName","value":"$name renamed"}]}`, current, "", 204},
		{"group DELETE if-match stale", "Groups", "DELETE", "", stale, "", 412},
		{"group DELETE if-match current", "Groups", "DELETE", "", current, "", 204},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("case%d-%s", i, randomSuffix())
			var path string
			if tt.kind == "Users" {
				path = "/Users/" + create(t, w, "/Users", `{"userName":"`+name+`"}`)
				patch(t, w, path, `[{"op":"replace","path":"title","value":"Old"}]`, 200)
			} else {
				path = "/Groups/" + create(t, w, "/Groups", `{"displayName":"`+name+`"}`)
				patch(t, w, path, `[{"op":"Add","path":"members","value":[{"value":"`+member+`"}]}]`, 204)
			}
			before := version(t, w, path)
			require.Equal(t, `W/"2"`, before)
			subst := func(s string) string {
				return strings.NewReplacer(current, before, "$name", name, "$member", member).Replace(s)
			}
			reqID := "pre-" + name
			status, out, reply := doEx(t, w, &scimworker.Exchange{RequestID: reqID, Method: tt.method, Path: path,
				Body: []byte(subst(tt.body)), IfMatch: subst(tt.ifMatch), IfNoneMatch: subst(tt.ifNoneMatch)})
			require.Equal(t, tt.want, status, string(reply.Body))
			loggedStatus, loggedType := logged(t, w, reqID)
			require.Equal(t, tt.want, loggedStatus, "the exchange's log row")

			switch tt.want {
			case 304:
				require.Empty(t, reply.Body)
				require.Equal(t, before, reply.ETag)
				require.Equal(t, before, version(t, w, path))
			case 412:
				require.Equal(t, map[string]any{
					"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": "412",
					"scimType": "preconditionFailed", "detail": out["detail"],
				}, out)
				require.Contains(t, out["detail"], before)
				require.Equal(t, "preconditionFailed", loggedType)
				// Nothing was written: same version, still there.
				require.Equal(t, before, version(t, w, path))
			case 204:
				if tt.method == "DELETE" {
					require.Empty(t, reply.ETag)
					st, _, _ := do(t, w, "GET", path, "", "")
					require.Equal(t, 404, st)
					return
				}
				after := version(t, w, path)
				require.Equal(t, `W/"3"`, after)
				require.Equal(t, after, reply.ETag, "a 204 still carries the new version")
			case 200:
				require.Equal(t, out["meta"].(map[string]any)["version"], reply.ETag)
				after := version(t, w, path)
				require.Equal(t, after, reply.ETag)
				if tt.method == "GET" {
					require.Equal(t, before, after)
				} else {
					require.Equal(t, `W/"3"`, after)
				}
			}
		})
	}

	// Preconditions do not hide a missing resource.
	status, _, _ := doEx(t, w, &scimworker.Exchange{Method: "PATCH", Path: "/Users/unknown", IfMatch: `W/"1"`,
		Body: []byte(`{"Operations":[{"op":"replace","path":"title","value":"x"}]}`)})
	require.Equal(t, 404, status)
	status, _, _ = doEx(t, w, &scimworker.Exchange{Method: "GET", Path: "/Groups/unknown", IfNoneMatch: "*"})
	require.Equal(t, 404, status)
	// Lists ignore them.
	status, _, _ = doEx(t, w, &scimworker.Exchange{Method: "GET", Path: "/Users", IfMatch: `W/"1234"`})
	require.Equal(t, 200, status)
}

// TestWorker_GroupVersionFollowsMembers: a group's version changes with
// everything its representation shows, members included, and only then.
func TestWorker_GroupVersionFollowsMembers(t *testing.T) {
	w := newTestWorker(t)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","displayName":"Ann"}`)
	bob := create(t, w, "/Users", `{"userName":"bob@contoso.com","displayName":"Bob"}`)
	outsider := create(t, w, "/Users", `{"userName":"cy@contoso.com","displayName":"Cy"}`)
	gid := create(t, w, "/Groups", `{"displayName":"Sales","members":[{"value":"`+ann+`"}]}`)
	group := "/Groups/" + gid
	add := func(id string) string {
		return `{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + id + `"}]}]}`
	}
	tests := []struct {
		name, method, path, body string
		changes                  bool
	}{
		{"add a member", "PATCH", group, add(bob), true},
		{"add the same member again", "PATCH", group, add(bob), false},
		{"add an unknown id", "PATCH", group, add("no-such-user"), false},
		{"remove a member by filter", "PATCH", group, `{"Operations":[{"op":"remove","path":"members[value eq \"` + bob + `\"]"}]}`, true},
		{"remove a non-member", "PATCH", group, `{"Operations":[{"op":"remove","path":"members[value eq \"` + bob + `\"]"}]}`, false},
		{"rename a member", "PATCH", "/Users/" + ann, `{"Operations":[{"op":"replace","path":"displayName","value":"Ann Lee"}]}`, true},
		{"other attribute of a member", "PATCH", "/Users/" + ann, `{"Operations":[{"op":"replace","path":"title","value":"Boss"}]}`, false},
		{"PUT a member with a new display name", "PUT", "/Users/" + ann, `{"userName":"ann@contoso.com","displayName":"Ann L."}`, true},
		{"rename a non-member", "PATCH", "/Users/" + outsider, `{"Operations":[{"op":"replace","path":"displayName","value":"Cyrus"}]}`, false},
		{"delete a non-member", "DELETE", "/Users/" + outsider, "", false},
		{"PUT the same members", "PUT", group, `{"displayName":"Sales","members":[{"value":"` + ann + `"}]}`, true},
		{"delete a member", "DELETE", "/Users/" + ann, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := version(t, w, group)
			status, _, reply := do(t, w, tt.method, tt.path, "", tt.body)
			require.Less(t, status, 300, string(reply.Body))
			after := version(t, w, group)
			if tt.changes {
				require.NotEqual(t, before, after)
			} else {
				require.Equal(t, before, after)
			}
			// A client holding the old version sees the change, or a 304.
			status, _, _ = doEx(t, w, &scimworker.Exchange{Method: "GET", Path: group, IfNoneMatch: before})
			require.Equal(t, map[bool]int{true: 200, false: 304}[tt.changes], status)
		})
	}
	_, out, _ := do(t, w, "GET", group, "", "")
	require.Equal(t, []any{}, out["members"])
}
