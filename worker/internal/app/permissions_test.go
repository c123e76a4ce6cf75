package app

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/policy"
)

func adminOp(t testing.TB, w *Worker, op string, args any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(args)
	require.NoError(t, err)
	reply, err := w.Admin(context.Background(), &scimworker.AdminRequest{RequestID: "t", Op: op, Args: b})
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(reply.Body, &out), string(reply.Body))
	return reply.Status, out
}

func userPermissions(t testing.TB, w *Worker, id string) []any {
	t.Helper()
	status, out := adminOp(t, w, scimworker.OpUserGet, map[string]any{"id": id})
	require.Equal(t, 200, status, out)
	return out["permissions"].([]any)
}

func create(t testing.TB, w *Worker, path, body string) string {
	t.Helper()
	status, out, reply := do(t, w, "POST", path, "", body)
	require.Equal(t, 201, status, string(reply.Body))
	return out["id"].(string)
}

func patch(t testing.TB, w *Worker, path, ops string, want int) {
	t.Helper()
	status, _, reply := do(t, w, "PATCH", path, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`)
	require.Equal(t, want, status, string(reply.Body))
}

// defaultBundle returns the shipped policy with mapping replaced.
func defaultBundle(t testing.TB, mapping string) map[string]any {
	t.Helper()
	b, err := policy.Default()
	require.NoError(t, err)
	if mapping == "" {
		mapping = string(b.Mapping)
	}
	return map[string]any{"modules": b.Modules, "mapping": json.RawMessage(mapping)}
}

func TestPermissions_FollowMembershipChanges(t *testing.T) {
	w := newTestWorker(t)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Human Resources"}}`)
	bob := create(t, w, "/Users", `{"userName":"bob@contoso.com"}`)
	designers := create(t, w, "/Groups", `{"displayName":"Forms Designers"}`)
	hr := create(t, w, "/Groups", `{"displayName":"HR","members":[{"value":"`+ann+`"},{"value":"`+bob+`"}]}`)
	require.Equal(t, []any{"users.manage"}, userPermissions(t, w, ann), "HR grant applies to the HR department")
	require.Empty(t, userPermissions(t, w, bob), "HR grant has a department condition bob does not meet")

	patch(t, w, "/Groups/"+designers, `[{"op":"Add","path":"members","value":[{"value":"`+bob+`"}]}]`, 204)
	require.Equal(t, []any{"forms.design", "forms.submit", "forms.view"}, userPermissions(t, w, bob))

	// A PATCH that fails after adding a member changes nothing, permissions included.
	patch(t, w, "/Groups/"+designers, `[{"op":"Add","path":"members","value":[{"value":"`+ann+`"}]},{"op":"replace","path":"displayName","value":""}]`, 400)
	require.Equal(t, []any{"users.manage"}, userPermissions(t, w, ann))

	// The flag dialect's removal, then a rename the mapping matches on.
	patch(t, w, "/Groups/"+designers, `[{"op":"remove","path":"members[value eq \"`+bob+`\"]"}]`, 204)
	require.Empty(t, userPermissions(t, w, bob))
	patch(t, w, "/Groups/"+hr, `[{"op":"Replace","path":"displayName","value":"Forms Viewers"}]`, 204)
	require.Equal(t, []any{"forms.view"}, userPermissions(t, w, bob))

	// Disabled users keep memberships but get nothing; re-enabled, it is back.
	patch(t, w, "/Users/"+bob, `[{"op":"Replace","path":"active","value":"False"}]`, 200)
	require.Empty(t, userPermissions(t, w, bob))
	patch(t, w, "/Users/"+bob, `[{"op":"replace","path":"active","value":true}]`, 200)
	require.Equal(t, []any{"forms.view"}, userPermissions(t, w, bob))

	// The change feed tells the application what happened, in order.
	status, feed := adminOp(t, w, scimworker.OpChanges, map[string]any{"limit": 500})
	require.Equal(t, 200, status)
	var kinds []string
	for _, c := range feed["changes"].([]any) {
		ch := c.(map[string]any)
		if ch["user_id"] == bob {
			kinds = append(kinds, ch["kind"].(string))
		}
	}
	require.Equal(t, []string{"member_added", "member_added", "permissions_changed", "member_removed", "permissions_changed",
		"permissions_changed", "permissions_changed", "permissions_changed"}, kinds)
	status, again := adminOp(t, w, scimworker.OpChanges, map[string]any{"after": feed["next"]})
	require.Equal(t, 200, status)
	require.Empty(t, again["changes"])
	require.Equal(t, feed["next"], again["next"])
}

