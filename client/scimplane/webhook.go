package scimplane

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook deliveries are signed the Standard Webhooks way
// (https://www.standardwebhooks.com): the headers below carry the
// delivery's id, its Unix time in seconds, and one or more signatures
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>", space-separated (several
// while a secret is rotated), under a secret "whsec_<base64 key>".
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"

	// WebhookSecretPrefix starts every webhook secret.
	WebhookSecretPrefix = "whsec_"
	// DefaultWebhookTolerance is how far a delivery's timestamp may be from
	// the receiver's clock, either way: older deliveries may be replays.
	DefaultWebhookTolerance = 5 * time.Minute
)

// Why a delivery does not verify.
var (
	ErrWebhookHeaders   = errors.New("scimplane: webhook-id, webhook-timestamp or webhook-signature missing or malformed")
	ErrWebhookTooOld    = errors.New("scimplane: webhook timestamp too old")
	ErrWebhookTooNew    = errors.New("scimplane: webhook timestamp too far in the future")
	ErrWebhookSignature = errors.New("scimplane: no webhook signature matches")
)

// WebhookSecret signs and verifies webhook deliveries.
type WebhookSecret struct {
	key []byte
}

// ParseWebhookSecret reads a secret "whsec_<base64>" (the prefix may be
// left out) as the API showed it when the endpoint was registered.
func ParseWebhookSecret(secret string) (*WebhookSecret, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, WebhookSecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("scimplane: a webhook secret is whsec_ followed by base64")
	}
	return &WebhookSecret{key: key}, nil
}

// NewWebhookSecret returns a fresh random secret, "whsec_" and 32 bytes in
// base64.
func NewWebhookSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand, Go 1.24)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the signature of a delivery, "v1,<base64>", to send in
// webhook-signature with webhook-id msgID and webhook-timestamp at.Unix().
func (s *WebhookSecret) Sign(msgID string, at time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(msgID, strconv.FormatInt(at.Unix(), 10), body))
}

func (s *WebhookSecret) mac(msgID, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(msgID + "." + timestamp + "."))
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery's headers against its raw body, as read from
// the request before any parsing, with DefaultWebhookTolerance and the
// current time.
func (s *WebhookSecret) Verify(h http.Header, body []byte) error {
	return s.VerifyAt(h, body, time.Now(), DefaultWebhookTolerance)
}

// VerifyAt is Verify at time now with a timestamp tolerance. It returns
// nil if one of the v1 signatures in webhook-signature is the delivery's
// (compared in constant time), and otherwise why not (ErrWebhookHeaders,
// ErrWebhookTooOld, ErrWebhookTooNew or ErrWebhookSignature).
func (s *WebhookSecret) VerifyAt(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrWebhookHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrWebhookHeaders, ts)
	}
	at := time.Unix(sec, 0)
	switch {
	case now.Sub(at) > tolerance:
		return ErrWebhookTooOld
	case at.Sub(now) > tolerance:
		return ErrWebhookTooNew
	}
	want := s.mac(id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue // another scheme (v1a is asymmetric) or malformed
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}
