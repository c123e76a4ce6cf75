package tenant

import (
	"context"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// The tenant's webhooks live in its schema and are served by its worker,
// which alone can sign (it derives each secret from the tenant's webhook
// key, see WebhookKey). Managing them takes an operator or the tenant's
// admin; reading them, any role that may read the tenant. Secrets pass
// through in the answers of create and rotate, never logged or stored.

// CreateWebhook subscribes an endpoint to the tenant's events.
func (s *Service) CreateWebhook(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhookCreate) (*scimworker.WebhookCreated, error) {
	return onWorker(ctx, s, p, tenantID, write, "webhook.create", scimworker.Worker.CreateWebhook, req)
}

// ListWebhooks lists the tenant's webhooks.
func (s *Service) ListWebhooks(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhooksRequest) (*scimworker.WebhookList, error) {
	return onWorker(ctx, s, p, tenantID, read, "webhook.list", scimworker.Worker.ListWebhooks, req)
}

// GetWebhook is one webhook.
func (s *Service) GetWebhook(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhookRequest) (*scimworker.Webhook, error) {
	return onWorker(ctx, s, p, tenantID, read, "webhook.get", scimworker.Worker.GetWebhook, req)
}

// UpdateWebhook changes a webhook's URL, events or enabled state.
func (s *Service) UpdateWebhook(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhookUpdate) (*scimworker.Webhook, error) {
	return onWorker(ctx, s, p, tenantID, write, "webhook.update", scimworker.Worker.UpdateWebhook, req)
}

// DeleteWebhook deletes a webhook and its deliveries.
func (s *Service) DeleteWebhook(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhookRequest) (*scimworker.WebhookDeleted, error) {
	return onWorker(ctx, s, p, tenantID, write, "webhook.delete", scimworker.Worker.DeleteWebhook, req)
}

// RotateWebhookSecret gives a webhook a new secret, shown once.
func (s *Service) RotateWebhookSecret(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhookRequest) (*scimworker.WebhookCreated, error) {
	return onWorker(ctx, s, p, tenantID, write, "webhook.rotate_secret", scimworker.Worker.RotateWebhookSecret, req)
}

// TestWebhook sends a webhook.test event to a webhook.
func (s *Service) TestWebhook(ctx context.Context, p Principal, tenantID string, req *scimworker.WebhookRequest) (*scimworker.Delivery, error) {
	return onWorker(ctx, s, p, tenantID, write, "webhook.test", scimworker.Worker.TestWebhook, req)
}

// ListDeliveries lists a webhook's deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, p Principal, tenantID string, req *scimworker.DeliveriesRequest) (*scimworker.DeliveriesPage, error) {
	return onWorker(ctx, s, p, tenantID, read, "webhook.deliveries", scimworker.Worker.ListDeliveries, req)
}

// ReplayDelivery sends a delivery's message again.
func (s *Service) ReplayDelivery(ctx context.Context, p Principal, tenantID string, req *scimworker.DeliveryRequest) (*scimworker.Delivery, error) {
	return onWorker(ctx, s, p, tenantID, write, "webhook.replay", scimworker.Worker.ReplayDelivery, req)
}
