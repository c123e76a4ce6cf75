package tenant

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefixes make ids and secrets recognisable in logs and by leak scanners.
const (
	TenantPrefix = "tnt_"
	TokenPrefix  = "scimtok_"
	KeyPrefix    = "spk_"
	tokenIDPfx   = "tok_"
	keyIDPfx     = "key_"
	// BootstrapKeyID is the id of the operator key from the environment.
	BootstrapKeyID = "key_bootstrap"
)

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix + 16 lower-case alphanumerics (80 random bits).
func newID(prefix string) string {
	return prefix + lowerBase32.EncodeToString(randomBytes(10))
}

// newSecret returns prefix + 32 random bytes in base64url (43 characters).
func newSecret(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return b
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// ValidTenantID reports whether id has the shape newID gives tenants, which
// also makes it a safe, unquoted-lowercase SQL identifier.
func ValidTenantID(id string) bool {
	rest, ok := strings.CutPrefix(id, TenantPrefix)
	if !ok || len(rest) != 16 {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// RolePassword derives a tenant role's database password from the server
// secret, so any replica can compute it and none stores it.
func RolePassword(secret []byte, role string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(role))
	return hex.EncodeToString(m.Sum(nil))
}

// WebhookKey derives the key a tenant's webhook secrets derive from. The
// control plane hands it to the tenant's worker at Bind: a worker holds the
// key of its own tenant only, and no webhook secret is stored anywhere.
func WebhookKey(secret []byte, tenantID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("scimplane webhook key\x00" + tenantID))
	return m.Sum(nil)
}
