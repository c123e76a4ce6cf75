package console

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func TestSealer_RoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSealer([]byte("secret-one"))
	sess := newSession(now, time.Hour)
	sess.Key, sess.Role, sess.Tenant = "spk_x", tenant.RoleTenantAdmin, "tnt_a"
	sealed := s.seal(sess)
	require.NotContains(t, sealed, "spk_x")

	got, err := s.open(sealed, now.Add(59*time.Minute))
	require.NoError(t, err)
	require.Equal(t, sess.Key, got.Key)
	require.Equal(t, sess.CSRF, got.CSRF)
	require.True(t, got.CanManage("tnt_a"))
	require.False(t, got.CanManage("tnt_b"))
	require.True(t, got.validCSRF(sess.CSRF))
	require.False(t, got.validCSRF(""))
	require.False(t, got.validCSRF(sess.CSRF+"x"))
}

func TestSealer_Rejects(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSealer([]byte("secret-one"))
	sealed := s.seal(newSession(now, time.Hour))
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	noID := newSession(now, time.Hour)
	noID.ID = ""
	for _, tc := range []struct {
		name   string
		sealer *sealer
		value  string
		at     time.Time
	}{
		{"expired", s, sealed, now.Add(time.Hour)},
		{"other secret", newSealer([]byte("secret-two")), sealed, now},
		{"tampered", s, string(tampered), now},
		{"empty", s, "", now},
		{"garbage", s, "not base64!", now},
		{"sealed before sessions had an id", s, s.seal(noID), now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sealer.open(tc.value, tc.at)
			require.ErrorIs(t, err, errBadSession)
		})
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/admin/tenants/x/logs?status=409": "/admin/tenants/x/logs?status=409",
		"/admin/":                          "/admin/",
		"https://evil.example/admin/":      "",
		"//evil.example/admin/":            "",
		"/admin\\@evil":                    "",
		"/api/v1/tenants":                  "",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}
