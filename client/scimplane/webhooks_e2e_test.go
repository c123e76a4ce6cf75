package scimplane_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/client/scimplane"
)

// hookReceiver takes every delivery, recording the verified ones.
type hookReceiver struct {
	mu     sync.Mutex
	secret *scimplane.WebhookSecret
	got    []hookEvent
	bad    int
}

type hookEvent struct {
	ID   string
	Type string
	Data map[string]any
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.secret == nil || h.secret.Verify(r.Header, body) != nil {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	h.got = append(h.got, hookEvent{ID: r.Header.Get("webhook-id"), Type: ev.Type, Data: ev.Data})
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) types() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.got {
		out = append(out, e.Type)
	}
	return out
}

// The webhook API end to end, every answer checked against the OpenAPI
// document: a tenant admin subscribes an endpoint, SCIM provisioning
// reaches it signed, deliveries are listed, tested, replayed; the secret
// rotates; refusals are clear.
func TestWebhooks_API(t *testing.T) {
	s := start(t)
	admin, support := s.key("tenant_admin"), s.key("support")
	rc := &hookReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	base := "/api/v1/tenants/" + s.tenant + "/webhooks"

	// Refusals: a key that only reads, a scheme, an unknown event.
	s.call("POST", base, support, `{"url":"`+srv.URL+`"}`, http.StatusForbidden, nil)
	s.call("POST", base, admin, `{"url":"ftp://example.com/x"}`, http.StatusBadRequest, nil)
	s.call("POST", base, admin, `{"url":"`+srv.URL+`","events":["user.exploded"]}`, http.StatusBadRequest, nil)
	s.call("POST", base, admin, `{"url":`, http.StatusBadRequest, nil)

	var created struct {
		ID     string   `json:"id"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	s.call("POST", base, admin, `{"url":"`+srv.URL+`/hook","events":["user.created","group.member_added","permissions.changed"]}`, http.StatusCreated, &created)
	require.Regexp(t, `^wh_`, created.ID)
	secret, err := scimplane.ParseWebhookSecret(created.Secret)
	require.NoError(t, err)
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()

	ada := s.scim("POST", "/Users", user("ada@example.com"), http.StatusCreated)
	designers := s.scim("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Forms Designers"}`, http.StatusCreated)
	s.scim("PATCH", "/Groups/"+designers, addMember(ada), http.StatusNoContent)
	require.Eventually(t, func() bool { return len(rc.types()) >= 3 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{"user.created", "group.member_added", "permissions.changed"}, rc.types(), "only the events subscribed, in order")

	// The list and one webhook, without secrets; deliveries with their outcome.
	var list struct {
		Webhooks []map[string]any `json:"webhooks"`
	}
	s.call("GET", base, support, "", http.StatusOK, &list)
	require.Len(t, list.Webhooks, 1)
	require.NotContains(t, list.Webhooks[0], "secret")
	var page struct {
		Deliveries []struct {
			ID         int64  `json:"id"`
			MessageID  string `json:"message_id"`
			Type       string `json:"type"`
			Status     string `json:"status"`
			LastStatus int    `json:"last_status"`
		} `json:"deliveries"`
	}
	require.Eventually(t, func() bool {
		s.call("GET", base+"/"+created.ID+"/deliveries", support, "", http.StatusOK, &page)
		return len(page.Deliveries) == 3 && page.Deliveries[0].Status == "succeeded"
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 200, page.Deliveries[0].LastStatus)

	// A test send and a replay, the latter with the same webhook-id.
	s.call("POST", base+"/"+created.ID+"/test", admin, "", http.StatusAccepted, nil)
	first := page.Deliveries[len(page.Deliveries)-1]
	s.call("POST", base+"/"+created.ID+"/deliveries/"+itoa(first.ID)+"/replay", admin, "", http.StatusAccepted, nil)
	require.Eventually(t, func() bool { return len(rc.types()) >= 5 }, 30*time.Second, 20*time.Millisecond)
	rc.mu.Lock()
	require.Contains(t, []string{rc.got[3].Type, rc.got[4].Type}, "webhook.test")
	replayed := rc.got[3]
	if replayed.Type == "webhook.test" {
		replayed = rc.got[4]
	}
	require.Equal(t, first.MessageID, replayed.ID)
	rc.mu.Unlock()

	// Rotation: the old secret no longer verifies, the new one does.
	var rotated struct {
		Secret string `json:"secret"`
	}
	s.call("POST", base+"/"+created.ID+"/rotate-secret", admin, "", http.StatusOK, &rotated)
	require.NotEqual(t, created.Secret, rotated.Secret)
	s.call("POST", base+"/"+created.ID+"/test", admin, "", http.StatusAccepted, nil)
	require.Eventually(t, func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.bad > 0 }, 30*time.Second, 20*time.Millisecond)
	newSecret, err := scimplane.ParseWebhookSecret(rotated.Secret)
	require.NoError(t, err)
	rc.mu.Lock()
	rc.secret = newSecret
	rc.mu.Unlock()

	// Update, then delete; unknown ids are 404.
	var updated struct {
		Enabled bool     `json:"enabled"`
		Events  []string `json:"events"`
	}
	s.call("PATCH", base+"/"+created.ID, admin, `{"enabled":false,"events":[]}`, http.StatusOK, &updated)
	require.False(t, updated.Enabled)
	require.Empty(t, updated.Events)
	s.call("GET", base+"/wh_nope", support, "", http.StatusNotFound, nil)
	s.call("DELETE", base+"/"+created.ID, admin, "", http.StatusNoContent, nil)
	s.call("DELETE", base+"/"+created.ID, admin, "", http.StatusNotFound, nil)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A tenant whose worker was stopped as idle with a retry due gets a worker
// again when it is due, and the delivery goes out.
func TestWebhooks_RetryWakesStoppedWorker(t *testing.T) {
	s := start(t, "SCIMPLANE_WORKER_IDLE_TIMEOUT=1s")
	admin := s.key("tenant_admin")
	var mu sync.Mutex
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			w.WriteHeader(http.StatusInternalServerError) // retried in 5s, after the worker has stopped
		}
	}))
	defer srv.Close()
	s.call("POST", "/api/v1/tenants/"+s.tenant+"/webhooks", admin, `{"url":"`+srv.URL+`","events":["user.created"]}`, http.StatusCreated, nil)
	s.scim("POST", "/Users", user("ada@example.com"), http.StatusCreated)

	workers := func() int {
		var list struct {
			Workers []struct {
				TenantID string `json:"tenant_id"`
			} `json:"workers"`
		}
		s.call("GET", "/api/v1/workers", operatorKey, "", http.StatusOK, &list)
		n := 0
		for _, w := range list.Workers {
			if w.TenantID == s.tenant {
				n++
			}
		}
		return n
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return attempts }
	require.Eventually(t, func() bool { return count() == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return workers() == 0 }, 30*time.Second, 100*time.Millisecond, "stopped as idle")
	require.Eventually(t, func() bool { return count() == 2 }, 60*time.Second, 100*time.Millisecond, "woken for the retry")
}
