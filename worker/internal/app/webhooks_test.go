package app

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/client/scimplane"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// receiver is a webhook endpoint that fails every message twice, first
// with a 500 and then by not answering, before it takes it; it records
// each message it took, checking its signature.
type receiver struct {
	t      *testing.T
	secret *scimplane.WebhookSecret

	mu       sync.Mutex
	attempts map[string]int
	// taken are the messages answered 200, in arrival order; dup counts
	// messages taken more than once.
	taken []received
	dup   int
	bad   []string
}

type received struct {
	ID   string
	Type string
	Data json.RawMessage
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.attempts[id]++
	n := rc.attempts[id]
	secret := rc.secret
	rc.mu.Unlock()
	switch n {
	case 1:
		http.Error(w, "try later", 500)
		return
	case 2:
		select { // the worker gives up first
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	var ev struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := secret.Verify(r.Header, body); err != nil {
		rc.bad = append(rc.bad, id+": "+err.Error())
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Timestamp.IsZero() {
		rc.bad = append(rc.bad, id+": body "+string(body))
	}
	for _, m := range rc.taken {
		if m.ID == id {
			rc.dup++
		}
	}
	rc.taken = append(rc.taken, received{ID: id, Type: ev.Type, Data: ev.Data})
	w.WriteHeader(204)
}

func (rc *receiver) snapshot() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.taken...)
}

func webhookWorker(t *testing.T) *Worker {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) {
		c.WebhookKey, c.WebhookAllowPrivate = key, true
		c.Options.WebhookTimeout = 300 * time.Millisecond
		c.Options.WebhookSchedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	})
	return w
}

// TestWebhooks_DeliverProvisioning provisions through SCIM and checks that
// each event reaches the endpoint once, signed, in order per user, after
// a 500 and a timeout each, and that permission changes carry the sets
// before and after.
func TestWebhooks_DeliverProvisioning(t *testing.T) {
	w := webhookWorker(t)
	rc := &receiver{t: t, attempts: map[string]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	hook, err := w.CreateWebhook(bg, &scimworker.WebhookCreate{URL: srv.URL + "/hooks"})
	require.NoError(t, err)
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, hook.Secret)
	rc.secret, err = scimplane.ParseWebhookSecret(hook.Secret)
	require.NoError(t, err)

	ann := create(t, w, "/Users", `{"userName":"ann@contoso.com"}`)
	patch(t, w, "/Users/"+ann, `[{"op":"replace","path":"displayName","value":"Ann"}]`, 200)
	designers := create(t, w, "/Groups", `{"displayName":"Forms Designers"}`)
	patch(t, w, "/Groups/"+designers, `[{"op":"Add","path":"members","value":[{"value":"`+ann+`"}]}]`, 204)
	// A write that fails sends nothing.
	patch(t, w, "/Groups/"+designers, `[{"op":"Add","path":"members","value":[{"value":"`+ann+`"}]},{"op":"replace","path":"displayName","value":""}]`, 400)
	patch(t, w, "/Users/"+ann, `[{"op":"Replace","path":"active","value":"False"}]`, 200)
	patch(t, w, "/Groups/"+designers, `[{"op":"remove","path":"members[value eq \"`+ann+`\"]"}]`, 204)
	status, _, _ := do(t, w, "DELETE", "/Groups/"+designers, "", "")
	require.Equal(t, 204, status)
	status, _, _ = do(t, w, "DELETE", "/Users/"+ann, "", "")
	require.Equal(t, 204, status)

	const want = 10
	require.Eventually(t, func() bool { return len(rc.snapshot()) >= want }, 60*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show
	got := rc.snapshot()
	rc.mu.Lock()
	require.Empty(t, rc.bad)
	require.Zero(t, rc.dup, "a message was taken twice")
	for id, n := range rc.attempts {
		require.Equal(t, 3, n, "attempts of %s", id)
	}
	rc.mu.Unlock()
	require.Len(t, got, want)

	var userEvents, groupEvents []string
	var perms []json.RawMessage
	for _, m := range got {
		var d struct {
			ID      string `json:"id"`
			UserID  string `json:"user_id"`
			GroupID string `json:"group_id"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &d))
		switch {
		case d.UserID == ann || d.ID == ann:
			userEvents = append(userEvents, m.Type)
		case d.ID == designers:
			groupEvents = append(groupEvents, m.Type)
		default:
			t.Fatalf("unexpected event %s %s", m.Type, m.Data)
		}
		if m.Type == scimworker.EventPermissionsChanged {
			perms = append(perms, m.Data)
		}
	}
	require.Equal(t, []string{"user.created", "user.updated", "group.member_added", "permissions.changed",
		"user.deactivated", "permissions.changed", "group.member_removed", "user.deleted"}, userEvents)
	require.Equal(t, []string{"group.created", "group.deleted"}, groupEvents)

	type sets struct {
		Permissions []string `json:"permissions"`
		Sets        []string `json:"sets"`
	}
	var joined, deactivated struct {
		Before, After sets
		Gained, Lost  []string
	}
	require.NoError(t, json.Unmarshal(perms[0], &joined))
	require.Empty(t, joined.Before.Permissions)
	require.Equal(t, []string{"forms.design", "forms.submit", "forms.view"}, joined.After.Permissions)
	require.NotEmpty(t, joined.After.Sets)
	require.Equal(t, joined.After.Permissions, joined.Gained)
	require.NoError(t, json.Unmarshal(perms[1], &deactivated))
	require.Equal(t, joined.After, deactivated.Before)
	require.Empty(t, deactivated.After.Permissions)
	require.Equal(t, joined.After.Permissions, deactivated.Lost)

	// Every delivery is recorded as succeeded on its third attempt.
	page, err := w.ListDeliveries(bg, &scimworker.DeliveriesRequest{ID: hook.ID, Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, want)
	for _, d := range page.Deliveries {
		require.Equal(t, scimworker.DeliverySucceeded, d.Status)
		require.Equal(t, 3, d.Attempts)
		require.Equal(t, 204, d.LastStatus)
		require.Nil(t, d.NextAttemptAt)
	}
}
