package app

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/policy"
)

var bg = context.Background()

// refused returns the refusal err is, failing the test if it is not one.
func refused(t testing.TB, err error) *scimworker.Error {
	t.Helper()
	var e *scimworker.Error
	require.ErrorAs(t, err, &e)
	return e
}

func userPermissions(t testing.TB, w *Worker, id string) []string {
	t.Helper()
	u, err := w.GetUser(bg, &scimworker.UserRequest{ID: id})
	require.NoError(t, err)
	return u.Permissions
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
func defaultBundle(t testing.TB, mapping string) scimworker.PolicyBundle {
	t.Helper()
	b, err := policy.Default()
	require.NoError(t, err)
	if mapping != "" {
		b.Mapping = json.RawMessage(mapping)
	}
	return b
}

func activate(t testing.TB, w *Worker, version int64, b scimworker.PolicyBundle) (*scimworker.Activation, error) {
	t.Helper()
	return w.ActivatePolicy(bg, &scimworker.ActivateRequest{Version: version, PolicyBundle: b})
}

func TestPermissions_FollowMembershipChanges(t *testing.T) {
	w := newTestWorker(t)
	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Human Resources"}}`)
	bob := create(t, w, "/Users", `{"userName":"bob@contoso.com"}`)
	designers := create(t, w, "/Groups", `{"displayName":"Forms Designers"}`)
	hr := create(t, w, "/Groups", `{"displayName":"HR","members":[{"value":"`+ann+`"},{"value":"`+bob+`"}]}`)
	require.Equal(t, []string{"users.manage"}, userPermissions(t, w, ann), "HR grant applies to the HR department")
	require.Empty(t, userPermissions(t, w, bob), "HR grant has a department condition bob does not meet")

	patch(t, w, "/Groups/"+designers, `[{"op":"Add","path":"members","value":[{"value":"`+bob+`"}]}]`, 204)
	require.Equal(t, []string{"forms.design", "forms.submit", "forms.view"}, userPermissions(t, w, bob))

	// A PATCH that fails after adding a member changes nothing, permissions included.
	patch(t, w, "/Groups/"+designers, `[{"op":"Add","path":"members","value":[{"value":"`+ann+`"}]},{"op":"replace","path":"displayName","value":""}]`, 400)
	require.Equal(t, []string{"users.manage"}, userPermissions(t, w, ann))

	// The flag dialect's removal, then a rename the mapping matches on.
	patch(t, w, "/Groups/"+designers, `[{"op":"remove","path":"members[value eq \"`+bob+`\"]"}]`, 204)
	require.Empty(t, userPermissions(t, w, bob))
	patch(t, w, "/Groups/"+hr, `[{"op":"Replace","path":"displayName","value":"Forms Viewers"}]`, 204)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, bob))

	// Disabled users keep memberships but get nothing; re-enabled, it is back.
	patch(t, w, "/Users/"+bob, `[{"op":"Replace","path":"active","value":"False"}]`, 200)
	require.Empty(t, userPermissions(t, w, bob))
	patch(t, w, "/Users/"+bob, `[{"op":"replace","path":"active","value":true}]`, 200)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, bob))

	// The change feed tells the application what happened, in order. It
	// shows a change once every transaction older than it has ended, in
	// the whole PostgreSQL cluster (other tests' included), so the last
	// ones may take a moment to appear.
	want := []string{"user_created", "member_added", "member_added", "permissions_changed", "member_removed", "permissions_changed",
		"permissions_changed", "user_deactivated", "permissions_changed", "user_updated", "permissions_changed"}
	var feed *scimworker.ChangesPage
	var kinds []string
	require.Eventually(t, func() bool {
		var err error
		feed, err = w.Changes(bg, &scimworker.ChangesRequest{Limit: 500})
		require.NoError(t, err)
		kinds = kinds[:0]
		for _, ch := range feed.Changes {
			if ch.UserID == bob {
				kinds = append(kinds, ch.Kind)
			}
		}
		return len(kinds) >= len(want)
	}, 30*time.Second, 50*time.Millisecond, "the feed shows %v", kinds)
	require.Equal(t, want, kinds)
	again, err := w.Changes(bg, &scimworker.ChangesRequest{After: feed.Next})
	require.NoError(t, err)
	require.Empty(t, again.Changes)
	require.Equal(t, feed.Next, again.Next)
}

