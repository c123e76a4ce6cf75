package scimplane_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/client/scimplane"
)

// Known vectors: the first is the Standard Webhooks specification's own
// example; the second was computed with Python's hmac module.
var vectors = []struct {
	secret, id string
	ts         int64
	body       string
	signature  string
}{
	{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, `{"test": 2432232314}`,
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	{"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "msg_2", 1700000000, `{"type":"user.created","data":{}}`,
		"v1,59QlugTFgr5sHqqmj2xwx7BuksD1R+Zr4sFVyjy0FRk="},
}

func TestWebhookSecret_SignMatchesKnownVectors(t *testing.T) {
	for _, v := range vectors {
		s, err := scimplane.ParseWebhookSecret(v.secret)
		require.NoError(t, err)
		require.Equal(t, v.signature, s.Sign(v.id, time.Unix(v.ts, 0), []byte(v.body)))
	}
}

func TestWebhookSecret_VerifyAt(t *testing.T) {
	v := vectors[0]
	secret, err := scimplane.ParseWebhookSecret(v.secret)
	require.NoError(t, err)
	other, err := scimplane.ParseWebhookSecret(vectors[1].secret)
	require.NoError(t, err)
	at := time.Unix(v.ts, 0)
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		for k, val := range map[string]string{"Webhook-Id": id, "Webhook-Timestamp": ts, "Webhook-Signature": sig} {
			if val != "" {
				h.Set(k, val)
			}
		}
		return h
	}
	good := headers(v.id, "1614265330", v.signature)
	tests := []struct {
		name   string
		secret *scimplane.WebhookSecret
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"known vector", secret, good, v.body, at, nil},
		{"within tolerance, late", secret, good, v.body, at.Add(5 * time.Minute), nil},
		{"within tolerance, early", secret, good, v.body, at.Add(-5 * time.Minute), nil},
		{"too old", secret, good, v.body, at.Add(5*time.Minute + time.Second), scimplane.ErrWebhookTooOld},
		{"too new", secret, good, v.body, at.Add(-5*time.Minute - time.Second), scimplane.ErrWebhookTooNew},
		{"body changed", secret, good, v.body + " ", at, scimplane.ErrWebhookSignature},
		{"id changed", secret, headers("msg_other", "1614265330", v.signature), v.body, at, scimplane.ErrWebhookSignature},
		{"timestamp changed", secret, headers(v.id, "1614265331", v.signature), v.body, at, scimplane.ErrWebhookSignature},
		{"another secret", other, good, v.body, at, scimplane.ErrWebhookSignature},
		{"one of several signatures", secret,
			headers(v.id, "1614265330", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,"+v.signature[3:]+" "+v.signature), v.body, at, nil},
		{"the right MAC under another version", secret, headers(v.id, "1614265330", "v2,"+v.signature[3:]), v.body, at, scimplane.ErrWebhookSignature},
		{"signature not base64", secret, headers(v.id, "1614265330", "v1,@@@"), v.body, at, scimplane.ErrWebhookSignature},
		{"no signature", secret, headers(v.id, "1614265330", ""), v.body, at, scimplane.ErrWebhookHeaders},
		{"no id", secret, headers("", "1614265330", v.signature), v.body, at, scimplane.ErrWebhookHeaders},
		{"timestamp not seconds", secret, headers(v.id, "2021-02-25T15:02:10Z", v.signature), v.body, at, scimplane.ErrWebhookHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.secret.VerifyAt(tt.header, []byte(tt.body), tt.now, scimplane.DefaultWebhookTolerance)
			if tt.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.want)
			}
		})
	}
}

// What Sign makes, Verify accepts, with a fresh secret and the clock.
func TestWebhookSecret_SignThenVerify(t *testing.T) {
	raw := scimplane.NewWebhookSecret()
	require.True(t, strings.HasPrefix(raw, scimplane.WebhookSecretPrefix))
	s, err := scimplane.ParseWebhookSecret(raw)
	require.NoError(t, err)
	body := []byte(`{"type":"group.member_added","timestamp":"2026-11-29T00:00:00Z","data":{}}`)
	now := time.Now()
	h := http.Header{}
	h.Set(scimplane.HeaderWebhookID, "msg_1")
	h.Set(scimplane.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(scimplane.HeaderWebhookSignature, s.Sign("msg_1", now, body))
	require.NoError(t, s.Verify(h, body))
	require.NotEqual(t, raw, scimplane.NewWebhookSecret())
}

func TestParseWebhookSecret_RefusesWhatIsNotBase64(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"} {
		_, err := scimplane.ParseWebhookSecret(s)
		require.Error(t, err, s)
	}
}
