package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/ratelimit"
	"github.com/scimplane/scimplane/controlplane/internal/rejectlog"
	"github.com/scimplane/scimplane/controlplane/internal/store"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/tests/apitest"
	"github.com/scimplane/scimplane/tests/pgtest"
)

const operatorKey = "spk_test-operator-key-0123456789abcdef"

var operator = tenant.Principal{KeyID: tenant.BootstrapKeyID, Role: tenant.RoleOperator}

// dbProxy forwards TCP connections to PostgreSQL until cut: then it drops
// every open connection and closes new ones at once, as an outage does.
type dbProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

// newDBProxy returns a proxy in front of dbURL's server and dbURL rewritten
// to go through it.
func newDBProxy(t *testing.T, dbURL string) (*dbProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &dbProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *dbProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *dbProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// countingStore is the real store, counting credential reads; it fails
// the next MarkPolicyActivated when failMark is set.
type countingStore struct {
	*store.Store
	mu       sync.Mutex
	reads    map[string]int
	failMark atomic.Bool
}

func (s *countingStore) MarkPolicyActivated(ctx context.Context, tenantID string, version int64) error {
	if s.failMark.CompareAndSwap(true, false) {
		return errors.New("injected failure")
	}
	return s.Store.MarkPolicyActivated(ctx, tenantID, version)
}

func (s *countingStore) GetCredentials(ctx context.Context, tenantID string) (tenant.Tenant, []tenant.TokenHash, error) {
	s.mu.Lock()
	s.reads[tenantID]++
	s.mu.Unlock()
	return s.Store.GetCredentials(ctx, tenantID)
}

func (s *countingStore) readsOf(tenantID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[tenantID]
}

// okWorkers stands in for the worker pool: every exchange succeeds, and
// admin calls go to one policyWorker.
type okWorkers struct {
	calls  atomic.Int64
	policy policyWorker
}

func (w *okWorkers) Handle(context.Context, string, *scimworker.Exchange) (*scimworker.Reply, error) {
	w.calls.Add(1)
	return &scimworker.Reply{Status: http.StatusOK, Body: []byte(`{"totalResults":0}`)}, nil
}

func (w *okWorkers) Call(ctx context.Context, _ string, fn func(context.Context, scimworker.Worker) error) error {
	return fn(ctx, &w.policy)
}

func (w *okWorkers) Stream(ctx context.Context, _ string, fn func(context.Context, scimworker.Worker) error) error {
	return fn(ctx, &w.policy)
}

func (w *okWorkers) Stop(string)                        {}
func (w *okWorkers) Warm(context.Context, string) error { return nil }

// policyWorker serves the policy operations as a worker would, recording
// them, and a log export paced by the test; the rest of the Worker is left
// nil.
type policyWorker struct {
	scimworker.Worker
	mu     sync.Mutex
	ops    []string
	active int64
	// export paces ExportLog: it writes a line, then one more line for
	// each value received, until the channel is closed.
	export      chan struct{}
	exportEnded chan error
}

func (w *policyWorker) ExportLog(ctx context.Context, req *scimworker.LogExportRequest, out io.Writer) (err error) {
	defer func() { w.exportEnded <- err }()
	if req.Status == "teapot" {
		return scimworker.BadRequest("status is a code like 409 or a class like 4xx")
	}
	for i := 1; ; i++ {
		if _, err := fmt.Fprintf(out, `{"id":%d}`+"\n", i); err != nil {
			return err
		}
		select {
		case _, more := <-w.export:
			if !more {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *policyWorker) record(op string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, op)
}

func (w *policyWorker) calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ops)
}

// check refuses modules named broken.rego, as a worker refuses a policy
// that does not compile.
func check(b scimworker.PolicyBundle) error {
	if _, ok := b.Modules["broken.rego"]; ok {
		return &scimworker.Error{Status: 422, Message: "policy does not compile", Problems: []scimworker.PolicyProblem{{File: "broken.rego", Line: 1, Message: "nope"}}}
	}
	return nil
}

func (w *policyWorker) ValidatePolicy(_ context.Context, req *scimworker.ValidatePolicyRequest) (*scimworker.PolicyCheck, error) {
	w.record("validate")
	if err := check(req.PolicyBundle); err != nil {
		return nil, err
	}
	return &scimworker.PolicyCheck{Tests: []scimworker.PolicyTest{{Name: "test_ok", Outcome: scimworker.TestPass}}}, nil
}

func (w *policyWorker) DryRunPolicy(_ context.Context, req *scimworker.DryRunRequest) (*scimworker.DryRun, error) {
	w.record("dry-run")
	return &scimworker.DryRun{Users: 1, Changes: []scimworker.DryRunChange{}}, check(req.PolicyBundle)
}

func (w *policyWorker) ActivatePolicy(_ context.Context, req *scimworker.ActivateRequest) (*scimworker.Activation, error) {
	w.record("activate " + strconv.FormatInt(req.Version, 10))
	if err := check(req.PolicyBundle); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.active = req.Version
	w.mu.Unlock()
	return &scimworker.Activation{Version: req.Version, Users: 1}, nil
}

func (w *policyWorker) ActivePolicy(context.Context, *scimworker.ActivePolicyRequest) (*scimworker.ActivePolicy, error) {
	w.record("active")
	return &scimworker.ActivePolicy{Version: w.inForce()}, nil
}

func (w *policyWorker) inForce() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active
}

