package scim

import (
	"regexp"
	"strings"
)

// Redacted stands in for a secret in anything recorded for support: the
// worker's SCIM log and the control plane's refusal records.
const Redacted = "[redacted]"

// tokenShaped matches bearer credentials, the service's own SCIM tokens
// and admin keys (scimtok_..., spk_...), and JWTs.
var tokenShaped = regexp.MustCompile(`(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{16,}|\b(?:scimtok|spk)_[A-Za-z0-9_-]{8,}|\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// RedactTokens replaces the token-shaped strings in s with Redacted
// ("Bearer [redacted]" for a bearer credential), so that a token sent in
// the wrong place is not kept where support can read it.
func RedactTokens(s string) string {
	l := strings.ToLower(s)
	if !strings.Contains(l, "bearer") && !strings.Contains(l, "scimtok_") && !strings.Contains(l, "spk_") && !strings.Contains(l, "eyj") {
		return s
	}
	return tokenShaped.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) > 6 && strings.EqualFold(m[:6], "bearer") {
			return m[:6] + " " + Redacted
		}
		return Redacted
	})
}
