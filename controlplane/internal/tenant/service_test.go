package tenant

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
