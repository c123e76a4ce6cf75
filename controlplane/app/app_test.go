package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/app"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/tests/apitest"
	"github.com/scimplane/scimplane/tests/pgtest"
)

var workerBin string

// TestMain builds the real worker once; every test boots the control plane
// against it and a fresh database.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scimplane-app-test-")
	if err != nil {
		panic(err)
	}
	workerBin = filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", workerBin, "github.com/scimplane/scimplane/worker")
	if out, err := build.CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build worker: %v: %s", err, out))
	}
	// As root, workers run as nobody, who must be able to run it.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const operatorKey = "spk_test-operator-key-0123456789abcdef"

// env is a booted control plane.
type env struct {
	t    *testing.T
	base string
	db   string
	// client checks every admin API answer against the OpenAPI document.
	client *http.Client
	// stop ends Run's context and returns what Run returned; the test's
	// cleanup calls it too.
	stop func() error
}

// boot starts app.Run on a free port and a fresh database, with vars
// overriding the defaults, and stops it when the test ends.
func boot(t *testing.T, vars map[string]string) *env {
	t.Helper()
	db := pgtest.NewDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	all := map[string]string{
		"DATABASE_URL":            db,
		"SCIMPLANE_ADDR":          addr,
		"SCIMPLANE_BOOTSTRAP_KEY": operatorKey,
		"SCIMPLANE_DATA_DIR":      t.TempDir(),
		"SCIMPLANE_WORKER_BIN":    workerBin,
		"SCIMPLANE_SECRET":        "test-secret-0123456789abcdef0123456789",
		"PATH":                    os.Getenv("PATH"),
		// No load balancer waits for /readyz here.
		"SCIMPLANE_SHUTDOWN_DELAY": "0s",
	}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return all[k] })
	require.NoError(t, err)
	cfg.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { require.NoError(t, stop()) })
	e := &env{t: t, base: "http://" + addr, db: db, client: apitest.Client(t), stop: stop}
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("app.Run returned early: %v", err)
		default:
		}
		// Serving is enough here; /readyz also waits for the spare
		// workers, which matters to a load balancer, not to these tests.
		resp, err := http.Get(e.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

func (e *env) do(method, path, bearer string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

type createdTenant struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	SCIMURL string `json:"scim_url"`
	Token   string `json:"token"`
	TokenID string `json:"token_id"`
}

func (e *env) createTenant(name string) createdTenant {
	e.t.Helper()
	r := e.do("POST", "/api/v1/tenants", operatorKey, []byte(`{"name":"`+name+`"}`))
	require.Equal(e.t, http.StatusCreated, r.status, string(r.body))
	var ct createdTenant
	r.json(e.t, &ct)
	return ct
}

// scim sends a SCIM request below the tenant's base path.
func (e *env) scim(tenantID, token, method, path string, body []byte) response {
	e.t.Helper()
	return e.do(method, "/scim/"+tenantID+"/v2"+path, token, body)
}

const lookup = "/Users?filter=userName+eq+%229b1f0c4e-3d7a-4d55-a0a9-5f3e1c2b7d10%22"

func requireSCIMError(t *testing.T, r response, status int) {
	t.Helper()
	require.Equal(t, status, r.status, string(r.body))
	require.Equal(t, "application/scim+json", r.header.Get("Content-Type"))
	var body struct {
		Schemas []string `json:"schemas"`
		Status  string   `json:"status"`
	}
	r.json(t, &body)
	require.Equal(t, []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, body.Schemas)
	require.Equal(t, fmt.Sprint(status), body.Status)
}

func TestRun_CreateTenantAndProvision(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("Acme")
	require.True(t, strings.HasPrefix(a.ID, "tnt_"))
	require.Equal(t, e.base+"/scim/"+a.ID+"/v2", a.SCIMURL)
	require.True(t, strings.HasPrefix(a.Token, "scimtok_"))
	require.LessOrEqual(t, len(a.Token), 64)

	r := e.scim(a.ID, a.Token, "GET", lookup, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Contains(t, string(r.body), `"totalResults":0`)

	user := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`)
	r = e.scim(a.ID, a.Token, "POST", "/Users", user)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	require.Contains(t, r.header.Get("Location"), a.SCIMURL+"/Users/")
	require.NotEmpty(t, r.header.Get("X-Request-Id"))
}

func TestRun_TokenOfOneTenantNeverOpensAnother(t *testing.T) {
	e := boot(t, nil)
	a, b := e.createTenant("A"), e.createTenant("B")
	tests := []struct {
		name   string
		tenant string
		token  string
		want   int
	}{
		{name: "own token", tenant: a.ID, token: a.Token, want: http.StatusOK},
		{name: "other tenant's token", tenant: b.ID, token: a.Token, want: http.StatusUnauthorized},
		{name: "no token", tenant: a.ID, token: "", want: http.StatusUnauthorized},
		{name: "garbage token", tenant: a.ID, token: "scimtok_nope", want: http.StatusUnauthorized},
		{name: "operator key is no SCIM token", tenant: a.ID, token: operatorKey, want: http.StatusUnauthorized},
		{name: "unknown tenant", tenant: "tnt_aaaaaaaaaaaaaaaa", token: a.Token, want: http.StatusUnauthorized},
		{name: "malformed tenant", tenant: "public", token: a.Token, want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.scim(tt.tenant, tt.token, "GET", lookup, nil)
			if tt.want == http.StatusOK {
				require.Equal(t, tt.want, r.status, string(r.body))
				return
			}
			requireSCIMError(t, r, tt.want)
			require.Equal(t, `Bearer realm="scimplane"`, r.header.Get("WWW-Authenticate"))
		})
	}
}

func TestRun_TokenRotationOverlaps(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	r := e.do("POST", "/api/v1/tenants/"+a.ID+"/tokens", operatorKey, []byte(`{"name":"rotated"}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var second struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	r.json(t, &second)

	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	require.Equal(t, http.StatusOK, e.scim(a.ID, second.Token, "GET", lookup, nil).status)

	r = e.do("DELETE", "/api/v1/tenants/"+a.ID+"/tokens/"+a.TokenID, operatorKey, nil)
	require.Equal(t, http.StatusNoContent, r.status, string(r.body))
	requireSCIMError(t, e.scim(a.ID, a.Token, "GET", lookup, nil), http.StatusUnauthorized)
	require.Equal(t, http.StatusOK, e.scim(a.ID, second.Token, "GET", lookup, nil).status)

	var list struct {
		Tokens []struct {
			ID         string     `json:"id"`
			LastUsedAt *time.Time `json:"last_used_at"`
			RevokedAt  *time.Time `json:"revoked_at"`
		} `json:"tokens"`
	}
	e.do("GET", "/api/v1/tenants/"+a.ID+"/tokens", operatorKey, nil).json(t, &list)
	require.Len(t, list.Tokens, 2)
	for _, tok := range list.Tokens {
		require.NotNil(t, tok.LastUsedAt, tok.ID)
		require.Equal(t, tok.ID == a.TokenID, tok.RevokedAt != nil)
	}
	require.NotContains(t, string(e.do("GET", "/api/v1/tenants/"+a.ID+"/tokens", operatorKey, nil).body), "scimtok_")
}

func TestRun_ExpiredTokenIsRefused(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	exp := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	r := e.do("POST", "/api/v1/tenants/"+a.ID+"/tokens", operatorKey, []byte(`{"expires_at":"`+exp+`"}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var tok struct {
		Token string `json:"token"`
	}
	r.json(t, &tok)
	require.Equal(t, http.StatusOK, e.scim(a.ID, tok.Token, "GET", lookup, nil).status)
	require.Eventually(t, func() bool {
		return e.scim(a.ID, tok.Token, "GET", lookup, nil).status == http.StatusUnauthorized
	}, 10*time.Second, 100*time.Millisecond)
}

func TestRun_DisabledTenantIsForbidden(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+a.ID+"/disable", operatorKey, nil).status)
	requireSCIMError(t, e.scim(a.ID, a.Token, "GET", lookup, nil), http.StatusForbidden)
	// A token sent in the wrong place is not kept in the refusal record.
	requireSCIMError(t, e.scim(a.ID, "scimtok_wrong", "GET", "/Users/"+a.Token, nil), http.StatusUnauthorized)
	require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+a.ID+"/enable", operatorKey, nil).status)
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
}

func TestRun_RateLimitAnswers429WithRetryAfter(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_RATE_LIMIT": "0.01", "SCIMPLANE_RATE_BURST": "3", "SCIMPLANE_RATE_QUEUE_WAIT": "0s"})
	a, b := e.createTenant("A"), e.createTenant("B")
	for range 3 {
		require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	}
	r := e.scim(a.ID, a.Token, "GET", lookup, nil)
	requireSCIMError(t, r, http.StatusTooManyRequests)
	require.NotEmpty(t, r.header.Get("Retry-After"))
	// Another tenant has its own bucket.
	require.Equal(t, http.StatusOK, e.scim(b.ID, b.Token, "GET", lookup, nil).status)
}

func TestRun_RateLimitQueuesBrieflyBeforeRefusing(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_RATE_LIMIT": "20", "SCIMPLANE_RATE_BURST": "1", "SCIMPLANE_RATE_QUEUE_WAIT": "2s"})
	a := e.createTenant("A")
	var wg sync.WaitGroup
	statuses := make([]int, 10)
	for i := range statuses {
		wg.Go(func() { statuses[i] = e.scim(a.ID, a.Token, "GET", lookup, nil).status })
	}
	wg.Wait()
	for _, s := range statuses {
		require.Equal(t, http.StatusOK, s)
	}
}

func TestRun_OversizeBodyIs413(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_MAX_BODY_BYTES": "4096"})
	a := e.createTenant("A")
	big := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("x", 8192) + `"}`)
	requireSCIMError(t, e.scim(a.ID, a.Token, "POST", "/Users", big), http.StatusRequestEntityTooLarge)
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
}

type workerInfo struct {
	TenantID string `json:"tenant_id"`
	PID      int    `json:"pid"`
}

func (e *env) workers() map[string]int {
	e.t.Helper()
	var list struct {
		Workers []workerInfo `json:"workers"`
	}
	e.do("GET", "/api/v1/workers", operatorKey, nil).json(e.t, &list)
	pids := map[string]int{}
	for _, w := range list.Workers {
		pids[w.TenantID] = w.PID
	}
	return pids
}

func TestRun_KilledWorkerRestartsWithoutDisturbingOthers(t *testing.T) {
	e := boot(t, nil)
	a, b := e.createTenant("A"), e.createTenant("B")
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	require.Equal(t, http.StatusOK, e.scim(b.ID, b.Token, "GET", lookup, nil).status)
	before := e.workers()
	require.NotZero(t, before[a.ID])
	require.NotZero(t, before[b.ID])

	// Tenant B keeps sending while A's worker dies.
	stop := make(chan struct{})
	bStatuses := make(chan int, 10000)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				bStatuses <- e.scim(b.ID, b.Token, "GET", lookup, nil).status
			}
		}
	})

	require.NoError(t, syscall.Kill(before[a.ID], syscall.SIGKILL))
	var sawUnavailable bool
	require.Eventually(t, func() bool {
		r := e.scim(a.ID, a.Token, "GET", lookup, nil)
		if r.status == http.StatusServiceUnavailable {
			sawUnavailable = true
			requireSCIMError(t, r, http.StatusServiceUnavailable)
			require.NotEmpty(t, r.header.Get("Retry-After"))
		}
		return r.status == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	t.Logf("a request saw 503 while the worker was down: %v", sawUnavailable)
	close(stop)
	wg.Wait()
	close(bStatuses)

	n := 0
	for s := range bStatuses {
		require.Equal(t, http.StatusOK, s)
		n++
	}
	require.Positive(t, n)
	after := e.workers()
	require.NotEqual(t, before[a.ID], after[a.ID])
	require.Equal(t, before[b.ID], after[b.ID])

	// A 503 answered while A's worker was down is in A's rejections; B has none.
	rejections := func(id string) []int {
		var got struct {
			Rejections []struct {
				Status int `json:"status"`
			} `json:"rejections"`
		}
		e.do("GET", "/api/v1/tenants/"+id+"/rejections", operatorKey, nil).json(t, &got)
		var statuses []int
		for _, r := range got.Rejections {
			statuses = append(statuses, r.Status)
		}
		return statuses
	}
	if sawUnavailable {
		require.Eventually(t, func() bool { return slices.Contains(rejections(a.ID), http.StatusServiceUnavailable) }, 5*time.Second, 100*time.Millisecond)
	}
	require.Empty(t, rejections(b.ID))
}

func TestRun_AdminRolesAreEnforced(t *testing.T) {
	e := boot(t, nil)
	a, b := e.createTenant("A"), e.createTenant("B")
	newKey := func(role, tenantID string) string {
		r := e.do("POST", "/api/v1/api-keys", operatorKey, []byte(`{"name":"k","role":"`+role+`","tenant_id":"`+tenantID+`"}`))
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		var k struct {
			Key string `json:"key"`
		}
		r.json(t, &k)
		require.True(t, strings.HasPrefix(k.Key, "spk_"))
		return k.Key
	}
	adminA := newKey("tenant_admin", a.ID)
	supportA := newKey("support", a.ID)
	supportAll := newKey("support", "")

	tests := []struct {
		name   string
		key    string
		method string
		path   string
		body   string
		want   int
	}{
		{name: "no key", key: "", method: "GET", path: "/api/v1/tenants", want: 401},
		{name: "scim token is no api key", key: a.Token, method: "GET", path: "/api/v1/tenants", want: 401},
		{name: "operator lists tenants", key: operatorKey, method: "GET", path: "/api/v1/tenants", want: 200},
		{name: "tenant admin reads own tenant", key: adminA, method: "GET", path: "/api/v1/tenants/" + a.ID, want: 200},
		{name: "tenant admin cannot read other tenant", key: adminA, method: "GET", path: "/api/v1/tenants/" + b.ID, want: 403},
		{name: "tenant admin cannot list other tenant's tokens", key: adminA, method: "GET", path: "/api/v1/tenants/" + b.ID + "/tokens", want: 403},
		{name: "tenant admin creates own token", key: adminA, method: "POST", path: "/api/v1/tenants/" + a.ID + "/tokens", want: 201},
		{name: "tenant admin cannot create other tenant's token", key: adminA, method: "POST", path: "/api/v1/tenants/" + b.ID + "/tokens", want: 403},
		{name: "tenant admin cannot create tenants", key: adminA, method: "POST", path: "/api/v1/tenants", body: `{"name":"x"}`, want: 403},
		{name: "tenant admin cannot disable", key: adminA, method: "POST", path: "/api/v1/tenants/" + a.ID + "/disable", want: 403},
		{name: "tenant admin cannot read all audit", key: adminA, method: "GET", path: "/api/v1/audit", want: 403},
		{name: "tenant admin reads own audit", key: adminA, method: "GET", path: "/api/v1/audit?tenant_id=" + a.ID, want: 200},
		{name: "support reads own tenant", key: supportA, method: "GET", path: "/api/v1/tenants/" + a.ID + "/tokens", want: 200},
		{name: "scoped support cannot read other tenant", key: supportA, method: "GET", path: "/api/v1/tenants/" + b.ID, want: 403},
		{name: "support cannot create token", key: supportA, method: "POST", path: "/api/v1/tenants/" + a.ID + "/tokens", want: 403},
		{name: "support cannot revoke token", key: supportA, method: "DELETE", path: "/api/v1/tenants/" + a.ID + "/tokens/" + a.TokenID, want: 403},
		{name: "unscoped support reads any tenant", key: supportAll, method: "GET", path: "/api/v1/tenants/" + b.ID, want: 200},
		{name: "unscoped support cannot delete", key: supportAll, method: "DELETE", path: "/api/v1/tenants/" + b.ID + "?confirm=" + b.ID, want: 403},
		{name: "unscoped support cannot create keys", key: supportAll, method: "POST", path: "/api/v1/api-keys", body: `{"role":"operator"}`, want: 403},
		{name: "support cannot list workers", key: supportAll, method: "GET", path: "/api/v1/workers", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := e.do(tt.method, tt.path, tt.key, body)
			require.Equal(t, tt.want, r.status, string(r.body))
		})
	}

	var ts struct {
		Tenants []struct {
			ID string `json:"id"`
		} `json:"tenants"`
	}
	e.do("GET", "/api/v1/tenants", adminA, nil).json(t, &ts)
	require.Len(t, ts.Tenants, 1)
	require.Equal(t, a.ID, ts.Tenants[0].ID)

	var audit struct {
		Entries []struct {
			KeyID  string `json:"key_id"`
			Action string `json:"action"`
		} `json:"entries"`
	}
	e.do("GET", "/api/v1/audit?tenant_id="+a.ID, operatorKey, nil).json(t, &audit)
	var actions []string
	for _, en := range audit.Entries {
		actions = append(actions, en.KeyID+" "+en.Action)
	}
	require.Contains(t, actions, "key_bootstrap tenant.create")
	require.Contains(t, actions, "key_bootstrap apikey.create")
	require.Condition(t, func() bool {
		for _, a := range actions {
			if strings.HasSuffix(a, " token.create") && !strings.HasPrefix(a, "key_bootstrap") {
				return true
			}
		}
		return false
	}, "tenant admin's token.create audited under its key: %v", actions)
}

func TestRun_DeleteTenantNeedsConfirmationAndDropsEverything(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	require.Equal(t, http.StatusBadRequest, e.do("DELETE", "/api/v1/tenants/"+a.ID, operatorKey, nil).status)
	require.Equal(t, http.StatusBadRequest, e.do("DELETE", "/api/v1/tenants/"+a.ID+"?confirm=tnt_other", operatorKey, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/tenants/"+a.ID+"?confirm="+a.ID, operatorKey, nil).status)
	require.NotContains(t, e.workers(), a.ID)
	requireSCIMError(t, e.scim(a.ID, a.Token, "GET", lookup, nil), http.StatusUnauthorized)
	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/tenants/"+a.ID, operatorKey, nil).status)
	requireNoRoleOrSchema(t, e.db, a.ID)
}

func TestRun_HealthAndMetrics(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	require.Equal(t, http.StatusOK, e.do("GET", "/healthz", "", nil).status)
	r := e.do("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	for _, series := range []string{
		`scimplane_http_requests_total{code="200",route="scim"}`,
		`scimplane_scim_requests_total{code="200",tenant_id="` + a.ID + `"} 1`,
		"scimplane_http_request_duration_seconds_bucket",
		"scimplane_worker_starts_total ",
		"scimplane_worker_restarts_total 0",
		"scimplane_workers_running 1",
		"scimplane_workers_prepared ",
		"scimplane_worker_bind_seconds_count",
		"scimplane_db_connections_budget ",
		"scimplane_db_connections_held ",
	} {
		require.Contains(t, string(r.body), series)
	}
}

func TestRun_TenantDataOperationsAreAuthorisedOneByOne(t *testing.T) {
	e := boot(t, nil)
	a, b := e.createTenant("A"), e.createTenant("B")
	user := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`)
	require.Equal(t, http.StatusCreated, e.scim(a.ID, a.Token, "POST", "/Users", user).status)
	key := func(role, tenantID string) string {
		r := e.do("POST", "/api/v1/api-keys", operatorKey, []byte(`{"role":"`+role+`","tenant_id":"`+tenantID+`"}`))
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		var k struct {
			Key string `json:"key"`
		}
		r.json(t, &k)
		return k.Key
	}
	supportA, adminA := key("support", a.ID), key("tenant_admin", a.ID)

	tests := []struct {
		name   string
		key    string
		method string
		path   string
		body   string
		want   int
	}{
		{name: "operator queries the scim log", key: operatorKey, method: "GET", path: "/tenants/" + a.ID + "/logs", want: 200},
		{name: "support reads users", key: supportA, method: "GET", path: "/tenants/" + a.ID + "/users", want: 200},
		{name: "support cannot apply retention", key: supportA, method: "PUT", path: "/tenants/" + a.ID + "/logs/retention", body: `{"days":30}`, want: 403},
		{name: "support cannot read other tenant", key: supportA, method: "GET", path: "/tenants/" + b.ID + "/logs", want: 403},
		{name: "tenant admin applies retention", key: adminA, method: "PUT", path: "/tenants/" + a.ID + "/logs/retention", body: `{"days":30}`, want: 200},
		{name: "retention out of range", key: adminA, method: "PUT", path: "/tenants/" + a.ID + "/logs/retention", body: `{"days":9999}`, want: 400},
		{name: "tenant admin cannot touch other tenant", key: adminA, method: "GET", path: "/tenants/" + b.ID + "/groups", want: 403},
		{name: "no generic route to the worker", key: operatorKey, method: "POST", path: "/tenants/" + a.ID + "/ops/policy.activate",
			body: `{"version":99,"modules":{"p.rego":"package p"},"mapping":{}}`, want: 404},
		{name: "unknown tenant", key: operatorKey, method: "GET", path: "/tenants/tnt_aaaaaaaaaaaaaaaa/logs", want: 404},
		{name: "bad query", key: operatorKey, method: "GET", path: "/tenants/" + a.ID + "/users?limit=many", want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := e.do(tt.method, "/api/v1"+tt.path, tt.key, body)
			require.Equal(t, tt.want, r.status, string(r.body))
		})
	}

	var log scimworker.LogPage
	e.do("GET", "/api/v1/tenants/"+a.ID+"/logs?method=POST", operatorKey, nil).json(t, &log)
	require.NotEmpty(t, log.Entries)

	var audit struct {
		Entries []struct {
			Action string `json:"action"`
		} `json:"entries"`
	}
	e.do("GET", "/api/v1/audit?tenant_id="+a.ID, operatorKey, nil).json(t, &audit)
	require.Equal(t, "worker.log.retention", audit.Entries[0].Action)
	var actions []string
	for _, en := range audit.Entries {
		actions = append(actions, en.Action)
	}
	require.Contains(t, actions, "worker.users.list", "support queries are audited")
	require.NotContains(t, actions, "worker.log.query", "operator reads are not")
}

func TestRun_TenantDataRoutesAndPolicyVersions(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	user := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`)
	r := e.scim(a.ID, a.Token, "POST", "/Users", user)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var created struct {
		ID string `json:"id"`
	}
	r.json(t, &created)

	for _, path := range []string{"/users", "/users/" + created.ID, "/groups?limit=10", "/logs?method=POST", "/logs/health", "/changes", "/policies"} {
		r := e.do("GET", "/api/v1/tenants/"+a.ID+path, operatorKey, nil)
		require.Equal(t, http.StatusOK, r.status, path+": "+string(r.body))
	}
	r = e.do("GET", "/api/v1/tenants/"+a.ID+"/logs?format=ndjson", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	require.Contains(t, string(r.body), `"method":"POST"`)
	r = e.do("GET", "/api/v1/tenants/"+a.ID+"/logs?format=csv", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.True(t, strings.HasPrefix(string(r.body), "id,at,request_id,method"))
	for _, q := range []string{"format=csv&status=teapot", "format=xml"} {
		r = e.do("GET", "/api/v1/tenants/"+a.ID+"/logs?"+q, operatorKey, nil)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", q, r.body)
		require.Equal(t, "application/json", r.header.Get("Content-Type"), "a refused export is an error answer")
	}

	// Save the policy in force as version 1, dry-run and activate it.
	var active scimworker.ActivePolicy
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/active", operatorKey, nil).json(t, &active)
	require.Zero(t, active.Version, "the built-in policy")
	require.NotEmpty(t, active.Modules)
	body, err := json.Marshal(map[string]any{"modules": active.Modules, "mapping": active.Mapping, "comment": "first"})
	require.NoError(t, err)

	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies", operatorKey, body)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var saved struct {
		Version int64 `json:"version"`
	}
	r.json(t, &saved)
	require.Equal(t, int64(1), saved.Version)

	broken, _ := json.Marshal(map[string]any{"modules": map[string]string{"bad.rego": "package x\nthis is not rego"}, "mapping": active.Mapping})
	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies", operatorKey, broken)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))

	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies/1/dry-run", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	// Activation binds a worker when the tenant has none running.
	require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+a.ID+"/disable", operatorKey, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+a.ID+"/enable", operatorKey, nil).status)
	require.NotContains(t, e.workers(), a.ID)
	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies/1/activate", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var activation scimworker.Activation
	r.json(t, &activation)
	require.Equal(t, scimworker.Activation{Version: 1, Users: 1, TookMS: activation.TookMS}, activation)
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/active", operatorKey, nil).json(t, &active)
	require.Equal(t, int64(1), active.Version)

	var list struct {
		Versions []struct {
			Version int64  `json:"version"`
			Active  bool   `json:"active"`
			Author  string `json:"author"`
		} `json:"versions"`
	}
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies", operatorKey, nil).json(t, &list)
	require.Len(t, list.Versions, 1)
	require.True(t, list.Versions[0].Active)
	require.Equal(t, "key_bootstrap", list.Versions[0].Author)
	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/7", operatorKey, nil).status)

	supportKey := func() string {
		r := e.do("POST", "/api/v1/api-keys", operatorKey, []byte(`{"role":"support","tenant_id":"`+a.ID+`"}`))
		var k struct {
			Key string `json:"key"`
		}
		r.json(t, &k)
		return k.Key
	}()
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/tenants/"+a.ID+"/policies", supportKey, body).status)
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/tenants/"+a.ID+"/policies/1/activate", supportKey, nil).status)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/1", supportKey, nil).status)
}