type fixture struct {
	t       *testing.T
	base    string
	store   *countingStore
	tenants *tenant.Service
	proxy   *dbProxy
	workers *okWorkers
	// client checks every admin API answer against the OpenAPI document.
	client *http.Client
}

// serve boots the HTTP API on a real store, reached through a dbProxy, and
// a stand-in worker pool.
func serve(t *testing.T, tp tenant.Params, in config.Ingress) *fixture {
	t.Helper()
	ctx := context.Background()
	proxy, dbURL := newDBProxy(t, pgtest.NewDatabase(t))
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool)
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, st.Migrate(ctx, log))
	cs := &countingStore{Store: st, reads: map[string]int{}}
	workers := &okWorkers{}
	tp.Store, tp.Workers, tp.Secret, tp.PublicURL = cs, workers, []byte("test-secret-0123456789abcdef0123456789"), "http://scim.test"
	svc := tenant.New(tp)
	_, err = svc.EnsureBootstrapKey(ctx, operatorKey)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	rejections := rejectlog.New(rejectlog.Params{Store: st, Logger: log, Retention: time.Hour, Registry: reg})
	t.Cleanup(rejections.Close)
	app := httpapi.New(httpapi.Params{
		Tenants:        svc,
		Workers:        workers,
		Running:        func() []workerpool.Info { return nil },
		Limiter:        ratelimit.New(1000, 1000, 0),
		Rejections:     rejections,
		DB:             st,
		Logger:         log,
		Registry:       reg,
		MaxBodyBytes:   1 << 20,
		RequestTimeout: 10 * time.Second,
		Ingress:        in,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(httpapi.LimitListener(ln, in)) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return &fixture{t: t, base: "http://" + ln.Addr().String(), store: cs, tenants: svc, proxy: proxy, workers: workers,
		client: apitest.Client(t)}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (f *fixture) get(path, bearer string) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.base+path, nil)
	require.NoError(f.t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := f.client.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	_ = json.Unmarshal(b, &a.body)
	return a
}

func (f *fixture) createTenant(name string) tenant.CreatedTenant {
	f.t.Helper()
	ct, err := f.tenants.CreateTenant(context.Background(), operator, name)
	require.NoError(f.t, err)
	return ct
}

// requireSCIMError checks a SCIM error answer: status, RFC 7644 body and
// a request id.
func requireSCIMError(t *testing.T, a answer, status int) {
	t.Helper()
	require.Equal(t, status, a.status, a.body)
	require.Equal(t, "application/scim+json", a.header.Get("Content-Type"))
	require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, a.body["schemas"])
	require.NotEmpty(t, a.header.Get("X-Request-Id"))
}

const users = "/v2/Users"

func scimPath(tenantID string) string { return "/scim/" + tenantID + users }

