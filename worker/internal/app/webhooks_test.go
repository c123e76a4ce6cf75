package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// wakes records the wake-ups a worker asks for.
type wakes struct {
	unlimited
	mu   sync.Mutex
	last time.Time
	n    int
}

func (h *wakes) ScheduleWake(_ context.Context, at time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last, h.n = at, h.n+1
	return nil
}

func (h *wakes) get() (time.Time, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.n
}

// An endpoint that keeps failing gets its deliveries retried on the
// schedule, then the delivery fails and the webhook is disabled with its
// reason; the control plane is asked to wake the tenant when the next
// retry is due. Enabling it again retries at once.
func TestWebhooks_PersistentFailureDisables(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	host := &wakes{}
	var fail sync.Map
	fail.Store("on", true)
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore(r.Header.Get("webhook-id"), new(int))
		*n.(*int)++
		if on, _ := fail.Load("on"); on.(bool) {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) {
		c.WebhookKey, c.WebhookAllowPrivate, c.Host = key, true, host
		c.Options.WebhookSchedule = []time.Duration{10 * time.Millisecond, time.Hour}
	})
	hook, err := w.CreateWebhook(bg, &scimworker.WebhookCreate{URL: srv.URL, Events: []string{scimworker.EventUserCreated}})
	require.NoError(t, err)
	require.Equal(t, []string{scimworker.EventUserCreated}, hook.Events)
	create(t, w, "/Users", `{"userName":"ann@contoso.com"}`)

	// Two attempts, then a retry an hour later, which the host is told of.
	var d scimworker.Delivery
	require.Eventually(t, func() bool {
		page, err := w.ListDeliveries(bg, &scimworker.DeliveriesRequest{ID: hook.ID})
		require.NoError(t, err)
		if len(page.Deliveries) != 1 {
			return false
		}
		d = page.Deliveries[0]
		// The second attempt recorded (not merely claimed: a claimed one
		// is leased for the timeout and 20s).
		return d.Attempts == 2 && d.NextAttemptAt != nil && d.NextAttemptAt.Sub(*d.LastAttemptAt) > 30*time.Minute
	}, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusServiceUnavailable, d.LastStatus)
	require.Equal(t, scimworker.DeliveryPending, d.Status)
	require.Equal(t, "down for maintenance\n", d.ResponseExcerpt)
	require.Equal(t, "endpoint answered 503", d.LastError)
	require.NotNil(t, d.NextAttemptAt)
	require.WithinDuration(t, d.LastAttemptAt.Add(time.Hour), *d.NextAttemptAt, time.Minute)
	require.Eventually(t, func() bool {
		at, _ := host.get()
		return at.Equal(*d.NextAttemptAt)
	}, 10*time.Second, 10*time.Millisecond, "the wake-up is the next retry")

	// The last attempt fails too: the delivery has failed, the webhook is
	// disabled, and nothing is due any more.
	makeDue(t, w, hook.ID)
	require.Eventually(t, func() bool {
		got, err := w.GetWebhook(bg, &scimworker.WebhookRequest{ID: hook.ID})
		require.NoError(t, err)
		return !got.Enabled
	}, 30*time.Second, 10*time.Millisecond)
	got, err := w.GetWebhook(bg, &scimworker.WebhookRequest{ID: hook.ID})
	require.NoError(t, err)
	require.Contains(t, got.DisabledReason, "disabled after 3 failed attempts")
	require.Contains(t, got.DisabledReason, "endpoint answered 503")
	page, err := w.ListDeliveries(bg, &scimworker.DeliveriesRequest{ID: hook.ID})
	require.NoError(t, err)
	require.Equal(t, scimworker.DeliveryFailed, page.Deliveries[0].Status)
	require.Nil(t, page.Deliveries[0].NextAttemptAt)
	require.Eventually(t, func() bool { at, _ := host.get(); return at.IsZero() }, 10*time.Second, 10*time.Millisecond)

	// A replay once the endpoint is back, after enabling it again.
	fail.Store("on", false)
	enabled := true
	got, err = w.UpdateWebhook(bg, &scimworker.WebhookUpdate{ID: hook.ID, Enabled: &enabled})
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.Empty(t, got.DisabledReason)
	_, err = w.ReplayDelivery(bg, &scimworker.DeliveryRequest{ID: hook.ID, Delivery: page.Deliveries[0].ID})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		page, err := w.ListDeliveries(bg, &scimworker.DeliveriesRequest{ID: hook.ID})
		require.NoError(t, err)
		return len(page.Deliveries) == 2 && page.Deliveries[0].Status == scimworker.DeliverySucceeded
	}, 30*time.Second, 10*time.Millisecond)
	_, err = w.ReplayDelivery(bg, &scimworker.DeliveryRequest{ID: hook.ID, Delivery: 999999})
	require.Equal(t, 404, refused(t, err).Status)
}

// makeDue makes a webhook's pending deliveries due now, as the clock would
// an hour later.
func makeDue(t *testing.T, w *Worker, webhookID string) {
	t.Helper()
	pool := w.pool.Load()
	_, err := pool.Exec(bg, `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE webhook_id = $1 AND status = 'pending'`, webhookID)
	require.NoError(t, err)
	w.bound.Load().admin.Webhooks.Nudge()
}

// A slow endpoint delays neither the SCIM responses nor another endpoint.
func TestWebhooks_SlowEndpointDelaysNoOther(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) {
		c.WebhookKey, c.WebhookAllowPrivate = key, true
		c.Options.WebhookTimeout = time.Minute
	})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	var mu sync.Mutex
	fast := 0
	quick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fast++
		mu.Unlock()
	}))
	defer quick.Close()
	_, err := w.CreateWebhook(bg, &scimworker.WebhookCreate{URL: slow.URL})
	require.NoError(t, err)
	_, err = w.CreateWebhook(bg, &scimworker.WebhookCreate{URL: quick.URL})
	require.NoError(t, err)
	for i := range 10 {
		create(t, w, "/Users", `{"userName":"user`+strconv.Itoa(i)+`@contoso.com"}`) // answered while the slow endpoint hangs
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return fast == 10 }, 30*time.Second, 10*time.Millisecond,
		"the quick endpoint gets everything while the slow one holds its first deliveries")
	close(release)
}

// A change committed while an older transaction of the cluster is in
// flight is held back by the feed's visibility rule; it goes out once that
// transaction ends, without another write to nudge the deliverer.
func TestWebhooks_HeldBackChangeGoesOutLater(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w, admin := newTestWorkerWithAdmin(t, func(c *Config) { c.WebhookKey, c.WebhookAllowPrivate = key, true })
	var mu sync.Mutex
	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); got++; mu.Unlock() }))
	defer srv.Close()
	_, err := w.CreateWebhook(bg, &scimworker.WebhookCreate{URL: srv.URL})
	require.NoError(t, err)

	// An older transaction with an id, in flight while the user is created.
	long, err := pgx.Connect(bg, admin)
	require.NoError(t, err)
	defer long.Close(bg)
	tx, err := long.Begin(bg)
	require.NoError(t, err)
	_, err = tx.Exec(bg, "SELECT pg_current_xact_id()")
	require.NoError(t, err)
	create(t, w, "/Users", `{"userName":"ann@contoso.com"}`)
	time.Sleep(2 * time.Second) // past the deliverer's first looks
	mu.Lock()
	require.Zero(t, got, "held back while the older transaction runs")
	mu.Unlock()

	require.NoError(t, tx.Rollback(bg))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return got == 1 }, 30*time.Second, 10*time.Millisecond)
}