func TestRun_RefusedRequestsAreRecordedAgainstTheTenant(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_RATE_LIMIT": "0.01", "SCIMPLANE_RATE_BURST": "2", "SCIMPLANE_RATE_QUEUE_WAIT": "0s",
		"SCIMPLANE_MAX_BODY_BYTES": "1024"})
	a := e.createTenant("A")
	// A token sent in the wrong place is not kept in the refusal record.
	requireSCIMError(t, e.scim(a.ID, "scimtok_wrong", "GET", "/Users/"+a.Token, nil), http.StatusUnauthorized)
	for range 2 {
		require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
	}
	limited := e.scim(a.ID, a.Token, "GET", lookup, nil)
	requireSCIMError(t, limited, http.StatusTooManyRequests)
	requireSCIMError(t, e.scim("tnt_aaaaaaaaaaaaaaaa", a.Token, "GET", lookup, nil), http.StatusUnauthorized)

	// Tenant B: a revoked token, an oversize body, a disabled tenant.
	b := e.createTenant("B")
	var second struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	e.do("POST", "/api/v1/tenants/"+b.ID+"/tokens", operatorKey, []byte(`{"name":"second"}`)).json(t, &second)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/api/v1/tenants/"+b.ID+"/tokens/"+second.ID, operatorKey, nil).status)
	requireSCIMError(t, e.scim(b.ID, second.Token, "GET", lookup, nil), http.StatusUnauthorized)
	requireSCIMError(t, e.scim(b.ID, b.Token, "POST", "/Users", bytes.Repeat([]byte("x"), 1500)), http.StatusRequestEntityTooLarge)
	require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+b.ID+"/disable", operatorKey, nil).status)
	requireSCIMError(t, e.scim(b.ID, b.Token, "GET", lookup, nil), http.StatusForbidden)
	var gotB struct {
		Rejections []struct {
			Status int `json:"status"`
		} `json:"rejections"`
	}
	require.Eventually(t, func() bool {
		e.do("GET", "/api/v1/tenants/"+b.ID+"/rejections", operatorKey, nil).json(t, &gotB)
		return len(gotB.Rejections) == 3
	}, 5*time.Second, 100*time.Millisecond)
	require.Equal(t, []int{403, 413, 401}, []int{gotB.Rejections[0].Status, gotB.Rejections[1].Status, gotB.Rejections[2].Status})

	var got struct {
		Rejections []struct {
			RequestID string `json:"request_id"`
			Path      string `json:"path"`
			Status    int    `json:"status"`
			Reason    string `json:"reason"`
		} `json:"rejections"`
	}
	require.Eventually(t, func() bool {
		e.do("GET", "/api/v1/tenants/"+a.ID+"/rejections", operatorKey, nil).json(t, &got)
		return len(got.Rejections) == 2
	}, 5*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusTooManyRequests, got.Rejections[0].Status)
	require.Equal(t, limited.header.Get("X-Request-Id"), got.Rejections[0].RequestID)
	require.Equal(t, http.StatusUnauthorized, got.Rejections[1].Status)
	require.Equal(t, "invalid token", got.Rejections[1].Reason)
	require.Equal(t, "/scim/"+a.ID+"/v2/Users/[redacted]", got.Rejections[1].Path)
}

