package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/client/scimplane"
	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

func TestSign_StandardWebhooks(t *testing.T) {
	// The Standard Webhooks specification's example.
	secret, err := scimplane.ParseWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	body := []byte(`{"test": 2432232314}`)
	raw, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	sig := Sign(raw, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", sig)
	require.NoError(t, secret.VerifyAt(h, body, time.Unix(1614265330, 0), time.Minute))
}

func TestSecret_DerivedPerWebhookAndGeneration(t *testing.T) {
	key := []byte("tenant key")
	a := Secret(key, "wh_a", 1)
	require.Len(t, a, 32)
	require.Equal(t, a, Secret(key, "wh_a", 1))
	require.NotEqual(t, a, Secret(key, "wh_a", 2), "rotation changes it")
	require.NotEqual(t, a, Secret(key, "wh_b", 1))
	require.NotEqual(t, a, Secret([]byte("other tenant"), "wh_a", 1))
	parsed, err := scimplane.ParseWebhookSecret(FormatSecret(a))
	require.NoError(t, err, "the client reads the format")
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1000")
	h.Set("webhook-signature", Sign(a, "msg_1", 1000, []byte("{}")))
	require.NoError(t, parsed.VerifyAt(h, []byte("{}"), time.Unix(1000, 0), time.Minute))
}

func TestAllowedAddr(t *testing.T) {
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"93.184.215.14", true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"fd00::1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"100.64.0.1", false}, // CGNAT
		{"100.127.255.254", false},
		{"100.128.0.1", true},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
		{"255.255.255.255", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			require.Equal(t, tt.allowed, AllowedAddr(ip, false))
			require.True(t, AllowedAddr(ip, true), "allowed when private addresses are")
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name, url    string
		allowPrivate bool
		err          string
	}{
		{"public ip", "https://93.184.215.14/hook", false, ""},
		{"http", "http://93.184.215.14:8080/hook", false, ""},
		{"scheme", "ftp://93.184.215.14/x", false, "http or https"},
		{"no scheme", "example.com/hook", false, "http or https"},
		{"javascript", "javascript:alert(1)", false, "http or https"},
		{"no host", "https:///path", false, "no host"},
		{"credentials", "https://user:pw@93.184.215.14/", false, "credentials"},
		{"loopback", "http://127.0.0.1:9000/", false, "not allowed"},
		{"loopback v6", "http://[::1]:9000/", false, "not allowed"},
		{"metadata", "http://169.254.169.254/latest/meta-data", false, "not allowed"},
		{"private", "https://10.0.0.5/", false, "not allowed"},
		{"cgnat", "https://100.64.1.1/", false, "not allowed"},
		{"localhost", "http://localhost:8080/", false, "not allowed"},
		{"sub localhost", "http://a.localhost/", false, "not allowed"},
		{"loopback allowed", "http://127.0.0.1:9000/", true, ""},
		{"unparsable", "http://[::1/", false, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckURL(context.Background(), tt.url, tt.allowPrivate, net.DefaultResolver)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// The dialer refuses a forbidden address after resolution, whatever the
// URL said at registration.
func TestDialer_RefusesAtConnect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	_, err := NewClient(false, time.Second).Get(srv.URL)
	require.ErrorIs(t, err, ErrForbiddenAddress)
	resp, err := NewClient(true, time.Second).Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
}

func TestRetry_Schedule(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var total time.Duration
	for n := 1; n <= len(Schedule); n++ {
		next, ok := Retry(Schedule, n, at)
		require.True(t, ok, "attempt %d", n)
		require.Equal(t, Schedule[n-1], next.Sub(at))
		if n > 1 {
			require.GreaterOrEqual(t, Schedule[n-1], Schedule[n-2], "never shorter")
		}
		total += Schedule[n-1]
	}
	require.GreaterOrEqual(t, total, 24*time.Hour, "retried for at least a day")
	_, ok := Retry(Schedule, len(Schedule)+1, at)
	require.False(t, ok, "then it has failed")
	_, ok = Retry(Schedule, 0, at)
	require.False(t, ok)
}

func TestFromChange(t *testing.T) {
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	perm, _ := json.Marshal(provision.PermissionsDetail{Permissions: []string{"forms.view"}, Before: []string{"forms.design"},
		Sets: []string{"viewer"}, SetsBefore: []string{"designer"}, Gained: []string{"forms.view"}, Lost: []string{"forms.design"}, PolicyVersion: 3})
	tests := []struct {
		name   string
		change Change
		typ    string
		key    string
		data   string
	}{
		{"user created", Change{Kind: "user_created", UserID: "u1", Detail: json.RawMessage(`{"userName":"ann","active":true}`)},
			scimworker.EventUserCreated, "u1", `{"id":"u1","userName":"ann","active":true}`},
		{"user updated", Change{Kind: "user_updated", UserID: "u1", Detail: json.RawMessage(`{"userName":"ann","displayName":"Ann","active":true}`)},
			scimworker.EventUserUpdated, "u1", `{"id":"u1","userName":"ann","displayName":"Ann","active":true}`},
		{"user deactivated", Change{Kind: "user_deactivated", UserID: "u1", Detail: json.RawMessage(`{"userName":"ann","active":false}`)},
			scimworker.EventUserDeactivated, "u1", `{"id":"u1","userName":"ann","active":false}`},
		{"user deleted", Change{Kind: "user_deleted", UserID: "u1"}, scimworker.EventUserDeleted, "u1", `{"id":"u1"}`},
		{"group created", Change{Kind: "group_created", GroupID: "g1", Detail: json.RawMessage(`{"displayName":"HR","externalId":"x"}`)},
			scimworker.EventGroupCreated, "g1", `{"id":"g1","displayName":"HR","externalId":"x"}`},
		{"group updated", Change{Kind: "group_updated", GroupID: "g1", Detail: json.RawMessage(`{"displayName":"HR2"}`)},
			scimworker.EventGroupUpdated, "g1", `{"id":"g1","displayName":"HR2"}`},
		{"group deleted", Change{Kind: "group_deleted", GroupID: "g1"}, scimworker.EventGroupDeleted, "g1", `{"id":"g1"}`},
		{"member added", Change{Kind: "member_added", UserID: "u1", GroupID: "g1"}, scimworker.EventGroupMemberAdded, "u1",
			`{"group_id":"g1","user_id":"u1"}`},
		{"member removed", Change{Kind: "member_removed", UserID: "u1", GroupID: "g1"}, scimworker.EventGroupMemberRemoved, "u1",
			`{"group_id":"g1","user_id":"u1"}`},
		{"permissions", Change{Kind: "permissions_changed", UserID: "u1", Detail: perm}, scimworker.EventPermissionsChanged, "u1",
			`{"user_id":"u1","before":{"permissions":["forms.design"],"sets":["designer"]},"after":{"permissions":["forms.view"],"sets":["viewer"]},` +
				`"gained":["forms.view"],"lost":["forms.design"],"policy_version":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change.At = at
			ev, ok := FromChange(tt.change)
			require.True(t, ok)
			require.Equal(t, tt.typ, ev.Type)
			require.Equal(t, tt.key, ev.OrderKey)
			var body struct {
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			require.NoError(t, json.Unmarshal(ev.Body, &body))
			require.Equal(t, tt.typ, body.Type)
			require.Equal(t, "2026-11-29T05:00:00Z", body.Timestamp)
			require.JSONEq(t, tt.data, string(body.Data))
		})
	}
	_, ok := FromChange(Change{Kind: "something_else"})
	require.False(t, ok, "kinds without an event are skipped")
	_, ok = FromChange(Change{Kind: "user_created", Detail: json.RawMessage(`[`)})
	require.False(t, ok)
}
