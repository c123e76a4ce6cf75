package tenant

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewID_IsValidTenantID(t *testing.T) {
	for range 100 {
		id := newID(TenantPrefix)
		require.True(t, ValidTenantID(id), id)
	}
}

func TestValidTenantID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{name: "generated shape", id: "tnt_abcdefgh234567ab", want: true},
		{name: "no prefix", id: "abcdefgh234567ab"},
		{name: "upper case", id: "tnt_ABCDEFGH234567AB"},
		{name: "quote", id: `tnt_abcdefgh234567a"`},
		{name: "too short", id: "tnt_abc"},
		{name: "digit outside base32", id: "tnt_abcdefgh23456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ValidTenantID(tt.id))
		})
	}
}

func TestNewSecret_ShapeAndLength(t *testing.T) {
	tok := newSecret(TokenPrefix)
	require.True(t, strings.HasPrefix(tok, TokenPrefix))
	require.Len(t, tok, len(TokenPrefix)+43)
	require.NotEqual(t, tok, newSecret(TokenPrefix))
}

func TestRolePassword_DerivedPerRole(t *testing.T) {
	a := RolePassword([]byte("s1"), "tnt_a")
	require.Equal(t, a, RolePassword([]byte("s1"), "tnt_a"))
	require.NotEqual(t, a, RolePassword([]byte("s1"), "tnt_b"))
	require.NotEqual(t, a, RolePassword([]byte("s2"), "tnt_a"))
}

func TestPrincipal_Access(t *testing.T) {
	tests := []struct {
		name       string
		p          Principal
		tenantID   string
		read, edit bool
	}{
		{name: "operator", p: Principal{Role: RoleOperator}, tenantID: "tnt_a", read: true, edit: true},
		{name: "operator all", p: Principal{Role: RoleOperator}, tenantID: "", read: true, edit: true},
		{name: "tenant admin own", p: Principal{Role: RoleTenantAdmin, TenantID: "tnt_a"}, tenantID: "tnt_a", read: true, edit: true},
		{name: "tenant admin other", p: Principal{Role: RoleTenantAdmin, TenantID: "tnt_a"}, tenantID: "tnt_b"},
		{name: "tenant admin all", p: Principal{Role: RoleTenantAdmin, TenantID: "tnt_a"}, tenantID: ""},
		{name: "support own", p: Principal{Role: RoleSupport, TenantID: "tnt_a"}, tenantID: "tnt_a", read: true},
		{name: "support other", p: Principal{Role: RoleSupport, TenantID: "tnt_a"}, tenantID: "tnt_b"},
		{name: "unscoped support", p: Principal{Role: RoleSupport}, tenantID: "tnt_b", read: true},
		{name: "no role", p: Principal{}, tenantID: "tnt_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.read, tt.p.canRead(tt.tenantID))
			require.Equal(t, tt.edit, tt.p.canManage(tt.tenantID))
		})
	}
}
