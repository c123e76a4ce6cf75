package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// slowModule is a chain of n rules, each reading the one before: OPA's
// compiler takes time quadratic in n (about 6 s of CPU for 5,000 rules, so
// 8,000 take some 15 s: past the control plane's 10 s worker start budget
// wherever the worker compiles them on its start path).
func slowModule(n int) string {
	var sb strings.Builder
	sb.WriteString("package scimplane.generated\n\nr0 if input.user.title == \"t\"\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "r%d if { input.user.title == \"t%d\"; r%d }\n", i, i, i-1)
	}
	return sb.String()
}

// A slow-compiling policy never bricks its tenant: save refuses it with a
// clear 422; a slow version already in force (saved before compile time
// was bounded) does not hold up the worker's start, so SCIM is served and
// an admin can roll back even when no worker is running.
func TestRun_SlowCompilingPolicyNeverBricksTheTenant(t *testing.T) {
	e := boot(t, nil)
	a := e.createTenant("A")
	user := func(name string) []byte {
		return []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","active":true}`)
	}
	require.Equal(t, http.StatusCreated, e.scim(a.ID, a.Token, "POST", "/Users", user("ada@example.com")).status)
	// The policy in force as GET .../policies/active describes it.
	var active struct {
		Version         int64             `json:"version"`
		State           string            `json:"state"`
		EnforcedVersion int64             `json:"enforced_version"`
		Modules         map[string]string `json:"modules"`
		Mapping         json.RawMessage   `json:"mapping"`
	}
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/active", operatorKey, nil).json(t, &active)
	require.Equal(t, "active", active.State)
	base, err := json.Marshal(map[string]any{"modules": active.Modules, "mapping": active.Mapping, "comment": "built-in"})
	require.NoError(t, err)
	r := e.do("POST", "/api/v1/tenants/"+a.ID+"/policies", operatorKey, base)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))

	slow := scimworker.PolicyBundle{Modules: map[string]string{"generated.rego": slowModule(8000)}, Mapping: active.Mapping}
	for k, v := range active.Modules {
		slow.Modules[k] = v
	}
	body, err := json.Marshal(slow)
	require.NoError(t, err)
	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies", operatorKey, body)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
	var refusal struct {
		Error string `json:"error"`
	}
	r.json(t, &refusal)
	require.Equal(t, "policy took longer than 2s to compile", refusal.Error)

	// A slow version in force, as stored before compile time was bounded.
	conn, err := pgx.Connect(context.Background(), e.db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO `+pgx.Identifier{a.ID, "policy"}.Sanitize()+` (version, bundle, activated_at) VALUES (2, $1, now())
		ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, bundle = excluded.bundle`, body)
	require.NoError(t, err)
	stopWorker := func() {
		require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+a.ID+"/disable", operatorKey, nil).status)
		require.Equal(t, http.StatusNoContent, e.do("POST", "/api/v1/tenants/"+a.ID+"/enable", operatorKey, nil).status)
		require.NotContains(t, e.workers(), a.ID)
	}
	stopWorker()

	// The worker starts at once; reads are served while version 2 loads.
	r = e.scim(a.ID, a.Token, "GET", lookup, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/active", operatorKey, nil).json(t, &active)
	require.Equal(t, int64(2), active.Version)
	require.Contains(t, []string{"loading", "active"}, active.State)

	// Rollback with no worker running: one starts on demand and version 1
	// is in force, whatever version 2's compile is doing.
	stopWorker()
	r = e.do("POST", "/api/v1/tenants/"+a.ID+"/policies/1/activate", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	e.do("GET", "/api/v1/tenants/"+a.ID+"/policies/active", operatorKey, nil).json(t, &active)
	require.Equal(t, int64(1), active.Version)
	require.Equal(t, "active", active.State)
	require.Equal(t, int64(1), active.EnforcedVersion)
	r = e.scim(a.ID, a.Token, "POST", "/Users", user("grace@example.com"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
}
