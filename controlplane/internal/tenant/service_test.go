package tenant

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// credStore serves GetCredentials from memory and counts the reads; the
// other Store methods are not used by these tests.
type credStore struct {
	Store
	tenant Tenant
	hashes []TokenHash
	reads  int
}

func (s *credStore) GetCredentials(context.Context, string) (Tenant, []TokenHash, error) {
	s.reads++
	return s.tenant, s.hashes, nil
}

func (s *credStore) TouchToken(context.Context, string) error { return nil }

func (s *credStore) RevokeToken(context.Context, string, string, AuditEntry) error {
	s.hashes = nil
	return nil
}

type noWorkers struct{}

func (noWorkers) Stop(string)                        {}
func (noWorkers) Warm(context.Context, string) error { return nil }
func (noWorkers) Call(context.Context, string, func(context.Context, scimworker.Worker) error) error {
	return errors.New("no workers")
}
func (noWorkers) Stream(context.Context, string, func(context.Context, scimworker.Worker) error) error {
	return errors.New("no workers")
}

func TestService_AuthenticateSCIM_CachesCredentials(t *testing.T) {
	const id = "tnt_abcdefgh234567ab"
	token := newSecret(TokenPrefix)
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name     string
		hashes   []TokenHash
		status   Status
		token    string
		want     error
		ttl      time.Duration
		calls    int
		wantRead int
	}{
		{name: "valid token, cached", hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token)}}, status: StatusActive, token: token, ttl: time.Minute, calls: 3, wantRead: 1},
		{name: "cache disabled", hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token)}}, status: StatusActive, token: token, calls: 3, wantRead: 3},
		{name: "wrong token", hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token)}}, status: StatusActive, token: newSecret(TokenPrefix), want: ErrUnauthenticated, ttl: time.Minute, calls: 1, wantRead: 1},
		{name: "expired token", hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token), ExpiresAt: &past}}, status: StatusActive, token: token, want: ErrUnauthenticated, ttl: time.Minute, calls: 1, wantRead: 1},
		{name: "disabled tenant", hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token)}}, status: StatusDisabled, token: token, want: ErrDisabled, ttl: time.Minute, calls: 1, wantRead: 1},
		{name: "not a token", hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token)}}, status: StatusActive, token: "Bearer x", want: ErrUnauthenticated, calls: 1, wantRead: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &credStore{tenant: Tenant{ID: id, Status: tt.status}, hashes: tt.hashes}
			s := New(Params{Store: st, Workers: noWorkers{}, CredentialsTTL: tt.ttl})
			for range tt.calls {
				require.ErrorIs(t, s.AuthenticateSCIM(context.Background(), id, tt.token), tt.want)
			}
			require.Equal(t, tt.wantRead, st.reads)
		})
	}
}

func TestService_RevokeTokenDropsCachedCredentials(t *testing.T) {
	const id = "tnt_abcdefgh234567ab"
	token := newSecret(TokenPrefix)
	st := &credStore{tenant: Tenant{ID: id, Status: StatusActive}, hashes: []TokenHash{{ID: "tok_1", Hash: hashSecret(token)}}}
	s := New(Params{Store: st, Workers: noWorkers{}, CredentialsTTL: time.Hour})
	require.NoError(t, s.AuthenticateSCIM(context.Background(), id, token))
	require.NoError(t, s.RevokeToken(context.Background(), Principal{Role: RoleOperator}, id, "tok_1"))
	require.ErrorIs(t, s.AuthenticateSCIM(context.Background(), id, token), ErrUnauthenticated)
}

// lookupStore answers GetCredentials from a table (missing: ErrNotFound),
// or ErrUnavailable while down, counting the reads per tenant.
type lookupStore struct {
	Store
	creds map[string][]TokenHash
	down  bool
	reads map[string]int
}

func (s *lookupStore) GetCredentials(_ context.Context, id string) (Tenant, []TokenHash, error) {
	s.reads[id]++
	if s.down {
		return Tenant{}, nil, fmt.Errorf("get credentials: %w: connection refused", ErrUnavailable)
	}
	hashes, ok := s.creds[id]
	if !ok {
		return Tenant{}, nil, ErrNotFound
	}
	return Tenant{ID: id, Status: StatusActive}, hashes, nil
}

