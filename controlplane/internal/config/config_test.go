package config

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/tracing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv_Defaults(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"SCIMPLANE_WORKER_BIN": "/bin/worker"}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Addr)
	require.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	require.Equal(t, ".scimplane", c.DataDir)
	require.Equal(t, 500.0, c.RateLimit)
	require.Equal(t, 1000, c.RateBurst)
	require.Equal(t, 2*time.Second, c.RateQueueWait)
	require.Equal(t, 1<<20, c.MaxBodyBytes)
	require.Equal(t, 2*time.Minute, c.WorkerIdleTimeout)
	require.Equal(t, 10*time.Minute, c.CredentialsStaleMax)
	require.Equal(t, 10*time.Second, c.UnknownTenantTTL)
	require.Equal(t, 20*time.Second, c.ShutdownGrace)
	require.Equal(t, 5*time.Second, c.ShutdownDelay)
	require.Equal(t, Ingress{MaxConns: 4096, MaxConnsPerClient: 4096, MaxInflightBodyBytes: 64 << 20,
		ReadTimeout: 15 * time.Second, AuthFailureRate: 5, AuthFailureBurst: 100}, c.Ingress)
}

func TestFromEnv_Invalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "bad duration", env: map[string]string{"SCIMPLANE_WORKER_IDLE_TIMEOUT": "soon"}, want: "SCIMPLANE_WORKER_IDLE_TIMEOUT"},
		{name: "bad public url", env: map[string]string{"SCIMPLANE_PUBLIC_URL": "ftp://x"}, want: "public url"},
		{name: "short bootstrap key", env: map[string]string{"SCIMPLANE_BOOTSTRAP_KEY": "spk_short"}, want: "bootstrap key"},
		{name: "bootstrap key without the spk_ prefix", env: map[string]string{"SCIMPLANE_BOOTSTRAP_KEY": "opkey-0123456789abcdef0123456789"}, want: "spk_"},
		{name: "zero rate", env: map[string]string{"SCIMPLANE_RATE_LIMIT": "0"}, want: "rate limit"},
		{name: "tiny body limit", env: map[string]string{"SCIMPLANE_MAX_BODY_BYTES": "10"}, want: "max body bytes"},
		{name: "in-flight budget below one body", env: map[string]string{"SCIMPLANE_MAX_INFLIGHT_BODY_BYTES": "1024"}, want: "in-flight"},
		{name: "negative connection cap", env: map[string]string{"SCIMPLANE_MAX_CONNS_PER_CLIENT": "-1"}, want: "per client"},
		{name: "sub-second read timeout", env: map[string]string{"SCIMPLANE_READ_TIMEOUT": "100ms"}, want: "read timeout"},
		{name: "stale credentials past an hour", env: map[string]string{"SCIMPLANE_CREDENTIALS_STALE_MAX": "2h"}, want: "stale"},
		{name: "bad shutdown grace", env: map[string]string{"SCIMPLANE_SHUTDOWN_GRACE": "20"}, want: "SCIMPLANE_SHUTDOWN_GRACE"},
		{name: "no shutdown grace", env: map[string]string{"SCIMPLANE_SHUTDOWN_GRACE": "0s"}, want: "shutdown grace"},
		{name: "shutdown grace past ten minutes", env: map[string]string{"SCIMPLANE_SHUTDOWN_GRACE": "11m"}, want: "shutdown grace"},
		{name: "negative shutdown delay", env: map[string]string{"SCIMPLANE_SHUTDOWN_DELAY": "-1s"}, want: "shutdown delay"},
		{name: "shutdown delay leaving too little grace", env: map[string]string{"SCIMPLANE_SHUTDOWN_GRACE": "10s", "SCIMPLANE_SHUTDOWN_DELAY": "6s"}, want: "shutdown delay"},
		{name: "worker user with a space", env: map[string]string{"SCIMPLANE_WORKER_USER": "no body"}, want: "worker user"},
		{name: "worker user with half a uid:gid", env: map[string]string{"SCIMPLANE_WORKER_USER": "65534:"}, want: "worker user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["SCIMPLANE_WORKER_BIN"] = "/bin/worker"
			_, err := FromEnv(env(tt.env))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFromEnv_ShutdownTimes(t *testing.T) {
	tests := []struct {
		grace, delay         string
		wantGrace, wantDelay time.Duration
	}{
		{grace: "35s", delay: "", wantGrace: 35 * time.Second, wantDelay: 5 * time.Second},
		{grace: "", delay: "0s", wantGrace: 20 * time.Second, wantDelay: 0},
		{grace: "10s", delay: "5s", wantGrace: 10 * time.Second, wantDelay: 5 * time.Second},
		{grace: "1s", delay: "500ms", wantGrace: time.Second, wantDelay: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.grace+"/"+tt.delay, func(t *testing.T) {
			c, err := FromEnv(env(map[string]string{"SCIMPLANE_WORKER_BIN": "/bin/worker",
				"SCIMPLANE_SHUTDOWN_GRACE": tt.grace, "SCIMPLANE_SHUTDOWN_DELAY": tt.delay}))
			require.NoError(t, err)
			require.Equal(t, tt.wantGrace, c.ShutdownGrace)
			require.Equal(t, tt.wantDelay, c.ShutdownDelay)
		})
	}
}

func TestConfig_LogValueRedactsSecrets(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		"SCIMPLANE_WORKER_BIN":    "/bin/worker",
		"DATABASE_URL":            "postgres://cp:db-password@db:5432/scimplane",
		"SCIMPLANE_BOOTSTRAP_KEY": "spk_bootstrap-secret-0123456789",
		"SCIMPLANE_SECRET":        "server-secret-0123456789abcdef0123456789",
	}))
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	out := buf.String()
	for _, secret := range []string{"db-password", "bootstrap-secret", "server-secret"} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "postgres://cp:xxxxx@db:5432/scimplane")
}

// The control plane keeps exactly the variables plugins/tracing reads, to
// start its own tracing and hand them to its workers; the log never shows
// them (the headers may carry a collector's credentials).
func TestFromEnv_OTelVariables(t *testing.T) {
	require.ElementsMatch(t, tracing.Vars(), OTelVars())
	vars := map[string]string{"SCIMPLANE_WORKER_BIN": "/bin/worker", "OTEL_UNRELATED": "x"}
	for _, name := range OTelVars() {
		vars[name] = "v-" + name
	}
	c, err := FromEnv(env(vars))
	require.NoError(t, err)
	require.Len(t, c.OTel, len(OTelVars()))
	for _, name := range OTelVars() {
		require.Equal(t, "v-"+name, c.OTel[name])
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	require.NotContains(t, buf.String(), "v-OTEL_EXPORTER_OTLP_HEADERS")

	c, err = FromEnv(env(map[string]string{"SCIMPLANE_WORKER_BIN": "/bin/worker"}))
	require.NoError(t, err)
	require.Nil(t, c.OTel)
}
