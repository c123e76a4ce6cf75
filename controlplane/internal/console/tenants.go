package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

const tenantsPerPage = 50

// tenantRow is one line of the tenant list.
type tenantRow struct {
	tenant.TenantView
	LastRequest time.Time             // the latest use of any of its tokens (kept to the minute)
	Worker      *workerpool.Info      // nil when its worker is stopped
	Health      *scimworker.LogHealth // only for tenants whose worker runs: never starts one
}

func (con *console) tenantsPage(r *request) error {
	ctx := r.c.UserContext()
	var list httpapi.TenantList
	if err := r.api.get(ctx, "/api/v1/tenants", nil, &list); err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(r.c.Query("q")))
	var rows []*tenantRow
	for _, t := range list.Tenants {
		if q == "" || strings.Contains(strings.ToLower(t.Name), q) || strings.Contains(t.ID, q) {
			rows = append(rows, &tenantRow{TenantView: t})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return strings.ToLower(rows[i].Name) < strings.ToLower(rows[j].Name) })
	pageNo, _ := strconv.Atoi(r.c.Query("page"))
	pageNo = max(pageNo, 1)
	total := len(rows)
	from := min((pageNo-1)*tenantsPerPage, total)
	rows = rows[from:min(from+tenantsPerPage, total)]

	// Workers first: their list says which tenants have a health summary
	// to read without starting a worker.
	running := map[string]*workerpool.Info{}
	if r.sess.Operator() {
		var ws httpapi.WorkerList
		if err := r.api.get(ctx, "/api/v1/workers", nil, &ws); err != nil {
			return err
		}
		for i := range ws.Workers {
			running[ws.Workers[i].TenantID] = &ws.Workers[i]
		}
	}
	var wg sync.WaitGroup
	for _, row := range rows {
		row.Worker = running[row.ID]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tokens httpapi.TokenList
			if r.api.get(ctx, tenantPath(row.ID, "tokens"), nil, &tokens) == nil {
				for _, tok := range tokens.Tokens {
					if tok.LastUsedAt != nil && tok.LastUsedAt.After(row.LastRequest) {
						row.LastRequest = *tok.LastUsedAt
					}
				}
			}
			if row.Worker != nil {
				var h scimworker.LogHealth
				if r.api.get(ctx, tenantPath(row.ID, "logs", "health"), nil, &h) == nil {
					row.Health = &h
				}
			}
		}()
	}
	wg.Wait()
	next := 0
	if from+tenantsPerPage < total {
		next = pageNo + 1
	}
	data := map[string]any{"Rows": rows, "Total": total, "Q": r.c.Query("q"), "Prev": pageNo - 1, "Next": next}
	return con.render(r, "tenants", page{Title: "Tenants", Nav: "tenants", Data: data})
}

func (con *console) createTenant(r *request) error {
	name := strings.TrimSpace(r.c.FormValue("name"))
	var t tenant.CreatedTenant
	if err := r.api.post(r.c.UserContext(), "/api/v1/tenants", map[string]string{"name": name}, &t); err != nil {
		return err
	}
	// Show the setup page right away, with the first token (shown once).
	first := &tenant.CreatedToken{Token: tenant.Token{ID: t.TokenID, Name: "first token"}, Secret: t.Token}
	return con.renderSetup(r, &tenant.TenantView{Tenant: t.Tenant, SCIMURL: t.SCIMURL}, first, nil)
}

func (con *console) setEnabled(enabled bool) func(*request) error {
	action := "disable"
	if enabled {
		action = "enable"
	}
	return func(r *request) error {
		id := r.c.Params("id")
		if err := r.api.post(r.c.UserContext(), tenantPath(id, action), nil, nil); err != nil {
			return err
		}
		return r.redirect("/tenants")
	}
}

func (con *console) deletePage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	return con.render(r, "delete", page{Title: "Delete " + t.Name, Nav: "tenants", Tenant: t})
}

func (con *console) deleteTenant(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	confirm := strings.TrimSpace(r.c.FormValue("confirm"))
	if confirm != t.ID {
		r.c.Status(http.StatusUnprocessableEntity)
		return con.render(r, "delete", page{Title: "Delete " + t.Name, Nav: "tenants", Tenant: t,
			Data: map[string]any{"Error": "That is not this tenant's id; nothing was deleted."}})
	}
	if err := r.api.do(r.c.UserContext(), http.MethodDelete, tenantPath(t.ID), url.Values{"confirm": {confirm}}, nil, nil); err != nil {
		return err
	}
	return r.redirect("/tenants")
}
