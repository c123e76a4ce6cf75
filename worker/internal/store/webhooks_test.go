package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/worker/internal/store"
	"github.com/scimplane/scimplane/worker/internal/webhook"
)

// tenantStore is a migrated tenant schema, used as a worker uses it.
func tenantStore(t *testing.T) (*store.Store, *store.Pool) {
	t.Helper()
	p, schema, _ := tenantPool(t)
	_, err := store.Migrate(context.Background(), p, schema)
	require.NoError(t, err)
	return store.New(p), p
}

// Claim takes only the oldest pending delivery of each order key, at most
// perWebhook per webhook, none of a busy or disabled webhook, and leases
// what it takes; the next of a key comes once the previous has ended.
func TestStore_ClaimKeepsOrderPerKey(t *testing.T) {
	st, _ := tenantStore(t)
	ctx := context.Background()
	a, _, err := st.InsertWebhook(ctx, "wh_a", "http://127.0.0.1:1/a", nil)
	require.NoError(t, err)
	_, _, err = st.InsertWebhook(ctx, "wh_b", "http://127.0.0.1:1/b", []string{"group.created"})
	require.NoError(t, err)
	ev := func(key string) webhook.Event {
		return webhook.Event{Type: "user.created", OrderKey: key, At: time.Now(), Body: []byte(`{"k":"` + key + `"}`)}
	}
	for _, k := range []string{"u1", "u1", "u2", "u3", "u2"} {
		_, err := st.InsertDelivery(ctx, a.ID, ev(k))
		require.NoError(t, err)
	}
	_, err = st.InsertDelivery(ctx, "wh_b", ev("u1"))
	require.NoError(t, err)
	now := time.Now().Add(time.Second)

	claims, err := st.Claim(ctx, now, []string{"wh_b"}, 2, time.Minute)
	require.NoError(t, err)
	require.Len(t, claims, 2, "two at a time for wh_a, none of busy wh_b")
	keys := map[string]bool{}
	for _, c := range claims {
		require.Equal(t, "wh_a", c.WebhookID)
		require.Equal(t, 1, c.Attempts)
		keys[string(c.Payload)] = true
	}
	require.Equal(t, map[string]bool{`{"k":"u1"}`: true, `{"k":"u2"}`: true}, keys, "the oldest of u1 and u2")

	// Leased: not claimed again; u3 is, the second u1 is not.
	more, err := st.Claim(ctx, now, []string{"wh_b"}, 2, time.Minute)
	require.NoError(t, err)
	require.Len(t, more, 1)
	require.Equal(t, `{"k":"u3"}`, string(more[0].Payload))

	// The first u1 delivered: the second u1 is next; wh_b's only when not busy.
	for _, c := range claims {
		if string(c.Payload) == `{"k":"u1"}` {
			require.NoError(t, st.Finish(ctx, &webhook.Outcome{ID: c.ID, WebhookID: c.WebhookID, At: now, Status: 200, Delivered: true}))
		}
	}
	next, err := st.Claim(ctx, now, nil, 4, time.Minute)
	require.NoError(t, err)
	require.Len(t, next, 2)
	local, any, err := st.NextDue(ctx, nil)
	require.NoError(t, err)
	require.WithinDuration(t, now.Add(time.Minute), local, time.Second, "the leases are what is next")
	require.Equal(t, local, any)

	// A failure for good disables the webhook with its reason: nothing of
	// it is claimed or due any more.
	require.NoError(t, st.Finish(ctx, &webhook.Outcome{ID: next[0].ID, WebhookID: next[0].WebhookID, At: now, Error: "timed out", Disable: "gave up"}))
	got, _, err := st.Webhook(ctx, next[0].WebhookID)
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Equal(t, "gave up", got.DisabledReason)
	none, err := st.Claim(ctx, now.Add(time.Hour), nil, 4, time.Minute)
	require.NoError(t, err)
	for _, c := range none {
		require.NotEqual(t, next[0].WebhookID, c.WebhookID)
	}

	// Ended deliveries are pruned after the retention, pending ones kept.
	require.NoError(t, st.PruneDeliveries(ctx, now.Add(time.Hour)))
	page, _, err := st.Deliveries(ctx, "wh_a", "", 50)
	require.NoError(t, err)
	for _, d := range page {
		require.Equal(t, "pending", d.Status)
	}
}
