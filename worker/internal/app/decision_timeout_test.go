package app

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// slowForTitleSlow grants forms.view to everyone, but its evaluation for a
// user titled "slow" runs 200^4 iterations: far past the 500 ms budget. (The
// loop reads input, so partial evaluation cannot run it at compile time.)
func slowForTitleSlow() scimworker.PolicyBundle {
	n := make([]int, 200)
	for i := range n {
		n[i] = i
	}
	mapping, _ := json.Marshal(map[string]any{"n": n})
	return scimworker.PolicyBundle{
		Modules: map[string]string{
			"permissions.rego": `package scimplane.permissions

view := {"permissions": ["forms.view"], "sets": [], "grants": []}

decision := view if input.user.title != "slow"

decision := view if {
	input.user.title == "slow"
	count([1 | some a in data.mapping.n; some b in data.mapping.n; some c in data.mapping.n; some d in data.mapping.n; input.user.title == "slow"]) > 0
}
`,
			"permissions_test.rego": `package scimplane.permissions_test

test_view if data.scimplane.permissions.decision.permissions == ["forms.view"] with input as {"user": {"title": "fast"}, "groups": []}
`,
		},
		Mapping: mapping,
	}
}

// TestPermissions_DecisionTimeoutIsNoDecision: a decision that runs out of
// its time budget is never stored as permissions nor emitted in the change
// feed: the write fails with 503 and Retry-After, and everything stays as
// it was.
func TestPermissions_DecisionTimeoutIsNoDecision(t *testing.T) {
	w := newTestWorker(t)
	_, err := activate(t, w, 1, slowForTitleSlow())
	require.NoError(t, err)
	alice := create(t, w, "/Users", `{"userName":"alice@contoso.com","title":"fast"}`)
	require.Equal(t, []string{"forms.view"}, userPermissions(t, w, alice))
	// The table, not the feed: the feed shows only changes older than
	// every transaction in flight on the (shared) server.
	changes := func() (n int) {
		require.NoError(t, w.pool.Load().QueryRow(bg, `SELECT count(*) FROM changes`).Scan(&n))
		return n
	}
	before := changes()

	status, body, reply := do(t, w, "PATCH", "/Users/"+alice, "",
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"slow"}]}`)
	require.Equal(t, 503, status, string(reply.Body))
	require.Equal(t, "5", header(reply).Get("Retry-After"))
	require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, body["schemas"])
	require.Contains(t, body["detail"], "did not decide in time")

	u, err := w.GetUser(bg, &scimworker.UserRequest{ID: alice})
	require.NoError(t, err)
	require.Equal(t, []string{"forms.view"}, u.Permissions, "the previous decision stands")
	require.Empty(t, u.Error)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(u.User, &doc))
	require.Equal(t, "fast", doc["title"], "the failed write changed nothing")
	require.Equal(t, before, changes(), "no change in the feed")

	// A user created with the slow title is refused the same way, not
	// stored with no permissions.
	status, _, reply = do(t, w, "POST", "/Users", "", `{"userName":"bob@contoso.com","title":"slow"}`)
	require.Equal(t, 503, status, string(reply.Body))
	status, list, _ := do(t, w, "GET", "/Users", `filter=userName eq "bob@contoso.com"`, "")
	require.Equal(t, 200, status)
	require.EqualValues(t, 0, list["totalResults"])
}