// liveBytes is the process's live heap plus goroutine stacks, after a
// collection: what the control plane (in this process) holds.
func liveBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// slowBodyBound is the most the control plane's live memory may grow while
// slowBodyConns unauthenticated connections each declare a body and send
// one byte of it. Streaming bodies bounds it to about 16 KiB a connection
// (buffers and at most 8 KiB of body read ahead of the handler); before,
// fasthttp allocated the declared length up front (2 MiB each).
const (
	slowBodyConns = 300
	slowBodyBound = 32 << 20
)

// The slow-body attack: connections without a token declare a body and
// send one byte. A body over the limit is answered (401) without being
// read; a smaller one is read ahead 8 KiB at most, then timed out. Caps on
// connections are off, so the bound holds without refusing any.
func TestRun_SlowBodyAttackKeepsMemoryBounded(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_MAX_CONNS": "0", "SCIMPLANE_MAX_CONNS_PER_CLIENT": "0", "SCIMPLANE_READ_TIMEOUT": "2s"})
	a := e.createTenant("A")
	addr := strings.TrimPrefix(e.base, "http://")
	for _, declared := range []int{2 << 20, 8 << 10} {
		t.Run(fmt.Sprintf("declares %d bytes", declared), func(t *testing.T) {
			before := liveBytes()
			answered := make(chan int, slowBodyConns)
			var conns []net.Conn
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			for range slowBodyConns {
				c, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				conns = append(conns, c)
				_, err = fmt.Fprintf(c, "POST /scim/%s/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n{", a.ID, declared)
				require.NoError(t, err)
				go func() {
					status := 0
					_ = c.SetReadDeadline(time.Now().Add(time.Minute))
					if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						status = resp.StatusCode
						resp.Body.Close()
					}
					answered <- status
				}()
			}
			var peak uint64
			statuses := map[int]int{}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for n := 0; n < slowBodyConns; {
				select {
				case s := <-answered:
					statuses[s]++
					n++
					continue
				case <-tick.C:
				}
				peak = max(peak, liveBytes())
				require.Less(t, int64(peak)-int64(before), int64(slowBodyBound), "live memory grew past the bound; answers so far %v", statuses)
			}
			t.Logf("live memory before %.1f MiB, peak %.1f MiB (+%.1f MiB); answers %v",
				float64(before)/(1<<20), float64(peak)/(1<<20), (float64(peak)-float64(before))/(1<<20), statuses)
			want := http.StatusUnauthorized
			if declared <= 1<<20 {
				want = http.StatusRequestTimeout
			}
			require.Equal(t, map[int]int{want: slowBodyConns}, statuses)
		})
	}
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)
}

