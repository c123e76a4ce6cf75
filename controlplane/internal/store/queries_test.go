package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// The store methods below run the sqlc-generated queries
// (queries/*.sql); these tests pin what each returns.

func TestStore_Tenants(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	a, b := createTenant(t, s), createTenant(t, s)
	audit := tenant.AuditEntry{KeyID: "key_test", Action: "tenant.disable", TenantID: a}

	got, err := s.GetTenant(ctx, a)
	require.NoError(t, err)
	require.Equal(t, a, got.ID)
	require.Equal(t, tenant.StatusActive, got.Status)
	_, err = s.GetTenant(ctx, "tnt_missingmissing12")
	require.ErrorIs(t, err, tenant.ErrNotFound)

	require.NoError(t, s.SetTenantStatus(ctx, a, tenant.StatusDisabled, audit))
	require.ErrorIs(t, s.SetTenantStatus(ctx, "tnt_missingmissing12", tenant.StatusDisabled, audit), tenant.ErrNotFound)
	all, err := s.ListTenants(ctx)
	require.NoError(t, err)
	status := map[string]tenant.Status{}
	for _, tn := range all {
		status[tn.ID] = tn.Status
	}
	require.Equal(t, map[string]tenant.Status{a: tenant.StatusDisabled, b: tenant.StatusActive}, status)

	tokens, err := s.ListTokens(ctx, a)
	require.NoError(t, err)
	require.Len(t, tokens, 1)
	require.Nil(t, tokens[0].LastUsedAt)
	require.NoError(t, s.TouchToken(ctx, tokens[0].ID))
	tokens, err = s.ListTokens(ctx, a)
	require.NoError(t, err)
	require.NotNil(t, tokens[0].LastUsedAt)
}

func TestStore_APIKeys(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	a := createTenant(t, s)
	now := time.Now().Truncate(time.Microsecond)
	audit := tenant.AuditEntry{KeyID: "key_test", Action: "api_key.create"}

	boot := tenant.APIKey{ID: "key_bootstrap", Name: "bootstrap", Role: tenant.RoleOperator, CreatedAt: now}
	for _, tc := range []struct {
		name    string
		hash    string
		replace bool
		wrote   bool
	}{
		{"first start inserts", "h1", false, true},
		{"a later start leaves it", "h2", false, false},
		{"replace with the same hash is a no-op", "h1", true, false},
		{"replace with another hash writes it", "h3", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrote, err := s.PutBootstrapKey(ctx, boot, []byte(tc.hash), tc.replace)
			require.NoError(t, err)
			require.Equal(t, tc.wrote, wrote)
		})
	}
	k, err := s.GetAPIKeyByHash(ctx, []byte("h3"))
	require.NoError(t, err)
	require.Equal(t, "key_bootstrap", k.ID)
	require.Equal(t, tenant.RoleOperator, k.Role)
	require.True(t, k.CreatedAt.Equal(now))

	scoped := tenant.APIKey{ID: "key_support", Name: "s", Role: tenant.RoleSupport, TenantID: a, CreatedAt: now}
	require.NoError(t, s.CreateAPIKey(ctx, scoped, []byte("h4"), audit))
	require.ErrorIs(t, s.CreateAPIKey(ctx, scoped, []byte("h5"), audit), tenant.ErrConflict)
	k, err = s.GetAPIKeyByHash(ctx, []byte("h4"))
	require.NoError(t, err)
	require.Equal(t, a, k.TenantID)

	require.NoError(t, s.RevokeAPIKey(ctx, "key_support", audit))
	require.ErrorIs(t, s.RevokeAPIKey(ctx, "key_support", audit), tenant.ErrNotFound)
	keys, err := s.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Empty(t, keys[0].TenantID)
	require.Nil(t, keys[0].RevokedAt)
	require.NotNil(t, keys[1].RevokedAt)

	_, err = s.GetAPIKeyByHash(ctx, []byte("nope"))
	require.ErrorIs(t, err, tenant.ErrNotFound)

	require.NoError(t, s.RecordAudit(ctx, tenant.AuditEntry{KeyID: "key_test", Action: "other"}))
	entries, err := s.ListAudit(ctx, "", 100)
	require.NoError(t, err)
	require.Equal(t, "other", entries[0].Action) // newest first
	require.Empty(t, entries[0].TenantID)
	entries, err = s.ListAudit(ctx, a, 100)
	require.NoError(t, err)
	require.Len(t, entries, 1) // its creation only
}

