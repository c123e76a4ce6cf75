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
//	/probe    adds who it runs as and what it could read of its parent
//
// Shed returns permits taken by /conn, as a real worker closes connections.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
		// As the real worker does: only its first connection waits.
		e.mu.Lock()
		first := e.held == 0
		e.mu.Unlock()
		if err := e.host.AcquireConn(ctx, first); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.held++
		e.mu.Unlock()
	case "/release":
		e.shed(ctx, 1<<20)
	case "/probe":
		return e.probe()
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

// probe reports the worker's identity and what it gets when it tries to
// read its parent's (the control plane's) environment and memory.
func (e *echo) probe() (*scimworker.Reply, error) {
	groups, _ := os.Getgroups()
	tmp := os.TempDir()
	var tmpUID, tmpGID uint32
	var tmpMode string
	if fi, err := os.Stat(tmp); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		tmpUID, tmpGID, tmpMode = st.Uid, st.Gid, fi.Mode().String()
	}
	parent := "/proc/" + strconv.Itoa(os.Getppid())
	body, err := json.Marshal(map[string]any{
		"uid":            os.Getuid(),
		"euid":           os.Geteuid(),
		"gid":            os.Getgid(),
		"egid":           os.Getegid(),
		"groups":         groups,
		"env":            os.Environ(),
		"tmp":            tmp,
		"tmp_uid":        tmpUID,
		"tmp_gid":        tmpGID,
		"tmp_mode":       tmpMode,
		"parent_environ": readErr(parent + "/environ"),
		"parent_mem":     readErr(parent + "/mem"),
	})
	if err != nil {
		return nil, err
	}
	return &scimworker.Reply{Status: http.StatusOK, Body: body}, nil
}

// readErr opens path and reads up to a page of it, and returns the error,
// or "" if it could. (Opening /proc/PID/mem or environ is where the kernel
// checks access; reading mem at offset 0, which is never mapped, fails
// anyway, so mem is only opened.)
func readErr(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if strings.HasSuffix(path, "/mem") {
		return ""
	}
	if _, err := f.Read(make([]byte, 4096)); err != nil && err != io.EOF {
		return err.Error()
	}
	return ""
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
