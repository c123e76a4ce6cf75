package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// send makes one admin API request with a JSON body (or none).
func (f *fixture) send(method, path, key string, body any) answer {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(f.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.base+path, r)
	require.NoError(f.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	_ = json.Unmarshal(b, &a.body)
	return a
}

func (f *fixture) key(role tenant.Role, tenantID string) string {
	f.t.Helper()
	k, err := f.tenants.CreateAPIKey(context.Background(), operator, tenant.CreateAPIKeyParams{Role: role, TenantID: tenantID})
	require.NoError(f.t, err)
	return k.Secret
}

var candidate = map[string]any{"modules": map[string]string{"p.rego": "package p"}, "mapping": map[string]any{}, "comment": "c"}

// Only policy managers may validate, dry-run, save or activate, and a key
// that may not is refused before the worker is asked anything: candidate
// policies are code the worker runs.
func TestPolicies_AuthorizationComesFirst(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{})
	a, b := f.createTenant("A"), f.createTenant("B")
	path := "/api/v1/tenants/" + a.ID + "/policies"
	saved := f.send("POST", path, operatorKey, candidate)
	require.Equal(t, http.StatusCreated, saved.status, saved.body)
	require.EqualValues(t, 1, saved.body["version"])
	require.Equal(t, []string{"validate"}, f.workers.policy.calls())

	support, supportAll, adminB := f.key(tenant.RoleSupport, a.ID), f.key(tenant.RoleSupport, ""), f.key(tenant.RoleTenantAdmin, b.ID)
	for _, key := range []string{support, supportAll, adminB} {
		for _, tc := range []struct {
			path string
			body any
		}{
			{path + "/validate", candidate},
			{path, candidate},
			{path + "/1/dry-run", nil},
			{path + "/1/activate", nil},
			{path + "/9/activate", nil}, // unsaved: still 403, not 404
		} {
			r := f.send("POST", tc.path, key, tc.body)
			require.Equal(t, http.StatusForbidden, r.status, "%s: %v", tc.path, r.body)
		}
	}
	require.Equal(t, []string{"validate"}, f.workers.policy.calls(), "the worker was not called")

	// Support keys read versions and the policy in force.
	require.Equal(t, http.StatusOK, f.send("GET", path+"/1", support, nil).status)
	require.Equal(t, http.StatusOK, f.send("GET", path+"/active", supportAll, nil).status)

	// The tenant's admin may.
	adminA := f.key(tenant.RoleTenantAdmin, a.ID)
	for _, p := range []string{path + "/validate", path + "/1/dry-run", path + "/1/activate"} {
		var body any
		if p == path+"/validate" {
			body = candidate
		}
		r := f.send("POST", p, adminA, body)
		require.Equal(t, http.StatusOK, r.status, "%s: %v", p, r.body)
	}
	require.Equal(t, []string{"validate", "active", "validate", "dry-run", "activate 1"}, f.workers.policy.calls())
}

// A candidate the worker refuses is answered with the worker's status,
// problems and tests, and is not stored.
func TestPolicies_RefusalsCarryTheProblems(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{})
	a := f.createTenant("A")
	path := "/api/v1/tenants/" + a.ID + "/policies"
	broken := map[string]any{"modules": map[string]string{"broken.rego": "x"}, "mapping": map[string]any{}}
	for _, p := range []string{path, path + "/validate"} {
		r := f.send("POST", p, operatorKey, broken)
		require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
		require.Equal(t, "policy does not compile", r.body["error"])
		require.Equal(t, []any{map[string]any{"file": "broken.rego", "line": 1.0, "column": 0.0, "message": "nope"}}, r.body["problems"])
		require.NotEmpty(t, r.body["request_id"])
	}
	list := f.send("GET", path, operatorKey, nil)
	require.Empty(t, list.body["versions"])
}

// Only saved versions can be activated.
func TestPolicies_ActivateNeedsASavedVersion(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{})
	a := f.createTenant("A")
	path := "/api/v1/tenants/" + a.ID + "/policies"
	require.Equal(t, http.StatusCreated, f.send("POST", path, operatorKey, candidate).status)
	for _, v := range []string{"2", "0", "-1", "x"} {
		r := f.send("POST", path+"/"+v+"/activate", operatorKey, nil)
		require.Equal(t, http.StatusNotFound, r.status, "version %s: %v", v, r.body)
	}
	require.Equal(t, []string{"validate"}, f.workers.policy.calls())
}

