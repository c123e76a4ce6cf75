package console

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// logFilters are the log API's filters, as the viewer's form names them.
var logFilters = []string{"status", "method", "resource_type", "resource_id", "user", "request_id", "q"}

// datetimeLocal is the value format of <input type="datetime-local">.
const datetimeLocal = "2006-01-02T15:04"

// logQuery turns the viewer's form into the log API's query: the filters
// as they are, and from/to (entered as UTC) as RFC 3339.
func logQuery(r *request) (url.Values, error) {
	q := url.Values{}
	for _, f := range logFilters {
		if v := strings.TrimSpace(r.c.Query(f)); v != "" {
			q.Set(f, v)
		}
	}
	for _, f := range []string{"from", "to"} {
		v := strings.TrimSpace(r.c.Query(f))
		if v == "" {
			continue
		}
		at, err := time.Parse(datetimeLocal, v)
		if err != nil {
			if at, err = time.Parse(time.RFC3339, v); err != nil {
				return nil, badInput(f + " must be a date and time like 2026-01-31T14:00")
			}
		}
		q.Set(f, at.UTC().Format(time.RFC3339))
	}
	return q, nil
}

func (con *console) queryLog(r *request, tenantID string, q url.Values) (*scimworker.LogPage, error) {
	q.Set("limit", pageSize)
	if after := r.c.Query("after"); after != "" {
		q.Set("after", after)
	}
	var lp scimworker.LogPage
	if err := r.api.get(r.c.UserContext(), tenantPath(tenantID, "logs"), q, &lp); err != nil {
		return nil, err
	}
	return &lp, nil
}

func (con *console) logsPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	q, err := logQuery(r)
	if err != nil {
		return err
	}
	// Links that keep the filters but not the paging.
	base, filters := prefix+"/tenants/"+url.PathEscape(t.ID)+"/logs", "?"+q.Encode()
	data := map[string]any{"Form": formValues(r), "Paged": r.c.Query("after") != "",
		"LogURL": base + filters, "ExportURL": base + "/export" + filters, "RowsURL": base + "/rows" + filters}
	// The list and the health summary fail separately: a page that shows
	// the API's error beats no page.
	if lp, err := con.queryLog(r, t.ID, q); err != nil {
		data["LogError"] = err
	} else {
		data["Log"] = lp
	}
	var h scimworker.LogHealth
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "logs", "health"), nil, &h); err != nil {
		data["HealthError"] = err
	} else {
		data["Health"] = h
	}
	var rej httpapi.RejectionList
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "rejections"), url.Values{"limit": {"20"}}, &rej); err != nil {
		data["RejectionsError"] = err
	} else {
		data["Rejections"] = rej.Rejections
	}
	return con.render(r, "logs", page{Title: t.Name + ": SCIM log", Nav: "logs", Tenant: t, Data: data})
}

// formValues echoes the filter form's fields.
func formValues(r *request) map[string]string {
	v := map[string]string{}
	for _, f := range append([]string{"from", "to"}, logFilters...) {
		v[f] = r.c.Query(f)
	}
	return v
}

// logRows is the live tail: the newest rows as table rows, polled by the
// viewer's script.
func (con *console) logRows(r *request) error {
	id := r.c.Params("id")
	q, err := logQuery(r)
	if err != nil {
		return err
	}
	lp, err := con.queryLog(r, id, q)
	if err != nil {
		return err
	}
	return con.renderFragment(r, "logs", "rows", map[string]any{"Entries": lp.Entries, "TenantID": id})
}

// exportTimeout bounds one export download.
const exportTimeout = 10 * time.Minute

// logExport streams the API's NDJSON or CSV export as a download. The
// stream outlives the handler, so its request gets its own deadline and is
// cancelled when the body is closed.
func (con *console) logExport(r *request) error {
	id := r.c.Params("id")
	q, err := logQuery(r)
	if err != nil {
		return err
	}
	format := r.c.Query("format")
	if format != "csv" {
		format = "ndjson"
	}
	q.Set("format", format)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.c.UserContext()), exportTimeout)
	resp, err := r.api.send(ctx, http.MethodGet, tenantPath(id, "logs"), q, nil)
	if err != nil {
		cancel()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return newAPIError(http.MethodGet, tenantPath(id, "logs"), resp.StatusCode, body)
	}
	r.c.Set("Content-Type", resp.Header.Get("Content-Type"))
	r.c.Set("Content-Disposition", `attachment; filename="scim-log-`+id+`.`+format+`"`)
	r.c.Context().SetBodyStream(cancelOnClose{ReadCloser: resp.Body, cancel: cancel}, -1)
	return nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}

func (con *console) logEntryPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	var e scimworker.LogEntry
	if err := r.api.get(r.c.UserContext(), tenantPath(t.ID, "logs", r.c.Params("entry")), nil, &e); err != nil {
		return err
	}
	data := map[string]any{"E": e, "RequestBody": prettyJSONPtr(e.RequestBody), "ResponseBody": prettyJSONPtr(e.ResponseBody)}
	return con.render(r, "entry", page{Title: e.Method + " " + e.Path, Nav: "logs", Tenant: t, Data: data})
}
