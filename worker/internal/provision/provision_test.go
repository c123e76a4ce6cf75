package provision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// counting counts the decisions a compiled policy makes.
type counting struct {
	d *policy.Decider
	n atomic.Int64
}

func (c *counting) Decide(ctx context.Context, user map[string]any, groups []provision.GroupRef) (provision.Permissions, error) {
	c.n.Add(1)
	return c.d.Decide(ctx, user, groups)
}

// unlimited grants every connection.
type unlimited struct{}

func (unlimited) AcquireConn(context.Context, bool) error { return nil }
func (unlimited) ReleaseConn(context.Context) error       { return nil }

type fixture struct {
	svc     *provision.Service
	decider *counting
	pool    *store.Pool
	schemas *resource.Schemas
}

// setup runs the use cases on a fresh database with the default policy,
// whose mapping grants "Forms Designers" members the designer set when
// their department is "Forms".
func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(pgtest.NewDatabase(t))
	require.NoError(t, err)
	password, _ := u.User.Password()
	user := u.User.Username()
	u.User = nil
	pool, err := store.OpenPool(ctx, store.PoolParams{URL: u.String(), User: user, Password: password, MaxConns: 4, Permits: unlimited{}})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = store.Migrate(ctx, pool, "tnt_test")
	require.NoError(t, err)
	b, err := policy.Default()
	require.NoError(t, err)
	b.Mapping = json.RawMessage(`{"permission_sets": {"viewer": {"permissions": ["forms.view"]}, "designer": {"permissions": ["forms.design"]}},
		"grants": [{"name": "viewers", "group": {"displayName": "Forms Viewers"}, "sets": ["viewer"]},
		           {"name": "designers", "group": {"displayName": "Forms Designers"}, "sets": ["designer"],
		            "when": [{"attribute": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "equals": "Forms"}]}]}`)
	d, err := policy.Compile(ctx, b, policy.Options{})
	require.NoError(t, err)
	schemas := resource.NewSchemas()
	f := &fixture{decider: &counting{d: d}, pool: pool, schemas: schemas}
	f.svc = provision.New(store.New(pool), schemas, slog.New(slog.DiscardHandler))
	f.svc.SetPolicy(&provision.Policy{Version: 1, Decider: f.decider, Reads: d.Reads()})
	return f
}

func (f *fixture) call() *provision.Call {
	return &provision.Call{Base: "https://scim.example/v2", Log: &scimlog.Capture{Entry: scimlog.Entry{RequestID: "req-test", Method: "TEST"}}}
}

func (f *fixture) createUser(t *testing.T, name, department string) string {
	t.Helper()
	body := fmt.Sprintf(`{"userName": %q, "title": "Clerk", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": %q}}`, name, department)
	res, err := f.svc.CreateUser(context.Background(), f.call(), []byte(body))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(res.Body, &out))
	return out["id"].(string)
}

func (f *fixture) permissions(t *testing.T, userID string) []string {
	t.Helper()
	var perms []string
	err := f.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT permissions FROM permissions WHERE user_id = $1), '{}')`, userID).Scan(&perms)
	require.NoError(t, err)
	return perms
}

func patch(ops string) []byte {
	return []byte(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ` + ops + `}`)
}

// TestPatchUser_EvaluatesOnlyWhenTheDecisionCanChange: a PATCH of an
// attribute the policy never reads keeps the stored decision without
// evaluating; one of an attribute a grant's condition names re-evaluates.
func TestPatchUser_EvaluatesOnlyWhenTheDecisionCanChange(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	id := f.createUser(t, "ada@example.com", "Sales")
	res, err := f.svc.CreateGroup(ctx, f.call(), []byte(`{"displayName": "Forms Designers", "members": [{"value": "`+id+`"}]}`))
	require.NoError(t, err)
	require.Equal(t, 201, res.Status)
	require.Empty(t, f.permissions(t, id), "the condition on department does not hold")

	tests := []struct {
		name      string
		ops       string
		evaluated int64
		want      []string
	}{
		{"title, which the policy does not read", `[{"op": "replace", "path": "title", "value": "Manager"}]`, 0, []string{}},
		{"department, which a condition names", `[{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Forms"}]`, 1, []string{"forms.design"}},
		{"nothing", `[{"op": "replace", "path": "title", "value": "Manager"}]`, 0, []string{"forms.design"}},
		{"active, which the policy reads by name", `[{"op": "replace", "path": "active", "value": false}]`, 1, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.decider.n.Load()
			_, err := f.svc.PatchUser(ctx, f.call(), id, patch(tt.ops))
			require.NoError(t, err)
			require.Equal(t, tt.evaluated, f.decider.n.Load()-before)
			require.ElementsMatch(t, tt.want, f.permissions(t, id))
		})
	}
}

// TestPatchGroup_AddingManyMembersEvaluatesEachDistinctUserOnce: users
// who agree on what the policy reads and on their groups share a decision.
func TestPatchGroup_AddingManyMembersEvaluatesEachDistinctUserOnce(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	var members []string
	for i := range 20 {
		dept := "Sales"
		if i%2 == 0 {
			dept = "Forms"
		}
		members = append(members, `{"value": "`+f.createUser(t, fmt.Sprintf("u%d@example.com", i), dept)+`"}`)
	}
	res, err := f.svc.CreateGroup(ctx, f.call(), []byte(`{"displayName": "Forms Designers"}`))
	require.NoError(t, err)
	var g map[string]any
	require.NoError(t, json.Unmarshal(res.Body, &g))

	before := f.decider.n.Load()
	ops := `[{"op": "add", "path": "members", "value": [`
	for i, m := range members {
		if i > 0 {
			ops += ","
		}
		ops += m
	}
	res, err = f.svc.PatchGroup(ctx, f.call(), g["id"].(string), patch(ops+`]}]`))
	require.NoError(t, err)
	require.Equal(t, 204, res.Status)
	require.Equal(t, int64(2), f.decider.n.Load()-before, "two distinct (department, groups) combinations")

	var granted int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM permissions WHERE 'forms.design' = ANY(permissions)`).Scan(&granted))
	require.Equal(t, 10, granted)
}
