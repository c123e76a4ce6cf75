package httpapi

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// exportTimeout bounds one log export, which outlives its handler.
const exportTimeout = 10 * time.Minute

// logs answers GET /tenants/{id}/logs: a page of the SCIM log, or with
// ?format=ndjson|csv every matching entry, streamed from the worker.
func (s *server) logs(c *fiber.Ctx) error {
	switch c.Query("format") {
	case "", "json":
		return tenantOp(s, (*tenant.Service).QueryLog, nil)(c)
	}
	return s.exportLog(c)
}

// exportLog streams the worker's export to the client as it comes. The
// answer's status waits for the export's first bytes, so that a refused
// query (or tenant) gets its error status; once bytes flow, a failure can
// only cut the body short.
func (s *server) exportLog(c *fiber.Ctx) error {
	var q scimworker.LogExportRequest
	if err := c.QueryParser(&q); err != nil {
		return &httpError{code: fiber.StatusBadRequest, msg: "invalid query parameters", err: err}
	}
	req := cloneExport(q) // used after the handler returns
	tenantID, p := strings.Clone(c.Params("id")), principal(c)
	// The body is written after the request's own context ends.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), exportTimeout)
	pr, pw := io.Pipe()
	w := &firstWrite{w: pw, started: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		err := s.Tenants.ExportLog(ctx, p, tenantID, &req, w)
		if err != nil && w.wrote() {
			s.Logger.WarnContext(ctx, "log export cut short", "tenant_id", tenantID, "err", err)
		}
		pw.CloseWithError(err)
		done <- err
	}()
	select {
	case <-w.started:
	case err := <-done:
		if err != nil {
			cancel()
			return err
		}
	}
	if req.Format == scimworker.FormatCSV {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="scim-log.%s"`, req.Format))
	c.Context().SetBodyStream(cancelOnClose{ReadCloser: pr, cancel: cancel}, -1)
	return nil
}

// cloneExport copies a request whose strings point into fasthttp's
// buffers.
func cloneExport(q scimworker.LogExportRequest) scimworker.LogExportRequest {
	for _, f := range []*string{&q.From, &q.To, &q.Status, &q.Method, &q.ResourceType, &q.ResourceID, &q.User,
		&q.RequestID, &q.Q, &q.After, &q.Format} {
		*f = strings.Clone(*f)
	}
	return q
}

// firstWrite signals its first write before passing it on.
type firstWrite struct {
	w       io.Writer
	once    sync.Once
	started chan struct{}
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.once.Do(func() { close(f.started) })
	return f.w.Write(p)
}

func (f *firstWrite) wrote() bool {
	select {
	case <-f.started:
		return true
	default:
		return false
	}
}

// cancelOnClose ends the export when fasthttp is done with the body: sent,
// or the client gone.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}
