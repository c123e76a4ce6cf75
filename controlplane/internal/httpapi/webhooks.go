package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// Path parameters of the webhook routes.
var (
	webhookParam  = with(tenantParam, "wid", "Webhook id (`wh_...`).")
	deliveryParam = with(webhookParam, "did", "Delivery id.")
)

// webhookRoute is a route serving one webhook operation on the tenant in
// the path: its request is read from the query string, the JSON body (if
// body) and the path (the webhook id, a delivery id), which wins; the
// answer is status with the reply, or no body with 204.
func webhookRoute[Req, Rep any](method, path, id string, op func(*tenant.Service, context.Context, tenant.Principal, string, *Req) (*Rep, error),
	body bool, status int, fill func(*fiber.Ctx, *Req) error, r Route) Route {
	r.Method, r.Path, r.ID, r.Tag = method, path, id, "webhooks"
	r.Status = status
	if method == http.MethodGet {
		r.Roles, r.Scope, r.Query = anyRole, readScope, typeOf[Req]()
	} else {
		r.Roles, r.Scope = managers, manageScope
	}
	if body {
		r.Body = typeOf[Req]()
	}
	if status != http.StatusNoContent {
		r.Response = typeOf[Rep]()
	}
	if r.Refusals == nil {
		r.Refusals = []int{403, 404}
	}
	r.serve = func(s *server) fiber.Handler {
		return func(c *fiber.Ctx) error {
			req := new(Req)
			if method == http.MethodGet {
				if err := query(c, req); err != nil {
					return err
				}
			}
			if body {
				if err := s.decode(c, req); err != nil {
					return err
				}
			}
			if fill != nil {
				if err := fill(c, req); err != nil {
					return err
				}
			}
			out, err := op(s.Tenants, c.UserContext(), principal(c), strings.Clone(c.Params("id")), req)
			if err != nil {
				return err
			}
			if status == http.StatusNoContent {
				return c.SendStatus(status)
			}
			return c.Status(status).JSON(out)
		}
	}
	return r
}

func webhookID(c *fiber.Ctx) string { return strings.Clone(c.Params("wid")) }

// webhookRoutes are the routes of the tenants' webhooks (docs/webhooks.md).
func webhookRoutes() []Route {
	byID := func(c *fiber.Ctx, r *scimworker.WebhookRequest) error { r.ID = webhookID(c); return nil }
	return []Route{
		webhookRoute(http.MethodPost, "/tenants/:id/webhooks", "createWebhook", (*tenant.Service).CreateWebhook, true, http.StatusCreated, nil,
			Route{Summary: "Subscribe an http(s) endpoint to the tenant's events",
				Description: "Omitting `events` subscribes to all. The answer shows the signing secret (`whsec_...`) once. " +
					"Loopback, private, link-local and CGNAT addresses are refused unless the operator allows them.",
				PathParams: tenantParam, Refusals: []int{403, 404, 409}}),
		webhookRoute(http.MethodGet, "/tenants/:id/webhooks", "listWebhooks", (*tenant.Service).ListWebhooks, false, http.StatusOK, nil,
			Route{Summary: "The tenant's webhooks, oldest first (never their secrets)", PathParams: tenantParam}),
		webhookRoute(http.MethodGet, "/tenants/:id/webhooks/:wid", "getWebhook", (*tenant.Service).GetWebhook, false, http.StatusOK, byID,
			Route{Summary: "One webhook, with its pending deliveries and why it was disabled, if it was", PathParams: webhookParam}),
		webhookRoute(http.MethodPatch, "/tenants/:id/webhooks/:wid", "updateWebhook", (*tenant.Service).UpdateWebhook, true, http.StatusOK,
			func(c *fiber.Ctx, r *scimworker.WebhookUpdate) error { r.ID = webhookID(c); return nil },
			Route{Summary: "Change a webhook's url, events or enabled state",
				Description: "Fields left out are kept (`id` is the path's). Enabling a disabled webhook clears its reason and retries its pending deliveries at once.",
				PathParams:  webhookParam}),
		webhookRoute(http.MethodDelete, "/tenants/:id/webhooks/:wid", "deleteWebhook", (*tenant.Service).DeleteWebhook, false, http.StatusNoContent, byID,
			Route{Summary: "Delete a webhook and its deliveries", PathParams: webhookParam}),
		webhookRoute(http.MethodPost, "/tenants/:id/webhooks/:wid/rotate-secret", "rotateWebhookSecret", (*tenant.Service).RotateWebhookSecret, false, http.StatusOK, byID,
			Route{Summary: "Replace a webhook's signing secret", Description: "The answer shows the new secret once; the old one stops signing at once.",
				PathParams: webhookParam}),
		webhookRoute(http.MethodPost, "/tenants/:id/webhooks/:wid/test", "testWebhook", (*tenant.Service).TestWebhook, false, http.StatusAccepted, byID,
			Route{Summary: "Queue a webhook.test event for a webhook", Description: "Follow it in the webhook's deliveries.", PathParams: webhookParam}),
		webhookRoute(http.MethodGet, "/tenants/:id/webhooks/:wid/deliveries", "listDeliveries", (*tenant.Service).ListDeliveries, false, http.StatusOK,
			func(c *fiber.Ctx, r *scimworker.DeliveriesRequest) error { r.ID = webhookID(c); return nil },
			Route{Summary: "A webhook's deliveries, newest first: status, attempts, last HTTP status, latency, response excerpt, next attempt",
				PathParams: webhookParam}),
		webhookRoute(http.MethodPost, "/tenants/:id/webhooks/:wid/deliveries/:did/replay", "replayDelivery", (*tenant.Service).ReplayDelivery, false, http.StatusAccepted,
			func(c *fiber.Ctx, r *scimworker.DeliveryRequest) error {
				n, err := strconv.ParseInt(c.Params("did"), 10, 64)
				if err != nil {
					return fiber.ErrNotFound
				}
				r.ID, r.Delivery = webhookID(c), n
				return nil
			},
			Route{Summary: "Send a delivery's message again, with the same webhook-id and body, as a new delivery", PathParams: deliveryParam}),
	}
}
