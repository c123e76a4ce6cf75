package store

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

// planNodes visits the nodes of an EXPLAIN (FORMAT JSON) plan, each with
// the node types below it, and returns the types of node and below.
func planNodes(node map[string]any, visit func(node map[string]any, below []string)) []string {
	var below []string
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			below = append(below, planNodes(k.(map[string]any), visit)...)
		}
	}
	visit(node, below)
	return append(below, node["Node Type"].(string))
}

// TestSortPlans: on a tenant of 50,000 users and 2,000 groups, an order an
// index serves is read from the index (no Sort over the table; with a
// filter on an attribute without an index, at most a top-N sort bounded by
// the page), and any other sorts only rows that went through the MaxSorted
// bound (a Limit below every Sort).
func TestSortPlans(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.NewDatabase(t))
	require.NoError(t, err)
	password, _ := u.User.Password()
	login := u.User.Username()
	u.User = nil
	pool, err := OpenPool(ctx, PoolParams{URL: u.String(), User: login, Password: password, MaxConns: 4, Permits: grantAll{}})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = Migrate(ctx, pool, "tnt_test")
	require.NoError(t, err)
	for _, stmt := range []string{
		`INSERT INTO users (id, user_name, external_id, display_name, emails_lc, doc, created, last_modified)
		 SELECT 'u-' || i, 'user' || i || '@contoso.com', 'ext' || i, 'User ' || i, ARRAY['user' || i || '@mail.contoso.com'],
		        jsonb_build_object('userName', 'user' || i || '@contoso.com', 'title', 'T' || (i % 7),
		          'emails', jsonb_build_array(jsonb_build_object('type', 'work', 'value', 'user' || i || '@mail.contoso.com'))),
		        now(), now()
		 FROM generate_series(0, 49999) AS i`,
		`INSERT INTO groups (id, display_name, external_id, doc, created, last_modified)
		 SELECT 'g-' || i, 'Group ' || i, 'gx' || i, jsonb_build_object('displayName', 'Group ' || i), now(), now()
		 FROM generate_series(0, 1999) AS i`,
		`ANALYZE`,
	} {
		_, err := pool.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	user, group := resource.NewSchemas().Kinds()
	tests := []struct {
		kind    *resource.Kind
		sortBy  string
		filter  string
		indexed bool
	}{
		{user, "id", "", true},
		{user, "userName", "", true},
		{user, "displayName", "", true},
		{user, "externalId", "", true},
		{user, "userName", `title eq "T3"`, true},
		{group, "id", "", true},
		{group, "displayName", "", true},
		{group, "externalId", "", true},
		{user, "title", "", false},
		{user, "emails", "", false},
		{user, "name.familyName", "", false},
		{user, "active", "", false},
		{user, "meta.created", "", false},
		{user, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", `title eq "T3"`, false},
		{group, "meta.lastModified", "", false},
	}
	for _, tt := range tests {
		for _, order := range []string{"ascending", "descending"} {
			t.Run(tt.kind.Name+" "+tt.sortBy+" "+order+" "+tt.filter, func(t *testing.T) {
				sort, err := tt.kind.ParseSort(tt.sortBy, order)
				require.NoError(t, err)
				f, err := tt.kind.ParseFilter(tt.filter)
				require.NoError(t, err)
				b := &sqlBuilder{table: map[string]string{"User": "users", "Group": "groups"}[tt.kind.Name]}
				where := "true"
				if f != nil {
					where, err = b.where(f)
					require.NoError(t, err)
				}
				key, indexed := b.sortKey(sort)
				require.Equal(t, tt.indexed, indexed)
				var sql string
				args := b.args
				if indexed {
					sql = pageSQL(b.table, where, orderBy(sort, key, "seq"), len(b.args))
					args = append(args, 100, 1000)
				} else {
					_, sql = sortedSQL([]source{{table: b.table, where: where, key: key}}, len(b.args), sort)
					args = append(args, MaxSorted+1, 100, 1000)
				}
				var plan []map[string]any
				var raw []byte
				require.NoError(t, pool.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sql, args...).Scan(&raw))
				require.NoError(t, json.Unmarshal(raw, &plan))
				planNodes(plan[0]["Plan"].(map[string]any), func(node map[string]any, below []string) {
					typ := node["Node Type"]
					switch {
					case typ == "Sort" && indexed && tt.filter != "" && node["Sort Method"] == "top-N heapsort":
						// The filter reads the table anyway; the sort keeps a page.
					case typ == "Sort" && indexed:
						t.Errorf("a Sort over the table for an indexed order:\n%s", raw)
					case typ == "Sort" && slices.Equal(below, []string{"Function Scan"}):
						// One resource's values, to find its primary one.
					case typ == "Sort" && !slices.Contains(below, "Limit"):
						t.Errorf("a Sort of rows that passed no bound:\n%s", raw)
					}
				})
			})
		}
	}
}

// grantAll grants every connection.
type grantAll struct{}

func (grantAll) AcquireConn(context.Context, bool) error { return nil }
func (grantAll) ReleaseConn(context.Context) error       { return nil }