func (s *lookupStore) TouchToken(context.Context, string) error {
	if s.down {
		return ErrUnavailable
	}
	return nil
}

func (s *lookupStore) RevokeToken(_ context.Context, tenantID, _ string, _ AuditEntry) error {
	s.creds[tenantID] = nil
	return nil
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestService_UnknownTenantIsLookedUpOncePerTTL(t *testing.T) {
	const unknown = "tnt_aaaaaaaaaaaaaaaa"
	st := &lookupStore{creds: map[string][]TokenHash{}, reads: map[string]int{}}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := New(Params{Store: st, Workers: noWorkers{}, UnknownTenantTTL: 10 * time.Second})
	s.now = clk.now
	token := newSecret(TokenPrefix)
	for range 100 {
		require.ErrorIs(t, s.AuthenticateSCIM(context.Background(), unknown, token), ErrUnknownTenant)
	}
	require.Equal(t, 1, st.reads[unknown])
	require.False(t, s.NeedsLookup(unknown))

	clk.t = clk.t.Add(10 * time.Second)
	require.True(t, s.NeedsLookup(unknown))
	for range 100 {
		require.ErrorIs(t, s.AuthenticateSCIM(context.Background(), unknown, token), ErrUnknownTenant)
	}
	require.Equal(t, 2, st.reads[unknown], "one more lookup in the next period")
}

func TestService_UnknownTenantCacheIsBounded(t *testing.T) {
	st := &lookupStore{creds: map[string][]TokenHash{}, reads: map[string]int{}}
	s := New(Params{Store: st, Workers: noWorkers{}, UnknownTenantTTL: time.Minute})
	for range maxUnknown + 100 {
		require.ErrorIs(t, s.AuthenticateSCIM(context.Background(), newID(TenantPrefix), "x"), ErrUnknownTenant)
	}
	require.LessOrEqual(t, len(s.unknown), maxUnknown)
}

func TestService_AuthenticatesFromStaleCredentialsWhileTheDatabaseIsDown(t *testing.T) {
	const id, other = "tnt_abcdefgh234567ab", "tnt_abcdefgh234567ac"
	token, second := newSecret(TokenPrefix), newSecret(TokenPrefix)
	st := &lookupStore{reads: map[string]int{}, creds: map[string][]TokenHash{
		id:    {{ID: "tok_1", Hash: hashSecret(token)}, {ID: "tok_2", Hash: hashSecret(second)}},
		other: {{ID: "tok_3", Hash: hashSecret(token)}},
	}}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := New(Params{Store: st, Workers: noWorkers{}, CredentialsTTL: 5 * time.Second, CredentialsStaleMax: 10 * time.Minute})
	s.now = clk.now
	ctx := context.Background()
	require.NoError(t, s.AuthenticateSCIM(ctx, id, token))

	st.down = true
	clk.t = clk.t.Add(time.Minute) // past the TTL: a refresh is due and fails
	require.NoError(t, s.AuthenticateSCIM(ctx, id, token), "stale credentials authenticate")
	require.NoError(t, s.AuthenticateSCIM(ctx, id, second))
	require.ErrorIs(t, s.AuthenticateSCIM(ctx, id, newSecret(TokenPrefix)), ErrUnauthenticated)
	reads := st.reads[id]
	require.NoError(t, s.AuthenticateSCIM(ctx, id, token))
	require.Equal(t, reads, st.reads[id], "no retry within the TTL after a failed refresh")
	require.ErrorIs(t, s.AuthenticateSCIM(ctx, other, token), ErrUnavailable, "nothing cached")

	clk.t = clk.t.Add(10 * time.Minute) // past the stale bound
	require.ErrorIs(t, s.AuthenticateSCIM(ctx, id, token), ErrUnavailable)

	// A revocation made here applies at once, database down or not.
	st.down = false
	require.NoError(t, s.AuthenticateSCIM(ctx, id, token))
	require.NoError(t, s.RevokeToken(ctx, Principal{Role: RoleOperator}, id, "tok_2"))
	st.down = true
	require.ErrorIs(t, s.AuthenticateSCIM(ctx, id, second), ErrUnavailable)
}