func TestPermissions_ActivateRollbackAndRejects(t *testing.T) {
	w := newTestWorker(t)
	u := create(t, w, "/Users", `{"userName":"u@contoso.com"}`)
	create(t, w, "/Groups", `{"displayName":"Sales","members":[{"value":"`+u+`"}]}`)
	require.Empty(t, userPermissions(t, w, u))

	v1 := defaultBundle(t, `{"permission_sets":{"viewer":{"permissions":["forms.view"]}},"grants":[{"name":"sales","group":{"displayName":"sales"},"sets":["viewer"]}]}`)
	out, err := activate(t, w, 1, v1)
	require.NoError(t, err)
	require.Equal(t, 1, out.Users)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, u))

	_, err = activate(t, w, 2, defaultBundle(t, ""))
	require.NoError(t, err)
	require.Empty(t, userPermissions(t, w, u))

	_, err = activate(t, w, 3, v1) // rollback: v1's content activated again
	require.NoError(t, err)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, u))

	// Activating the version in force again (a retry) recomputes and
	// changes nothing.
	before, err := w.Changes(bg, &scimworker.ChangesRequest{Limit: 500})
	require.NoError(t, err)
	again, err := activate(t, w, 3, v1)
	require.NoError(t, err)
	require.Equal(t, 1, again.Users)
	after, err := w.Changes(bg, &scimworker.ChangesRequest{Limit: 500})
	require.NoError(t, err)
	require.Equal(t, before.Changes, after.Changes)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, u))

	broken := defaultBundle(t, "")
	broken.Modules["permissions.rego"] += "\nthis is not rego\n"
	_, err = activate(t, w, 4, broken)
	e := refused(t, err)
	require.Equal(t, 422, e.Status)
	require.Equal(t, "permissions.rego", e.Problems[0].File)
	require.NotZero(t, e.Problems[0].Line)

	failing := defaultBundle(t, "")
	failing.Modules["extra_test.rego"] = "package extra_test\n\ntest_wrong if { 1 == 2 }\n"
	_, err = activate(t, w, 5, failing)
	e = refused(t, err)
	require.Equal(t, 422, e.Status, e)
	require.Equal(t, "policy tests failed", e.Message)

	_, err = activate(t, w, 0, defaultBundle(t, ""))
	require.Equal(t, 400, refused(t, err).Status, "a version needs a number")

	active, err := w.ActivePolicy(bg, &scimworker.ActivePolicyRequest{})
	require.NoError(t, err)
	require.EqualValues(t, 3, active.Version, "rejected versions never become active")
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, u))
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
	_, err := activate(t, w, 1, scimworker.PolicyBundle{Mapping: json.RawMessage(`{}`),
		Modules: map[string]string{"p.rego": boomPolicy, "p_test.rego": "package p_test\n\ntest_fine if { data.scimplane.permissions.decision.permissions == [\"forms.view\"] with input as {\"user\": {\"title\": \"x\"}, \"groups\": []} }\n"},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, fine))
	got, err := w.GetUser(bg, &scimworker.UserRequest{ID: boom})
	require.NoError(t, err)
	require.Empty(t, got.Permissions)
	require.NotEmpty(t, got.Error, "the failure is reported on the user")
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
	out, err := w.DryRunPolicy(bg, &scimworker.DryRunRequest{PolicyBundle: candidate})
	require.NoError(t, err)
	require.Equal(t, 3000, out.Users)
	require.Equal(t, 20, out.Changed)
	gains := map[string][]string{}
	for _, ch := range out.Changes {
		require.Empty(t, ch.Lost)
		gains[ch.UserID] = ch.Gained
	}
	require.Equal(t, []string{"forms.design", "forms.view"}, gains["u-7"])
	require.Equal(t, []string{"forms.design", "forms.view"}, gains["u-2707"])
	require.Equal(t, []string{"forms.view"}, gains["u-308"])
	require.Empty(t, userPermissions(t, w, "u-7"), "a dry run changes nothing")

	_, err = activate(t, w, 1, candidate)
	require.NoError(t, err)
	ex, err := w.ExplainUser(bg, &scimworker.ExplainRequest{ID: "u-307", Permission: "forms.design"})
	require.NoError(t, err)
	require.True(t, ex.Granted)
	require.Equal(t, []scimworker.Grant{{Permission: "forms.design", Set: "designer", Group: "g-7", Rule: "g7-designers"}}, ex.Grants)
	require.Equal(t, int64(1), ex.PolicyVersion)
	ex, err = w.ExplainUser(bg, &scimworker.ExplainRequest{ID: "u-8", Permission: "forms.design"})
	require.NoError(t, err)
	require.False(t, ex.Granted)
	require.NotEmpty(t, ex.Reasons)
	_, err = w.ExplainUser(bg, &scimworker.ExplainRequest{ID: "u-8"})
	require.Equal(t, 400, refused(t, err).Status)
	_, err = w.ExplainUser(bg, &scimworker.ExplainRequest{ID: "nobody", Permission: "forms.design"})
	require.Equal(t, 404, refused(t, err).Status)

	groups, err := w.ListGroups(bg, &scimworker.GroupsRequest{Q: "G-7", Limit: 500})
	require.NoError(t, err)
	var g7 scimworker.GroupRow
	for _, g := range groups.Groups {
		if g.ID == "g-7" {
			g7 = g
		}
	}
	require.EqualValues(t, 10, g7.Members)
	require.Equal(t, []string{"designer"}, g7.Sets)

	members, err := w.GroupMembers(bg, &scimworker.GroupMembersRequest{ID: "g-7", Limit: 4})
	require.NoError(t, err)
	require.Equal(t, g7, members.Group)
	require.Len(t, members.Members, 4)
	require.NotEmpty(t, members.Next)
	_, err = w.GroupMembers(bg, &scimworker.GroupMembersRequest{ID: "g-none"})
	require.Equal(t, 404, refused(t, err).Status)

	// Paging through every user with its permissions visits each once.
	seen, after := 0, ""
	for {
		page, err := w.ListUsers(bg, &scimworker.UsersRequest{After: after, Limit: 500})
		require.NoError(t, err)
		seen += len(page.Users)
		if after = page.Next; after == "" {
			break
		}
	}
	require.Equal(t, 3000, seen)
}
