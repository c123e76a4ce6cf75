// Command echoworker is a test worker: it answers every exchange with a JSON
// echo of what it received and of its lifecycle (the login role it was
// prepared with, the tenant it is bound to). Some paths act instead:
//
//	/crash    exits
//	/sicken   Health hangs from now on
//	/hang     Handle hangs until its deadline
//	/slow     answers after 500ms
//	/conn     takes a database connection permit from the host and keeps it
//	/release  returns every permit taken by /conn
//
// Shed returns permits taken by /conn, as a real worker closes connections.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

type echo struct {
	// The pool's tests make no admin calls: the admin operations are left
	// unimplemented (a call would crash the echo worker).
	scimworker.Admin

	started time.Time
	sick    atomic.Bool

	mu      sync.Mutex
	host    scimworker.Host
	prepare *scimworker.Prepare
	binding *scimworker.Binding
	held    int
}

func (e *echo) Prepare(ctx context.Context, p *scimworker.Prepare, host scimworker.Host) error {
	// A real worker opens its first connection here, under a permit.
	if err := host.AcquireConn(ctx, true); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.host, e.prepare, e.held = host, p, 1
	return nil
}

func (e *echo) Bind(_ context.Context, b *scimworker.Binding) (*scimworker.Bound, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.binding != nil {
		return nil, errors.New("already bound")
	}
	e.binding = b
	return &scimworker.Bound{}, nil
}

func (e *echo) Handle(ctx context.Context, ex *scimworker.Exchange) (*scimworker.Reply, error) {
	switch ex.Path {
	case "/crash":
		os.Exit(3)
	case "/sicken":
		e.sick.Store(true)
	case "/hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "/slow":
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "/conn":
		if err := e.host.AcquireConn(ctx, true); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.held++
		e.mu.Unlock()
	case "/release":
		e.shed(ctx, 1<<20)
	}
	e.mu.Lock()
	body, err := json.Marshal(map[string]any{
		"tenant_id":  e.binding.TenantID,
		"base_url":   e.binding.BaseURL,
		"role":       e.prepare.User,
		"pid":        os.Getpid(),
		"request_id": ex.RequestID,
		"method":     ex.Method,
		"path":       ex.Path,
		"raw_query":  ex.RawQuery,
		"body":       string(ex.Body),
		"env":        os.Environ(),
		"held":       e.held,
	})
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &scimworker.Reply{Status: http.StatusOK, Body: body}, nil
}

func (e *echo) shed(ctx context.Context, n int) {
	e.mu.Lock()
	n = min(n, e.held)
	e.held -= n
	e.mu.Unlock()
	for range n {
		_ = e.host.ReleaseConn(ctx)
	}
}

func (e *echo) Health(ctx context.Context) (*scimworker.HealthReply, error) {
	if e.sick.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h := &scimworker.HealthReply{StartedUnixMS: e.started.UnixMilli(), OpenConns: e.held}
	if e.binding != nil {
		h.TenantID = e.binding.TenantID
	}
	return h, nil
}

func (e *echo) Shed(ctx context.Context, conns int) error {
	e.shed(ctx, conns)
	return nil
}

func main() {
	scimworker.Serve(&echo{started: time.Now()})
}