// When recording an activation fails after the worker activated the
// version, the API says so, and activating the same version again
// completes it: the worker and the version list agree, and the audit
// names the version each time.
func TestPolicies_ActivationRetryRepairsAHalfDoneOne(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{})
	a := f.createTenant("A")
	path := "/api/v1/tenants/" + a.ID + "/policies"
	for range 2 {
		require.Equal(t, http.StatusCreated, f.send("POST", path, operatorKey, candidate).status)
	}
	require.Equal(t, http.StatusOK, f.send("POST", path+"/1/activate", operatorKey, nil).status)

	f.store.failMark.Store(true)
	r := f.send("POST", path+"/2/activate", operatorKey, nil)
	require.Equal(t, http.StatusInternalServerError, r.status, r.body)
	require.Equal(t, int64(2), f.workers.policy.inForce(), "the worker enforces version 2")
	require.Equal(t, []int64{1}, activeVersions(t, f, path), "but it is not recorded as active")

	r = f.send("POST", path+"/2/activate", operatorKey, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.EqualValues(t, 2, r.body["version"])
	require.Equal(t, []int64{2}, activeVersions(t, f, path))
	require.Equal(t, []string{"validate", "validate", "activate 1", "activate 2", "activate 2"}, f.workers.policy.calls())

	audit, err := f.tenants.ListAudit(context.Background(), operator, a.ID, 100)
	require.NoError(t, err)
	var activations []string
	for _, e := range audit {
		if e.Action == "policy.activate" {
			activations = append(activations, e.Detail)
		}
	}
	require.Equal(t, []string{"version 2", "version 2", "version 1"}, activations)
}

func activeVersions(t *testing.T, f *fixture, path string) []int64 {
	t.Helper()
	var list struct {
		Versions []tenant.PolicyVersion `json:"versions"`
	}
	req, err := http.NewRequest("GET", f.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	var active []int64
	for _, v := range list.Versions {
		if v.Active {
			active = append(active, v.Version)
		}
	}
	return active
}

// GET /api/v1/me tells a key its role and tenant scope.
func TestMe(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{})
	a := f.createTenant("A")
	admin, err := f.tenants.CreateAPIKey(context.Background(), operator, tenant.CreateAPIKeyParams{Role: tenant.RoleTenantAdmin, TenantID: a.ID})
	require.NoError(t, err)
	tests := []struct {
		name string
		key  string
		want map[string]any
	}{
		{name: "operator", key: operatorKey, want: map[string]any{"key_id": tenant.BootstrapKeyID, "role": "operator"}},
		{name: "tenant admin", key: admin.Secret, want: map[string]any{"key_id": admin.ID, "role": "tenant_admin", "tenant_id": a.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.send("GET", "/api/v1/me", tt.key, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, tt.want, r.body)
		})
	}
	require.Equal(t, http.StatusUnauthorized, f.send("GET", "/api/v1/me", "spk_nope", nil).status)
}

// The export reaches the client as the worker writes it, not once it is
// whole; a refusal before any data is an error answer; a client that goes
// away ends the worker's export.
func TestLogs_ExportStreams(t *testing.T) {
	f := serve(t, tenant.Params{}, config.Ingress{})
	a := f.createTenant("A")
	f.workers.policy.export = make(chan struct{})
	f.workers.policy.exportEnded = make(chan error, 1)
	ended := func() error {
		select {
		case err := <-f.workers.policy.exportEnded:
			return err
		case <-time.After(time.Minute):
			t.Fatal("the worker's export did not end")
			return nil
		}
	}

	bad := f.send("GET", "/api/v1/tenants/"+a.ID+"/logs?format=ndjson&status=teapot", operatorKey, nil)
	require.Equal(t, http.StatusBadRequest, bad.status)
	require.Equal(t, "status is a code like 409 or a class like 4xx", bad.body["error"])
	require.Equal(t, scimworker.BadRequest("status is a code like 409 or a class like 4xx"), ended())

	req, err := http.NewRequest("GET", f.base+"/api/v1/tenants/"+a.ID+"/logs?format=ndjson", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	lines := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		line, err := lines.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, `{"id":`+strconv.Itoa(i)+"}\n", line, "line %d arrives while the export runs", i)
		f.workers.policy.export <- struct{}{}
	}
	require.NoError(t, resp.Body.Close())
	// The worker keeps writing, as a real export does, until writing fails.
	timeout := time.After(time.Minute)
	for gone := false; !gone; {
		select {
		case f.workers.policy.export <- struct{}{}:
		case err := <-f.workers.policy.exportEnded:
			require.Error(t, err, "the client left: the export ends with an error")
			gone = true
		case <-timeout:
			t.Fatal("the worker's export did not end")
		}
	}

	// A whole export, to its end.
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	close(f.workers.policy.export)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "{\"id\":1}\n", string(body))
	require.NoError(t, ended())
}