func TestPermissions_ActivateRollbackAndRejects(t *testing.T) {
	w := newTestWorker(t)
	u := create(t, w, "/Users", `{"userName":"u@contoso.com"}`)
	create(t, w, "/Groups", `{"displayName":"Sales","members":[{"value":"`+u+`"}]}`)
	require.Empty(t, userPermissions(t, w, u))

	v1 := defaultBundle(t, `{"permission_sets":{"viewer":{"permissions":["forms.view"]}},"grants":[{"name":"sales","group":{"displayName":"sales"},"sets":["viewer"]}]}`)
	v1["version"] = 1
	status, out := adminOp(t, w, scimworker.OpPolicyActivate, v1)
	require.Equal(t, 200, status, out)
	require.EqualValues(t, 1, out["users"])
	require.Equal(t, []any{"forms.view"}, userPermissions(t, w, u))

	v2 := defaultBundle(t, "")
	v2["version"] = 2
	status, out = adminOp(t, w, scimworker.OpPolicyActivate, v2)
	require.Equal(t, 200, status, out)
	require.Empty(t, userPermissions(t, w, u))

	v1["version"] = 3 // rollback: v1's content activated again
	status, _ = adminOp(t, w, scimworker.OpPolicyActivate, v1)
	require.Equal(t, 200, status)
	require.Equal(t, []any{"forms.view"}, userPermissions(t, w, u))

	broken := defaultBundle(t, "")
	broken["version"] = 4
	broken["modules"].(map[string]string)["permissions.rego"] += "\nthis is not rego\n"
	status, out = adminOp(t, w, scimworker.OpPolicyActivate, broken)
	require.Equal(t, 422, status)
	problem := out["problems"].([]any)[0].(map[string]any)
	require.Equal(t, "permissions.rego", problem["file"])
	require.NotZero(t, problem["line"])

	failing := defaultBundle(t, "")
	failing["version"] = 5
	failing["modules"].(map[string]string)["extra_test.rego"] = "package extra_test\n\ntest_wrong if { 1 == 2 }\n"
	status, out = adminOp(t, w, scimworker.OpPolicyActivate, failing)
	require.Equal(t, 422, status, out)
	require.Equal(t, "policy tests failed", out["error"])

	status, active := adminOp(t, w, scimworker.OpPolicyActive, nil)
	require.Equal(t, 200, status)
	require.EqualValues(t, 3, active["version"], "rejected versions never become active")
	require.Equal(t, []any{"forms.view"}, userPermissions(t, w, u))
}

const boomPolicy = `package scimplane.permissions

decision := {"permissions": ["forms.view"], "sets": ["viewer"], "grants": [{"permission": "forms.view", "set": "viewer", "group": "g", "rule": "everyone"}]} if {
	input.user.title != "boom"
}

decision := {"permissions": [sprintf("%d", [1 / 0])], "sets": [], "grants": []} if {
	input.user.title == "boom"
}
`

func TestPermissions_PolicyErrorGrantsNothing(t *testing.T) {
	w := newTestWorker(t)
	fine := create(t, w, "/Users", `{"userName":"fine@contoso.com","title":"ok"}`)
	boom := create(t, w, "/Users", `{"userName":"boom@contoso.com","title":"boom"}`)
	status, out := adminOp(t, w, scimworker.OpPolicyActivate, map[string]any{
		"version": 1, "mapping": json.RawMessage(`{}`),
		"modules": map[string]string{"p.rego": boomPolicy, "p_test.rego": "package p_test\n\ntest_fine if { data.scimplane.permissions.decision.permissions == [\"forms.view\"] with input as {\"user\": {\"title\": \"x\"}, \"groups\": []} }\n"},
	})
	require.Equal(t, 200, status, out)
	require.Equal(t, []any{"forms.view"}, userPermissions(t, w, fine))
	status, got := adminOp(t, w, scimworker.OpUserGet, map[string]any{"id": boom})
	require.Equal(t, 200, status)
	require.Empty(t, got["permissions"])
	require.NotEmpty(t, got["error"], "the failure is reported on the user")
}

