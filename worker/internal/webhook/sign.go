package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// SecretPrefix starts a webhook secret as the API shows it.
const SecretPrefix = "whsec_"

// Secret derives a webhook's signing secret from the tenant's webhook key,
// the webhook's id and its secret generation: nothing secret is stored,
// and a rotation (a new generation) makes a new secret.
func Secret(key []byte, webhookID string, generation int64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("scimplane webhook secret\x00" + webhookID + "\x00" + strconv.FormatInt(generation, 10)))
	return m.Sum(nil)
}

// FormatSecret is the secret as shown once to the subscriber: whsec_ and
// the standard base64 of its 32 bytes.
func FormatSecret(secret []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(secret)
}

// Sign is the webhook-signature header of a message: v1, and the base64
// HMAC-SHA256 of "id.timestamp.body" under the secret.
func Sign(secret []byte, msgID string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msgID + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