// While PostgreSQL is down, SCIM requests authenticate from the credentials
// this replica cached (revocations made here still apply); what needs the
// database answers 503 with Retry-After, on SCIM and admin routes alike.
func TestSCIM_DatabaseOutage(t *testing.T) {
	f := serve(t, tenant.Params{CredentialsTTL: 0, CredentialsStaleMax: time.Hour}, config.Ingress{})
	a, b := f.createTenant("A"), f.createTenant("B")
	revoked, err := f.tenants.CreateToken(context.Background(), operator, a.ID, tenant.CreateTokenParams{Name: "old"})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, f.get(scimPath(a.ID), revoked.Secret).status)
	require.NoError(t, f.tenants.RevokeToken(context.Background(), operator, a.ID, revoked.ID))
	require.Equal(t, http.StatusOK, f.get(scimPath(a.ID), a.Token).status)

	f.proxy.cut()
	for range 3 {
		require.Equal(t, http.StatusOK, f.get(scimPath(a.ID), a.Token).status, "cached credentials authenticate")
	}
	requireSCIMError(t, f.get(scimPath(a.ID), revoked.Secret), http.StatusUnauthorized)
	requireSCIMError(t, f.get(scimPath(a.ID), "scimtok_wrong"), http.StatusUnauthorized)

	uncached := f.get(scimPath(b.ID), b.Token)
	requireSCIMError(t, uncached, http.StatusServiceUnavailable)
	require.NotEmpty(t, uncached.header.Get("Retry-After"))

	admin := f.get("/api/v1/tenants", operatorKey)
	require.Equal(t, http.StatusServiceUnavailable, admin.status, admin.body)
	require.NotEmpty(t, admin.header.Get("Retry-After"))
	require.NotEmpty(t, admin.body["error"])

	f.proxy.restore()
	require.Eventually(t, func() bool { return f.get(scimPath(b.ID), b.Token).status == http.StatusOK }, 10*time.Second, 50*time.Millisecond)
	// The refusal of the request nobody could authenticate is recorded
	// under the tenant it named once the database is back (before, it left
	// no record at all).
	require.Eventually(t, func() bool {
		rs, err := f.store.ListRejections(context.Background(), b.ID, 10)
		require.NoError(t, err)
		for _, r := range rs {
			if r.Status == http.StatusServiceUnavailable {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)
}

// Unknown tenant ids are looked up once per cache period, and a client that
// keeps failing authentication may not make the replica look up ids it has
// never seen (429, Retry-After), while tenants it knows keep working.
func TestSCIM_UnknownTenantsCostOneLookupAndFailuresAreLimited(t *testing.T) {
	f := serve(t, tenant.Params{CredentialsTTL: time.Minute, UnknownTenantTTL: time.Minute},
		config.Ingress{AuthFailureRate: 0.01, AuthFailureBurst: 5})
	a := f.createTenant("A")
	require.Equal(t, http.StatusOK, f.get(scimPath(a.ID), a.Token).status)

	const unknown = "tnt_aaaaaaaaaaaaaaaa"
	for range 20 {
		requireSCIMError(t, f.get(scimPath(unknown), a.Token), http.StatusUnauthorized)
	}
	require.Equal(t, 1, f.store.readsOf(unknown), "one lookup per cache period")

	// The 20 failures spent the client's budget: new ids are refused unread.
	for _, id := range []string{"tnt_bbbbbbbbbbbbbbbb", "tnt_cccccccccccccccc", "tnt_dddddddddddddddd"} {
		r := f.get(scimPath(id), a.Token)
		requireSCIMError(t, r, http.StatusTooManyRequests)
		require.NotEmpty(t, r.header.Get("Retry-After"))
		require.Zero(t, f.store.readsOf(id))
	}
	require.Equal(t, http.StatusOK, f.get(scimPath(a.ID), a.Token).status, "a known tenant is not held up")
}

// A body declared over the limit is never read: the answer (401 without a
// token, 413 with one) comes at once, though the client sent 1 byte.
func TestSCIM_DeclaredOversizeBodyIsAnsweredUnread(t *testing.T) {
	f := serve(t, tenant.Params{CredentialsTTL: time.Minute}, config.Ingress{ReadTimeout: time.Minute})
	a := f.createTenant("A")
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"valid token", a.Token, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(f.base, "http://"))
			require.NoError(t, err)
			defer c.Close()
			auth := ""
			if tc.token != "" {
				auth = "Authorization: Bearer " + tc.token + "\r\n"
			}
			_, err = io.WriteString(c, "POST "+scimPath(a.ID)+" HTTP/1.1\r\nHost: x\r\n"+auth+
				"Content-Type: application/scim+json\r\nContent-Length: 2097152\r\n\r\n{")
			require.NoError(t, err)
			// Well within ReadTimeout: the server must not wait for the body.
			require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			require.True(t, resp.Close, "the connection is closed after the answer")
			require.Equal(t, "application/scim+json", resp.Header.Get("Content-Type"))
		})
	}
	require.Zero(t, f.workers.calls.Load())
}

// Connections past the per-client cap are answered 429 with Retry-After and
// closed; the slot comes back when a connection closes.
func TestLimitListener_CapsConnectionsPerClient(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{MaxConnsPerClient: 3})
	addr := strings.TrimPrefix(f.base, "http://")
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	c.Close()

	held[0].Close()
	require.Eventually(t, func() bool {
		r, err := http.Get(f.base + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	for _, c := range held[1:] {
		c.Close()
	}
}
