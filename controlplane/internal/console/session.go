package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// session is what the console keeps between requests, sealed in a cookie
// so that any replica can read it. An anonymous session (no Key) only
// carries the CSRF token the sign-in form needs. ID names the session to
// the API, which refuses it once signed out (on any replica), however long
// the cookie would still be valid.
type session struct {
	ID      string      `json:"i"`
	Key     string      `json:"k,omitempty"` // the admin API key
	Role    tenant.Role `json:"r,omitempty"`
	Tenant  string      `json:"t,omitempty"` // tenant scope; "" for unscoped keys
	CSRF    string      `json:"c"`
	Expires time.Time   `json:"e"`
}

func (s *session) SignedIn() bool { return s.Key != "" }

func (s *session) Operator() bool { return s.Role == tenant.RoleOperator }

// canManage reports whether the key may change tenantID's tokens and
// policies; the API decides in the end, this only hides useless buttons.
func (s *session) CanManage(tenantID string) bool {
	return s.Role == tenant.RoleOperator || s.Role == tenant.RoleTenantAdmin && s.Tenant == tenantID
}

// validCSRF compares a submitted token with the session's in constant time.
func (s *session) validCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}

func newSession(now time.Time, ttl time.Duration) *session {
	return &session{ID: randomToken(), CSRF: randomToken(), Expires: now.Add(ttl)}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealer encrypts sessions with AES-256-GCM under a key derived from the
// server secret, so replicas sharing the secret share sessions.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(secret []byte) *sealer {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("scimplane console session v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead}
}

func (s *sealer) seal(sess *session) string {
	plain, _ := json.Marshal(sess)
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, nil))
}

var errBadSession = errors.New("invalid or expired session")

func (s *sealer) open(value string, now time.Time) (*session, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, errBadSession
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return nil, errBadSession
	}
	var sess session
	// Cookies sealed before sessions had an ID cannot be signed out: refuse them.
	if err := json.Unmarshal(plain, &sess); err != nil || !now.Before(sess.Expires) || sess.CSRF == "" || sess.ID == "" {
		return nil, errBadSession
	}
	return &sess, nil
}