// rawRequest sends request bytes as they are and reads the answer.
func (e *env) rawRequest(request string) response {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	require.NoError(e.t, err)
	defer c.Close()
	_, err = io.WriteString(c, request)
	require.NoError(e.t, err)
	require.NoError(e.t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// SCIM routes answer every error with the RFC 7644 body and a request id;
// admin routes with a 4xx and a JSON message.
func TestRun_ErrorShapes(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	scimPath := "/scim/" + a.ID + "/v2/Users"
	huge := []byte(`{"userName":"` + strings.Repeat("x", 3<<20) + `"}`)
	bigHeader := "X-Padding: " + strings.Repeat("p", 10<<10) + "\r\n"
	multipart := "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nnot a part"
	scimTests := []struct {
		name string
		do   func() response
		want int
	}{
		{"body over 2 MiB", func() response { return e.scim(a.ID, a.Token, "POST", "/Users", huge) }, http.StatusRequestEntityTooLarge},
		{"headers too large", func() response {
			return e.rawRequest("GET " + scimPath + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a.Token + "\r\n" + bigHeader + "\r\n")
		}, http.StatusRequestHeaderFieldsTooLarge},
		{"malformed multipart", func() response {
			return e.rawRequest(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s",
				scimPath, a.Token, len(multipart), multipart))
		}, http.StatusBadRequest},
		{"upper-case path", func() response { return e.do("GET", "/SCIM/"+a.ID+"/v2/Users", "", nil) }, http.StatusUnauthorized},
		{"mixed-case path", func() response { return e.do("GET", "/Scim/"+a.ID+"/v2/Users", "scimtok_wrong", nil) }, http.StatusUnauthorized},
	}
	for _, tt := range scimTests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			requireSCIMError(t, r, tt.want)
			require.NotEmpty(t, r.header.Get("X-Request-Id"))
		})
	}
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)

	adminTests := []struct {
		name, method, path, body string
	}{
		{"NUL in a tenant name", "POST", "/api/v1/tenants", `{"name":"a\u0000b"}`},
		{"control character in a tenant name", "POST", "/api/v1/tenants", `{"name":"a\u001bb"}`},
		{"NUL in a token name", "POST", "/api/v1/tenants/" + a.ID + "/tokens", `{"name":"a\u0000b"}`},
		{"NUL in an api key name", "POST", "/api/v1/api-keys", `{"name":"a\u0000b","role":"support"}`},
		{"NUL in a policy comment", "POST", "/api/v1/tenants/" + a.ID + "/policies", `{"modules":{"a.rego":"package a"},"mapping":{},"comment":"a\u0000b"}`},
		{"NUL in a query parameter", "GET", "/api/v1/audit?tenant_id=%00", ""},
		{"NUL in a tenant data query", "GET", "/api/v1/tenants/" + a.ID + "/users?q=a%00b", ""},
		{"NUL in a path parameter", "GET", "/api/v1/tenants/tnt_%00/tokens", ""},
		{"invalid UTF-8 in a query parameter", "GET", "/api/v1/audit?tenant_id=%FF", ""},
	}
	for _, tt := range adminTests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := e.do(tt.method, tt.path, operatorKey, body)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
			var msg struct {
				Error     string `json:"error"`
				RequestID string `json:"request_id"`
			}
			r.json(t, &msg)
			require.NotEmpty(t, msg.Error)
			require.NotEmpty(t, msg.RequestID)
		})
	}
}

