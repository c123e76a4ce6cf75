package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// webhooksPage lists the tenant's webhooks; ?webhook= also shows one
// webhook's deliveries.
func (con *console) webhooksPage(r *request) error {
	return con.renderWebhooks(r, nil, "")
}

// renderWebhooks renders the webhooks page, with a secret just issued
// (shown once) or a message, if any.
func (con *console) renderWebhooks(r *request, issued *scimworker.WebhookCreated, flash string) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	ctx := r.c.UserContext()
	var list scimworker.WebhookList
	if err := r.api.get(ctx, tenantPath(t.ID, "webhooks"), nil, &list); err != nil {
		return err
	}
	data := map[string]any{"Webhooks": list.Webhooks, "Issued": issued, "Flash": flash, "Manage": r.sess.CanManage(t.ID),
		"Events": scimworker.WebhookEvents}
	if id := r.c.Query("webhook"); id != "" {
		var page scimworker.DeliveriesPage
		if err := r.api.get(ctx, tenantPath(t.ID, "webhooks", id, "deliveries"), pageQuery(r, false), &page); err != nil {
			return err
		}
		data["Selected"], data["Deliveries"], data["Next"] = id, page.Deliveries, page.Next
		data["Paged"] = r.c.Query("after") != ""
	}
	return con.render(r, "webhooks", page{Title: t.Name + ": webhooks", Nav: "webhooks", Tenant: t, Data: data})
}

// createWebhook subscribes the endpoint in the form and shows its secret
// once.
func (con *console) createWebhook(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	in := scimworker.WebhookCreate{URL: strings.TrimSpace(r.c.FormValue("url"))}
	if form, err := r.c.MultipartForm(); err == nil {
		in.Events = form.Value["events"]
	} else {
		for _, e := range r.c.Request().PostArgs().PeekMulti("events") {
			in.Events = append(in.Events, string(e))
		}
	}
	var created scimworker.WebhookCreated
	if err := r.api.post(r.c.UserContext(), tenantPath(t.ID, "webhooks"), in, &created); err != nil {
		return err
	}
	return con.renderWebhooks(r, &created, "")
}

// webhookAction runs a POST on one webhook (rotate-secret, test, enable,
// disable, delete) or one delivery (replay).
func (con *console) webhookAction(action string) func(*request) error {
	return func(r *request) error {
		t, err := r.tenant()
		if err != nil {
			return err
		}
		ctx, wid := r.c.UserContext(), r.c.Params("wid")
		back := "/tenants/" + url.PathEscape(t.ID) + "/webhooks"
		switch action {
		case "rotate-secret":
			var rotated scimworker.WebhookCreated
			if err := r.api.post(ctx, tenantPath(t.ID, "webhooks", wid, "rotate-secret"), nil, &rotated); err != nil {
				return err
			}
			return con.renderWebhooks(r, &rotated, "")
		case "test":
			if err := r.api.post(ctx, tenantPath(t.ID, "webhooks", wid, "test"), nil, nil); err != nil {
				return err
			}
		case "enable", "disable":
			in := map[string]bool{"enabled": action == "enable"}
			if err := r.api.do(ctx, http.MethodPatch, tenantPath(t.ID, "webhooks", wid), nil, in, nil); err != nil {
				return err
			}
		case "delete":
			if err := r.api.do(ctx, http.MethodDelete, tenantPath(t.ID, "webhooks", wid), nil, nil, nil); err != nil {
				return err
			}
			return r.redirect(back)
		case "replay":
			if err := r.api.post(ctx, tenantPath(t.ID, "webhooks", wid, "deliveries", r.c.Params("did"), "replay"), nil, nil); err != nil {
				return err
			}
		}
		return r.redirect(back + "?webhook=" + url.QueryEscape(wid))
	}
}
