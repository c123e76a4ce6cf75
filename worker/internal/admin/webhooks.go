package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"slices"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/webhook"
)

// MaxWebhooks bounds a tenant's webhooks.
const MaxWebhooks = 20

func newWebhookID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "wh_" + hex.EncodeToString(b)
}

// webhookNotFound maps the store's not found to a 404 refusal.
func webhookNotFound(err error, what string) error {
	if errors.Is(err, provision.ErrNotFound) {
		return scimworker.NotFound(what + " not found")
	}
	return err
}

// checkEvents validates event types and returns them sorted, without
// duplicates; none means all.
func checkEvents(events []string) ([]string, error) {
	out := []string{}
	for _, e := range events {
		if !slices.Contains(scimworker.WebhookEvents, e) {
			return nil, scimworker.BadRequest("unknown event type " + e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (t *Tenant) checkURL(ctx context.Context, url string) error {
	if err := webhook.CheckURL(ctx, url, t.WebhookAllowPrivate, net.DefaultResolver); err != nil {
		return scimworker.BadRequest(err.Error())
	}
	return nil
}

func (t *Tenant) created(w *scimworker.Webhook, gen int64) *scimworker.WebhookCreated {
	return &scimworker.WebhookCreated{Webhook: *w, Secret: webhook.FormatSecret(webhook.Secret(t.WebhookKey, w.ID, gen))}
}

// CreateWebhook subscribes an endpoint and shows its secret once.
func (a *Server) CreateWebhook(ctx context.Context, req *scimworker.WebhookCreate) (*scimworker.WebhookCreated, error) {
	return run(ctx, a, "create webhook", func(t *Tenant) (*scimworker.WebhookCreated, error) {
		if len(t.WebhookKey) == 0 {
			return nil, &scimworker.Error{Status: 503, Message: "webhooks are not configured for this worker"}
		}
		if err := t.checkURL(ctx, req.URL); err != nil {
			return nil, err
		}
		events, err := checkEvents(req.Events)
		if err != nil {
			return nil, err
		}
		existing, err := t.Store.Webhooks(ctx)
		if err != nil {
			return nil, err
		}
		if len(existing) >= MaxWebhooks {
			return nil, &scimworker.Error{Status: 409, Message: "a tenant has at most 20 webhooks"}
		}
		w, gen, err := t.Store.InsertWebhook(ctx, newWebhookID(), req.URL, events)
		if err != nil {
			return nil, err
		}
		if t.Webhooks != nil {
			t.Webhooks.Activate()
		}
		return t.created(w, gen), nil
	})
}

// ListWebhooks lists the tenant's webhooks.
func (a *Server) ListWebhooks(ctx context.Context, _ *scimworker.WebhooksRequest) (*scimworker.WebhookList, error) {
	return run(ctx, a, "list webhooks", func(t *Tenant) (*scimworker.WebhookList, error) {
		ws, err := t.Store.Webhooks(ctx)
		return &scimworker.WebhookList{Webhooks: orEmpty(ws)}, err
	})
}

// GetWebhook is one webhook.
func (a *Server) GetWebhook(ctx context.Context, req *scimworker.WebhookRequest) (*scimworker.Webhook, error) {
	return run(ctx, a, "get webhook", func(t *Tenant) (*scimworker.Webhook, error) {
		w, _, err := t.Store.Webhook(ctx, req.ID)
		return w, webhookNotFound(err, "webhook")
	})
}

// UpdateWebhook changes a webhook's URL, events or enabled state.
func (a *Server) UpdateWebhook(ctx context.Context, req *scimworker.WebhookUpdate) (*scimworker.Webhook, error) {
	return run(ctx, a, "update webhook", func(t *Tenant) (*scimworker.Webhook, error) {
		if req.URL != nil {
			if err := t.checkURL(ctx, *req.URL); err != nil {
				return nil, err
			}
		}
		if req.Events != nil {
			events, err := checkEvents(*req.Events)
			if err != nil {
				return nil, err
			}
			req.Events = &events
		}
		w, err := t.Store.UpdateWebhook(ctx, req.ID, req.URL, req.Events, req.Enabled)
		if err != nil {
			return nil, webhookNotFound(err, "webhook")
		}
		t.nudge()
		return w, nil
	})
}

// DeleteWebhook deletes a webhook and its deliveries.
func (a *Server) DeleteWebhook(ctx context.Context, req *scimworker.WebhookRequest) (*scimworker.WebhookDeleted, error) {
	return run(ctx, a, "delete webhook", func(t *Tenant) (*scimworker.WebhookDeleted, error) {
		if err := t.Store.DeleteWebhook(ctx, req.ID); err != nil {
			return nil, webhookNotFound(err, "webhook")
		}
		return &scimworker.WebhookDeleted{}, nil
	})
}

// RotateWebhookSecret replaces a webhook's secret and shows the new one.
func (a *Server) RotateWebhookSecret(ctx context.Context, req *scimworker.WebhookRequest) (*scimworker.WebhookCreated, error) {
	return run(ctx, a, "rotate webhook secret", func(t *Tenant) (*scimworker.WebhookCreated, error) {
		if len(t.WebhookKey) == 0 {
			return nil, &scimworker.Error{Status: 503, Message: "webhooks are not configured for this worker"}
		}
		w, gen, err := t.Store.RotateWebhookSecret(ctx, req.ID)
		if err != nil {
			return nil, webhookNotFound(err, "webhook")
		}
		return t.created(w, gen), nil
	})
}

// TestWebhook queues a webhook.test event.
func (a *Server) TestWebhook(ctx context.Context, req *scimworker.WebhookRequest) (*scimworker.Delivery, error) {
	return run(ctx, a, "test webhook", func(t *Tenant) (*scimworker.Delivery, error) {
		d, err := t.Store.InsertDelivery(ctx, req.ID, webhook.TestEvent(req.ID, a.now()))
		if err != nil {
			return nil, webhookNotFound(err, "webhook")
		}
		t.nudge()
		return d, nil
	})
}

// ListDeliveries lists a webhook's deliveries, newest first.
func (a *Server) ListDeliveries(ctx context.Context, req *scimworker.DeliveriesRequest) (*scimworker.DeliveriesPage, error) {
	return run(ctx, a, "list deliveries", func(t *Tenant) (*scimworker.DeliveriesPage, error) {
		if _, _, err := t.Store.Webhook(ctx, req.ID); err != nil {
			return nil, webhookNotFound(err, "webhook")
		}
		ds, next, err := t.Store.Deliveries(ctx, req.ID, req.After, page(req.Limit, 500))
		if err != nil {
			return nil, err
		}
		return &scimworker.DeliveriesPage{Deliveries: orEmpty(ds), Next: next}, nil
	})
}

// ReplayDelivery queues a delivery's message again.
func (a *Server) ReplayDelivery(ctx context.Context, req *scimworker.DeliveryRequest) (*scimworker.Delivery, error) {
	return run(ctx, a, "replay delivery", func(t *Tenant) (*scimworker.Delivery, error) {
		d, err := t.Store.ReplayDelivery(ctx, req.ID, req.Delivery)
		if err != nil {
			return nil, webhookNotFound(err, "delivery")
		}
		t.nudge()
		return d, nil
	})
}

func (t *Tenant) nudge() {
	if t.Webhooks != nil {
		t.Webhooks.Nudge()
	}
}