// Bytes a proto string cannot carry (invalid UTF-8) or PostgreSQL text
// cannot store (NUL) in the path, query or a forwarded header are refused at
// ingress with 400 invalidSyntax, and recorded against the tenant.
func TestRun_NonUTF8RequestIsInvalidSyntaxAndRecorded(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	head := func(target, extra string) string {
		return "GET /scim/" + a.ID + "/v2" + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a.Token + "\r\n" + extra + "\r\n"
	}
	tests := []struct{ name, request string }{
		{"raw byte in the path", head("/Users/\xff", "")},
		{"encoded byte in the path", head("/Users/%FF", "")},
		{"encoded NUL in the path", head("/Users/a%00b", "")},
		{"raw byte in the query", head("/Users?filter=userName%20eq%20%22\xfe%22", "")},
		{"encoded byte in the query", head("/Users?filter=userName%20eq%20%22%C3%28%22", "")},
		{"raw byte in a forwarded header", head("/Users", "If-None-Match: W/\"\xff\"\r\n")},
	}
	var ids []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.rawRequest(tt.request)
			requireSCIMError(t, r, http.StatusBadRequest)
			var body struct {
				ScimType string `json:"scimType"`
			}
			r.json(t, &body)
			require.Equal(t, "invalidSyntax", body.ScimType)
			ids = append(ids, r.header.Get("X-Request-Id"))
		})
	}
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)

	var got struct {
		Rejections []struct {
			RequestID string `json:"request_id"`
			Path      string `json:"path"`
			Status    int    `json:"status"`
		} `json:"rejections"`
	}
	require.Eventually(t, func() bool {
		e.do("GET", "/api/v1/tenants/"+a.ID+"/rejections", operatorKey, nil).json(t, &got)
		return len(got.Rejections) == len(tests)
	}, 5*time.Second, 100*time.Millisecond)
	for _, r := range got.Rejections {
		require.Contains(t, ids, r.RequestID)
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.True(t, strings.HasPrefix(r.Path, "/scim/"+a.ID+"/v2/Users"), r.Path)
	}
}

