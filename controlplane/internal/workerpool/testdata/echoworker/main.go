// Command echoworker is a test worker: it answers every exchange with a JSON
// echo of what it received, exits when asked to (path "/crash") and stops answering health checks
// after "/sicken", so the
// supervisor's crash handling can be tested against a real process.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

type echo struct {
	tenantID string
	started  time.Time
	sick     atomic.Bool // set by "/sicken": Health then hangs
}

func (e *echo) Handle(ctx context.Context, ex *scimworker.Exchange) (*scimworker.Reply, error) {
	switch ex.Path {
	case "/crash":
		os.Exit(3)
	case "/sicken":
		e.sick.Store(true)
	case "/slow":
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	body, err := json.Marshal(map[string]any{
		"tenant_id":  e.tenantID,
		"pid":        os.Getpid(),
		"request_id": ex.RequestID,
		"method":     ex.Method,
		"path":       ex.Path,
		"raw_query":  ex.RawQuery,
		"base_url":   ex.BaseURL,
		"header":     ex.Header,
		"body":       string(ex.Body),
		"env":        os.Environ(),
	})
	if err != nil {
		return nil, err
	}
	return &scimworker.Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/scim+json"}}, Body: body}, nil
}

func (e *echo) Admin(_ context.Context, req *scimworker.AdminRequest) (*scimworker.AdminReply, error) {
	return &scimworker.AdminReply{Status: http.StatusOK, Body: req.Args}, nil
}

func (e *echo) Health(ctx context.Context) (*scimworker.HealthReply, error) {
	if e.sick.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &scimworker.HealthReply{TenantID: e.tenantID, StartedUnixMS: e.started.UnixMilli()}, nil
}

func main() {
	scimworker.Serve(&echo{tenantID: os.Getenv(scimworker.EnvTenantID), started: time.Now()})
}