// TestPermissions_DryRunAndExplain runs on 3,000 users in 300 groups.
func TestPermissions_DryRunAndExplain(t *testing.T) {
	w := newTestWorker(t)
	ctx := context.Background()
	seedUsers(t, w, 3000)
	_, err := w.pool.Load().Exec(ctx, `INSERT INTO groups (id, display_name, doc, created, last_modified)
		SELECT 'g-' || i, 'G-' || i, jsonb_build_object('displayName', 'G-' || i), now(), now() FROM generate_series(0, 299) i`)
	require.NoError(t, err)
	_, err = w.pool.Load().Exec(ctx, `INSERT INTO members (group_id, user_id) SELECT 'g-' || (i % 300), 'u-' || i FROM generate_series(0, 2999) i`)
	require.NoError(t, err)

	candidate := defaultBundle(t, `{"permission_sets":{"viewer":{"permissions":["forms.view"]},"designer":{"permissions":["forms.view","forms.design"]}},
		"grants":[{"name":"g7-designers","group":{"id":"g-7"},"sets":["designer"]},{"name":"g8-viewers","group":{"displayName":"G-8"},"sets":["viewer"]}]}`)
	status, out := adminOp(t, w, scimworker.OpPolicyDryRun, candidate)
	require.Equal(t, 200, status, out)
	require.EqualValues(t, 3000, out["users"])
	require.EqualValues(t, 20, out["changed"])
	gains := map[string][]any{}
	for _, c := range out["changes"].([]any) {
		ch := c.(map[string]any)
		require.Empty(t, ch["lost"])
		gains[ch["user_id"].(string)] = ch["gained"].([]any)
	}
	require.Equal(t, []any{"forms.design", "forms.view"}, gains["u-7"])
	require.Equal(t, []any{"forms.design", "forms.view"}, gains["u-2707"])
	require.Equal(t, []any{"forms.view"}, gains["u-308"])
	require.Empty(t, userPermissions(t, w, "u-7"), "a dry run changes nothing")

	candidate["version"] = 1
	status, _ = adminOp(t, w, scimworker.OpPolicyActivate, candidate)
	require.Equal(t, 200, status)
	status, ex := adminOp(t, w, scimworker.OpUserExplain, map[string]any{"id": "u-307", "permission": "forms.design"})
	require.Equal(t, 200, status, ex)
	require.Equal(t, true, ex["granted"])
	require.Equal(t, []any{map[string]any{"permission": "forms.design", "set": "designer", "group": "g-7", "rule": "g7-designers"}}, ex["grants"])
	status, ex = adminOp(t, w, scimworker.OpUserExplain, map[string]any{"id": "u-8", "permission": "forms.design"})
	require.Equal(t, 200, status)
	require.Equal(t, false, ex["granted"])
	require.NotEmpty(t, ex["reasons"])

	status, groups := adminOp(t, w, scimworker.OpGroupsList, map[string]any{"q": "G-7", "limit": 500})
	require.Equal(t, 200, status)
	var g7 map[string]any
	for _, g := range groups["groups"].([]any) {
		if g.(map[string]any)["id"] == "g-7" {
			g7 = g.(map[string]any)
		}
	}
	require.EqualValues(t, 10, g7["members"])
	require.Equal(t, []any{"designer"}, g7["sets"])

	// Paging through every user with its permissions visits each once.
	seen, after := 0, ""
	for {
		status, page := adminOp(t, w, scimworker.OpUsersList, map[string]any{"after": after, "limit": 500})
		require.Equal(t, 200, status)
		seen += len(page["users"].([]any))
		if after = page["next"].(string); after == "" {
			break
		}
	}
	require.Equal(t, 3000, seen)
}