func TestStore_PolicyVersions(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	a := createTenant(t, s)
	audit := tenant.AuditEntry{KeyID: "key_test", Action: "policy.save", TenantID: a}
	v := tenant.PolicyVersion{Author: "key_test", Comment: "first", CreatedAt: time.Now(),
		PolicyBundle: scimworker.PolicyBundle{Modules: map[string]string{"p.rego": "package p"}, Mapping: json.RawMessage(`{"rules":[]}`)}}

	for want := int64(1); want <= 2; want++ {
		n, err := s.CreatePolicyVersion(ctx, a, v, audit)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
	_, err := s.CreatePolicyVersion(ctx, "tnt_missingmissing12", v, audit)
	require.ErrorIs(t, err, tenant.ErrNotFound)

	got, err := s.GetPolicyVersion(ctx, a, 1)
	require.NoError(t, err)
	require.Equal(t, v.Modules, got.Modules)
	require.JSONEq(t, string(v.Mapping), string(got.Mapping))
	require.False(t, got.Active)
	_, err = s.GetPolicyVersion(ctx, a, 3)
	require.ErrorIs(t, err, tenant.ErrNotFound)

	for _, tc := range []struct {
		activate int64
		active   []bool // versions 2, 1
	}{{2, []bool{true, false}}, {1, []bool{false, true}}, {2, []bool{true, false}}} {
		require.NoError(t, s.MarkPolicyActivated(ctx, a, tc.activate))
		vs, err := s.ListPolicyVersions(ctx, a)
		require.NoError(t, err)
		require.Len(t, vs, 2)
		require.Equal(t, tc.active, []bool{vs[0].Active, vs[1].Active})
		one, err := s.GetPolicyVersion(ctx, a, tc.activate)
		require.NoError(t, err)
		require.True(t, one.Active)
	}
	require.ErrorIs(t, s.MarkPolicyActivated(ctx, a, 9), tenant.ErrNotFound)

	entries, err := s.ListAudit(ctx, a, 10)
	require.NoError(t, err)
	require.Equal(t, "version 2", entries[0].Detail)
}

func TestStore_RejectionsAndSessions(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	a := createTenant(t, s)
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Microsecond)
	recent := time.Now().Truncate(time.Microsecond)
	require.NoError(t, s.InsertRejections(ctx, []tenant.Rejection{
		{At: old, TenantID: a, RequestID: "r1", Method: "GET", Path: "/scim/x", Status: 401, Reason: "bad token"},
		{At: recent, TenantID: a, RequestID: "r2", Method: "POST", Path: "/scim/y", Status: 429, Reason: "rate"},
	}))
	rs, err := s.ListRejections(ctx, a, 10)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, "r2", rs[0].RequestID) // newest first
	require.Equal(t, 429, rs[0].Status)
	require.True(t, rs[0].At.Equal(recent))

	require.NoError(t, s.PruneRejections(ctx, time.Now().Add(-24*time.Hour)))
	rs, err = s.ListRejections(ctx, a, 10)
	require.NoError(t, err)
	require.Len(t, rs, 1)

	id := []byte("session-hash")
	ended, err := s.ConsoleSessionEnded(ctx, id)
	require.NoError(t, err)
	require.False(t, ended)
	for range 2 { // a second sign-out of the same session is harmless
		require.NoError(t, s.EndConsoleSession(ctx, id, "key_test", time.Now().Add(time.Hour)))
	}
	ended, err = s.ConsoleSessionEnded(ctx, id)
	require.NoError(t, err)
	require.True(t, ended)
}
