// Package integration runs scimplane's real images (PostgreSQL and the
// control plane with its worker processes) with testcontainers-go on a
// network of its own, and drives them the way Entra's provisioning service
// and its validator do. Build the images first with `make images`; under
// `go test -short` the suite is skipped.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	pgPassword   = "scimplane-e2e"
	operatorKey  = "spk_e2e-operator-key-0123456789abcdef"
	tenantSecret = "e2e-secret-0123456789abcdef0123456789"
	cpPort       = "8080/tcp"
)

// Images under test; `make images` builds the defaults.
var (
	controlPlaneImage = envOr("SCIMPLANE_IMAGE", "scimplane/controlplane:dev")
	postgresImage     = envOr("SCIMPLANE_PG_IMAGE", "scimplane/postgres:dev")
	// The compose scale profile's load balancer and pooler.
	haproxyImage   = envOr("SCIMPLANE_HAPROXY_IMAGE", "scimplane/haproxy:dev")
	pgbouncerImage = envOr("SCIMPLANE_PGBOUNCER_IMAGE", "scimplane/pgbouncer:dev")
)

func TestMain(m *testing.M) {
	// The reaper image cannot be pulled here; every test removes what it
	// starts with CleanupContainer and CleanupNetwork instead.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// Ports are published on 127.0.0.1 only, so that is where the wait
	// strategies must look, also when the tests run inside a container
	// (testcontainers would otherwise pick the bridge gateway).
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	os.Exit(m.Run())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// requireImages skips under -short and otherwise fails, with the fix, when
// Docker or an image is missing: the suite must never pass by not running.
func requireImages(t *testing.T, images ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("container suite: runs without -short (make test)")
	}
	ctx := context.Background()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	require.NoError(t, err, "docker is required for tests/integration")
	defer cli.Close()
	for _, img := range images {
		_, err := cli.ImageInspect(ctx, img)
		require.NoError(t, err, "image %s is missing: run `make images`", img)
	}
}

// stack is one deployment: PostgreSQL and the control plane on a private
// network, the control plane's port published on 127.0.0.1.
type stack struct {
	pg, cp  *testcontainers.DockerContainer
	baseURL string // http://127.0.0.1:<port>
}

// startStack starts a deployment; env adds to or overrides the control
// plane's environment.
func startStack(t *testing.T, env map[string]string) *stack {
	t.Helper()
	requireImages(t, controlPlaneImage, postgresImage)
	ctx := context.Background()
	done := phase(t, "start stack (network, postgres, control plane)")

	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	require.NoError(t, err)

	pg, err := testcontainers.Run(ctx, postgresImage,
		testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": pgPassword}),
		testcontainers.WithCmd("postgres", "-c", "max_connections=300"),
		publishOnLoopback("5432/tcp", ""),
		network.WithNetwork([]string{"postgres"}, nw),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForExec([]string{"pg_isready", "-h", "127.0.0.1", "-U", "postgres"})),
	)
	testcontainers.CleanupContainer(t, pg, testcontainers.StopTimeout(5*time.Second))
	require.NoError(t, err)
	dumpLogsOnFailure(t, "postgres", pg)

	// A fixed host port, so the Tenant URLs stay valid across restarts.
	port := freePort(t)
	cpEnv := map[string]string{
		"DATABASE_URL":            "postgres://postgres:" + pgPassword + "@postgres:5432/postgres?sslmode=disable",
		"SCIMPLANE_PUBLIC_URL":    "http://127.0.0.1:" + port,
		"SCIMPLANE_BOOTSTRAP_KEY": operatorKey,
		"SCIMPLANE_SECRET":        tenantSecret,
	}
	maps.Copy(cpEnv, env)
	cp, err := testcontainers.Run(ctx, controlPlaneImage,
		testcontainers.WithEnv(cpEnv),
		publishOnLoopback(cpPort, port),
		network.WithNetwork([]string{"controlplane"}, nw),
		// Serving is enough: /readyz also waits for the spare workers,
		// which matters to a load balancer, not here.
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForHTTP("/healthz").WithPort(cpPort)),
	)
	testcontainers.CleanupContainer(t, cp, testcontainers.StopTimeout(10*time.Second))
	require.NoError(t, err)
	dumpLogsOnFailure(t, "controlplane", cp)
	done()
	return &stack{pg: pg, cp: cp, baseURL: "http://127.0.0.1:" + port}
}

// publishOnLoopback publishes a container port on 127.0.0.1 only, on
// hostPort ("" picks a free one).
func publishOnLoopback(port, hostPort string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		req.ExposedPorts = append(req.ExposedPorts, port)
		req.HostConfigModifier = func(hc *container.HostConfig) {
			hc.PortBindings = mobynet.PortMap{mobynet.MustParsePort(port): {
				{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort},
			}}
		}
		return nil
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// dumpLogsOnFailure prints a container's log when the test fails. Cleanups
// run last-in first-out, so this runs before the container is removed.
func dumpLogsOnFailure(t *testing.T, name string, ctr *testcontainers.DockerContainer) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		rc, err := ctr.Logs(context.Background())
		if err != nil {
			t.Logf("%s logs: %v", name, err)
			return
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		if len(b) > 20000 {
			b = b[len(b)-20000:]
		}
		t.Logf("--- %s logs (tail) ---\n%s", name, b)
	})
}

// tenant is what POST /api/v1/tenants returns.
type tenant struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	SCIMURL string `json:"scim_url"`
	Token   string `json:"token"`
}

func createTenant(t *testing.T, baseURL, key, name string) tenant {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/v1/tenants", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "POST /api/v1/tenants: %s", b)
	var tn tenant
	require.NoError(t, json.Unmarshal(b, &tn))
	require.NotEmpty(t, tn.ID)
	require.NotEmpty(t, tn.Token)
	require.Equal(t, baseURL+"/scim/"+tn.ID+"/v2", tn.SCIMURL)
	return tn
}

var timingsMu sync.Mutex

// phase starts timing a named phase; calling the result logs its duration
// and appends it to $SCIMPLANE_E2E_TIMINGS, which .ci/run prints.
func phase(t *testing.T, name string) func() {
	start := time.Now()
	return func() {
		line := fmt.Sprintf("%-60s %8s", t.Name()+": "+name, time.Since(start).Round(time.Millisecond))
		t.Log(line)
		file := os.Getenv("SCIMPLANE_E2E_TIMINGS")
		if file == "" {
			return
		}
		timingsMu.Lock()
		defer timingsMu.Unlock()
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Logf("timings file: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}
