package scim

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactTokens(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nothing", "/scim/tnt_abc/v2/Users", "/scim/tnt_abc/v2/Users"},
		{"scim token in a path", "/scim/tnt_abc/v2/Users/scimtok_Zm9vYmFyYmF6cXV4", "/scim/tnt_abc/v2/Users/[redacted]"},
		{"admin key", "key spk_a1b2c3d4e5f6a7b8 here", "key [redacted] here"},
		{"bearer, any case", "BEARER abcdefghijklmnopqrstuvwxyz", "BEARER [redacted]"},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "[redacted]"},
		{"prose", "the Bearer token scheme; a spk_ prefix", "the Bearer token scheme; a spk_ prefix"},
		{"inside a word is not a token", "xscimtok_abcdefghijkl", "xscimtok_abcdefghijkl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, RedactTokens(tt.in))
		})
	}
}
