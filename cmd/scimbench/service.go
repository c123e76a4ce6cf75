package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// service is one control plane started for one scenario run, on the
// embedded PostgreSQL in its own temporary data directory.
type service struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	base    string // http://127.0.0.1:PORT
	key     string // operator API key
	dataDir string
	logPath string
	env     []string
}

// serviceEnv builds the control plane's environment. Precedence, highest
// first: what the bench must own (address, data dir, key, worker binary),
// SCIMPLANE_* variables from the bench's own environment (so an operator
// can tune the service under test), then the scenario's defaults. Nothing
// else passes, DATABASE_URL in particular: the embedded default is what is
// measured.
func serviceEnv(own, defaults map[string]string, environ []string) []string {
	env := map[string]string{}
	for k, v := range defaults {
		env[k] = v
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "SCIMPLANE_") {
			env[k] = v
		}
	}
	for k, v := range own {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// envValue is the value a built environment gives name.
func envValue(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

type serviceParams struct {
	controlplane, worker string
	logDir, label        string
	defaults             map[string]string // scenario defaults, overridable from the environment
}

func startService(ctx context.Context, p serviceParams, client *http.Client) (*service, error) {
	dataDir, err := os.MkdirTemp("", "scimbench-")
	if err != nil {
		return nil, err
	}
	// The embedded PostgreSQL runs as the postgres OS user when we are
	// root and must traverse this directory.
	if err := os.Chmod(dataDir, 0o711); err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	s := &service{base: "http://" + addr, key: "spk_" + randomHex(24), dataDir: dataDir, exited: make(chan struct{})}
	defaults := map[string]string{
		"SCIMPLANE_LOG_LEVEL":        "warn",
		"SCIMPLANE_WORKER_LOG_LEVEL": "warn",
		// No load balancer needs the drain's notice period here.
		"SCIMPLANE_SHUTDOWN_DELAY": "0s",
	}
	for k, v := range p.defaults {
		defaults[k] = v
	}
	s.env = serviceEnv(map[string]string{
		"PATH":                    os.Getenv("PATH"),
		"SCIMPLANE_ADDR":          addr,
		"SCIMPLANE_DATA_DIR":      dataDir,
		"SCIMPLANE_BOOTSTRAP_KEY": s.key,
		"SCIMPLANE_WORKER_BIN":    p.worker,
	}, defaults, os.Environ())
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	s.logPath = filepath.Join(p.logDir, p.label+".log")
	logf, err := os.Create(s.logPath)
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(p.controlplane)
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// If the bench dies, the control plane (and with it its workers and
	// PostgreSQL) goes too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, client); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *service) pid() int { return s.cmd.Process.Pid }

func (s *service) waitReady(ctx context.Context, client *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("control plane exited before ready (%v); log %s:\n%s", s.waitErr, s.logPath, s.logTail(20))
		case <-ctx.Done():
			return fmt.Errorf("control plane not ready: %w; log %s:\n%s", ctx.Err(), s.logPath, s.logTail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGINT (the control plane then stops its workers and
// PostgreSQL), waits, kills after a minute, and removes the data dir.
func (s *service) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = os.RemoveAll(s.dataDir)
}

func (s *service) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// tenantInfo is what POST /api/v1/tenants answers.
type tenantInfo struct {
	ID      string `json:"id"`
	SCIMURL string `json:"scim_url"`
	Token   string `json:"token"`
}

func (s *service) createTenant(ctx context.Context, client *http.Client, name string) (tenantInfo, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v1/tenants", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return tenantInfo{}, fmt.Errorf("create tenant %q: %w", name, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return tenantInfo{}, fmt.Errorf("create tenant %q: %w", name, err)
		}
		// Setup, not measured: wait out a busy service a few times.
		if (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && attempt < 10 {
			select {
			case <-ctx.Done():
				return tenantInfo{}, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		if resp.StatusCode != http.StatusCreated {
			return tenantInfo{}, fmt.Errorf("create tenant %q: %d %s", name, resp.StatusCode, truncate(string(b)))
		}
		var t tenantInfo
		if err := json.Unmarshal(b, &t); err != nil {
			return tenantInfo{}, fmt.Errorf("create tenant %q: %w", name, err)
		}
		if t.ID == "" || t.SCIMURL == "" || t.Token == "" {
			return tenantInfo{}, fmt.Errorf("create tenant %q: answer without id, scim_url or token: %s", name, truncate(string(b)))
		}
		return t, nil
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