// consoleClient signs in to the console with cookies it handles itself
// (the session cookie is Secure; this test speaks plain HTTP).
type consoleClient struct {
	t      *testing.T
	cookie *http.Cookie
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// send makes one console request on base with the client's cookie, without
// following redirects, and keeps any new cookie.
func (cc *consoleClient) send(base, method, path string, form url.Values) (int, string, string) {
	cc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	require.NoError(cc.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cc.cookie != nil {
		req.AddCookie(&http.Cookie{Name: cc.cookie.Name, Value: cc.cookie.Value})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(cc.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(cc.t, err)
	for _, c := range resp.Cookies() {
		if c.Name == "scimplane_console" {
			cc.cookie = c
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, "no csrf field in the page")
	return html.UnescapeString(m[1])
}

// Signing out of the console ends the session on the server: a copy of the
// cookie taken before no longer works, on this replica or another.
func TestRun_ConsoleSignOutEndsTheSessionEverywhere(t *testing.T) {
	e := boot(t, nil)
	other := boot(t, map[string]string{"DATABASE_URL": e.db}) // a second replica
	cc := &consoleClient{t: t}
	_, _, page := cc.send(e.base, "GET", "/admin/signin", nil)
	status, loc, _ := cc.send(e.base, "POST", "/admin/signin", url.Values{"key": {operatorKey}, "csrf": {csrf(t, page)}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/admin/", loc)
	signedIn := *cc.cookie

	status, _, page = cc.send(e.base, "GET", "/admin/tenants", nil)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = cc.send(other.base, "GET", "/admin/tenants", nil)
	require.Equal(t, http.StatusOK, status, "replicas share sessions")

	status, loc, _ = cc.send(e.base, "POST", "/admin/signout", url.Values{"csrf": {csrf(t, page)}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/admin/signin", loc)

	for _, base := range []string{e.base, other.base} {
		stolen := &consoleClient{t: t, cookie: &signedIn}
		status, loc, _ := stolen.send(base, "GET", "/admin/tenants", nil)
		require.Equal(t, http.StatusSeeOther, status, base)
		require.Equal(t, "/admin/signin", loc, base)
	}
	// Signing in again works.
	_, _, page = cc.send(e.base, "GET", "/admin/signin", nil)
	status, _, _ = cc.send(e.base, "POST", "/admin/signin", url.Values{"key": {operatorKey}, "csrf": {csrf(t, page)}})
	require.Equal(t, http.StatusSeeOther, status)
	status, _, _ = cc.send(e.base, "GET", "/admin/tenants", nil)
	require.Equal(t, http.StatusOK, status)
}

// TestRun_EmbeddedPostgresWorkersRunUnprivileged: with the embedded
// PostgreSQL and the control plane running as root, workers run as nobody
// with no supplementary groups, reach the server through its socket
// directory (not the data directory, which only postgres may enter), and
// the cluster's template1 and postgres databases are closed to them.
func TestRun_EmbeddedPostgresWorkersRunUnprivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes seconds")
	}
	if os.Geteuid() != 0 {
		t.Skip("workers run as another OS user only when the control plane runs as root; these tests do not")
	}
	dir := t.TempDir()
	// postgres and nobody must traverse it, as they would /var/lib.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		require.NoError(t, os.Chmod(d, 0o711))
	}
	const secret = "test-secret-0123456789abcdef0123456789"
	e := boot(t, map[string]string{"DATABASE_URL": "", "SCIMPLANE_DATA_DIR": dir, "SCIMPLANE_SECRET": secret})
	a := e.createTenant("A")
	user := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`)
	r := e.scim(a.ID, a.Token, "POST", "/Users", user)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.workers()[a.ID]))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`, string(status))
	require.Regexp(t, `(?m)^Gid:\s+65534\s+65534\s+65534\s+65534$`, string(status))
	require.Regexp(t, `(?m)^Groups:\s*$`, string(status))

	socket := filepath.Join(dir, "postgres-socket")
	files, err := filepath.Glob(filepath.Join(socket, ".s.PGSQL.*[0-9]"))
	require.NoError(t, err)
	require.Len(t, files, 1, "the server's socket")
	admin := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", tenant.RolePassword([]byte(secret), "postgres")),
		Path: "/postgres", RawQuery: url.Values{"host": {socket}, "port": {strings.TrimPrefix(filepath.Ext(files[0]), ".")},
			"sslmode": {"disable"}}.Encode()}
	conn, err := pgx.Connect(context.Background(), admin.String())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var overSocket, sessions int
	var template1, postgres bool
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE client_addr IS NULL), count(*),
		has_database_privilege('public', 'template1', 'CONNECT'), has_database_privilege('public', 'postgres', 'CONNECT')
		FROM pg_stat_activity WHERE usename LIKE 'wkr\_%'`).Scan(&overSocket, &sessions, &template1, &postgres))
	require.Positive(t, sessions)
	require.Equal(t, sessions, overSocket, "workers connect over the Unix socket")
	require.False(t, template1 || postgres, "PUBLIC may connect to neither")
}
