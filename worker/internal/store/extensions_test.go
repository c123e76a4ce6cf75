package store

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

// TestExtensions_DeclareRemoveAndFilter: declarations are checked against
// the stored ones, removal waits for values to go, and the filter SQL of
// declared attributes compares by type and never fails on a value of
// another type (one a write racing a removal could leave).
func TestExtensions_DeclareRemoveAndFilter(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.NewDatabase(t))
	require.NoError(t, err)
	password, _ := u.User.Password()
	login := u.User.Username()
	u.User = nil
	pool, err := OpenPool(ctx, PoolParams{URL: u.String(), User: login, Password: password, MaxConns: 2, Permits: grantAll{}})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = Migrate(ctx, pool, "tnt_test")
	require.NoError(t, err)
	st := New(pool)

	const urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	for _, d := range []resource.Declared{
		{Schema: urn, ResourceType: "User", Name: "level", Type: resource.Integer},
		{Schema: urn, ResourceType: "User", Name: "since", Type: resource.DateTime},
		{Schema: urn, ResourceType: "User", Name: "tags", Type: resource.String, MultiValued: true},
	} {
		_, _, err := st.DeclareExtensionAttribute(ctx, d)
		require.NoError(t, err)
	}
	_, _, err = st.DeclareExtensionAttribute(ctx, resource.Declared{Schema: urn, ResourceType: "User", Name: "LEVEL", Type: resource.String})
	require.ErrorContains(t, err, "already declared")
	all, err := st.ExtensionAttributes(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)

	_, err = pool.Exec(ctx, `INSERT INTO users (id, user_name, doc, created, last_modified) VALUES
		('u1', 'a', jsonb_build_object('userName', 'a', $1::text, '{"level": 9, "since": "2026-01-01T00:00:00Z", "tags": ["x", "y"]}'::jsonb), now(), now()),
		('u2', 'b', jsonb_build_object('userName', 'b', $1::text, '{"level": 10, "since": "2025-01-01T00:00:00+02:00"}'::jsonb), now(), now()),
		('u3', 'c', jsonb_build_object('userName', 'c', $1::text, '{"level": "ten", "since": 5, "tags": "x"}'::jsonb), now(), now())`, urn)
	require.NoError(t, err)

	user, _ := resource.NewSchemas(all...).Kinds()
	for filter, want := range map[string][]string{
		urn + `:level gt 9`:                           {"u2"},
		urn + `:level le 10`:                          {"u1", "u2"},
		urn + `:level ne 9`:                           {"u2", "u3"},
		urn + `:level pr`:                             {"u1", "u2", "u3"},
		urn + `:since lt "2025-06-01T00:00:00Z"`:      {"u2"},
		urn + `:since ge "2025-12-31T23:00:00-01:00"`: {"u1"},
		urn + `:tags eq "Y"`:                          {"u1"},
		urn + `:tags pr`:                              {"u1"},
	} {
		f, err := user.ParseFilter(filter)
		require.NoError(t, err, filter)
		users, _, err := st.ListUsers(ctx, provision.Query{Filter: f, Start: 1, Count: 10})
		require.NoError(t, err, filter)
		var ids []string
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		slices.Sort(ids)
		require.Equal(t, want, ids, filter)
	}
	sort, err := user.ParseSort(urn+":level", "descending")
	require.NoError(t, err)
	users, _, err := st.ListUsers(ctx, provision.Query{Sort: sort, Start: 1, Count: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"u3", "u2", "u1"}, []string{users[0].ID, users[1].ID, users[2].ID}, "no number first when descending, then 10 before 9")

	holders, err := st.RemoveExtensionAttribute(ctx, urn, "Level")
	require.True(t, errors.Is(err, ErrInUse))
	require.Equal(t, int64(3), holders)
	_, err = st.RemoveExtensionAttribute(ctx, urn, "floor")
	require.ErrorIs(t, err, provision.ErrNotFound)
	_, err = pool.Exec(ctx, `UPDATE users SET doc = doc #- ARRAY[$1::text, 'level']`, urn)
	require.NoError(t, err)
	_, err = st.RemoveExtensionAttribute(ctx, urn, "Level")
	require.NoError(t, err)
	all, err = st.ExtensionAttributes(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
}
