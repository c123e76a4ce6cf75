package console

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// fakeAPI answers the admin API routes the console reads with values of
// the API's own types, every field set, so that each page's templates
// reach every field they show.
func fakeAPI(t *testing.T) *httptest.Server {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	later := at.Add(time.Hour)
	body := "{\"userName\":\"ann@contoso.com\"}"
	view := tenant.TenantView{Tenant: tenant.Tenant{ID: "tnt_a", Name: "Contoso", Status: tenant.StatusActive, CreatedAt: at}, SCIMURL: "https://scim.test/scim/tnt_a/v2"}
	grant := scimworker.Grant{Permission: "forms.view", Set: "viewer", Group: "g1", Rule: "viewers-rule"}
	group := scimworker.GroupRow{ID: "g1", DisplayName: "Forms Viewers", ExternalID: "ext-g1", Members: 3, Sets: []string{"viewer"}, Permissions: []string{"forms.view"}, Error: "group-policy-error"}
	user := scimworker.UserRow{ID: "u1", UserName: "ann@contoso.com", DisplayName: "Ann Example", Active: true, Permissions: []string{"forms.view"}, Sets: []string{"viewer"}, Error: "user-policy-error"}
	bundle := scimworker.PolicyBundle{Modules: map[string]string{"permissions.rego": "package scimplane.permissions\n"}, Mapping: json.RawMessage(`{"grants":[]}`)}
	version := func(n int64) tenant.PolicyVersion {
		return tenant.PolicyVersion{Version: n, Author: "key_author", Comment: "comment-" + string(rune('0'+n)), CreatedAt: at, Active: n == 1, PolicyBundle: bundle}
	}
	entry := scimworker.LogEntry{ID: 7, At: at, RequestID: "req_sample", Method: "PATCH", Path: "/Users/u1", Query: "attributes=userName",
		Filter: "userName eq x", ResourceType: "User", ResourceID: "u1", ExternalID: "ext-u1", UserName: "ann@contoso.com",
		DisplayName: "Ann", Summary: "patched user ann", Status: 409, ScimType: "uniqueness", Detail: "userName already exists",
		LatencyUS: 1500, RequestBody: &body, ResponseBody: &body}
	hook := scimworker.Webhook{ID: "wh_1", URL: "https://forms.test/hooks", Events: []string{"user.created"}, Enabled: false,
		DisabledReason: "disabled-reason-shown", CreatedAt: at, UpdatedAt: at, Pending: 12}
	delivery := scimworker.Delivery{ID: 9, WebhookID: "wh_1", MessageID: "msg_sample", Type: "user.created", Status: "pending", Attempts: 2,
		CreatedAt: at, LastStatus: 503, LastLatencyMS: 42, LastError: "endpoint answered 503", LastAttemptAt: &at,
		ResponseExcerpt: "excerpt-shown", NextAttemptAt: &later, Payload: json.RawMessage(`{}`)}
	routes := map[string]any{
		"GET /api/v1/tenants/{id}/webhooks":                  scimworker.WebhookList{Webhooks: []scimworker.Webhook{hook}},
		"GET /api/v1/tenants/{id}/webhooks/{wid}/deliveries": scimworker.DeliveriesPage{Deliveries: []scimworker.Delivery{delivery}, Next: "cursor-deliveries"},
		"POST /api/v1/tenants/{id}/webhooks":                 scimworker.WebhookCreated{Webhook: hook, Secret: "whsec_shown-once"},
		"GET /api/v1/tenants":                                httpapi.TenantList{Tenants: []tenant.TenantView{view}},
		"GET /api/v1/tenants/{id}":                           view,
		"GET /api/v1/workers":                                httpapi.WorkerList{Workers: []workerpool.Info{{TenantID: "tnt_a", PID: 4242, StartedAt: at, LastUsed: later, Conns: 2}}},
		"GET /api/v1/tenants/{id}/tokens":                    httpapi.TokenList{Tokens: []tenant.Token{{ID: "tok_1", TenantID: "tnt_a", Name: "entra", CreatedAt: at, ExpiresAt: &later, LastUsedAt: &later}}},
		"GET /api/v1/tenants/{id}/rejections":                httpapi.RejectionList{Rejections: []tenant.Rejection{{At: at, TenantID: "tnt_a", RequestID: "req_refused", Method: "GET", Path: "/Users", Status: 401, Reason: "invalid token"}}},
		"GET /api/v1/tenants/{id}/groups":                    scimworker.GroupsPage{Groups: []scimworker.GroupRow{group}, Next: "cursor-groups"},
		"GET /api/v1/tenants/{id}/users":                     scimworker.UsersPage{Users: []scimworker.UserRow{user}, Next: "cursor-users"},
		"GET /api/v1/tenants/{id}/changes":                   scimworker.ChangesPage{},
		"GET /api/v1/tenants/{id}/policies":                  httpapi.PolicyList{Versions: []tenant.PolicyVersion{version(2), version(1)}},
		"GET /api/v1/tenants/{id}/policies/{v}":              version(2),
		"GET /api/v1/tenants/{id}/policies/active":           scimworker.ActivePolicy{Version: 1, ActivatedAt: &at, PolicyBundle: bundle},
		"GET /api/v1/tenants/{id}/groups/{gid}/members":      scimworker.GroupMembersPage{Group: group, Members: []scimworker.UserRow{user}, Next: "cursor-members"},
		"GET /api/v1/tenants/{id}/users/{uid}": scimworker.UserDetail{User: json.RawMessage(`{"id":"u1","userName":"ann@contoso.com","active":true}`),
			Groups: []scimworker.GroupRef{{ID: "g1", ExternalID: "ext-g1", DisplayName: "Forms Viewers"}}, Permissions: []string{"forms.view"},
			Sets: []string{"viewer"}, Grants: []scimworker.Grant{grant}, Error: "user-policy-error", PolicyVersion: 1},
		"GET /api/v1/tenants/{id}/users/{uid}/explain": scimworker.Explanation{Permission: "forms.view", Granted: true,
			Grants: []scimworker.Grant{grant}, Reasons: []string{"reason-shown"}, PolicyVersion: 1},
		"GET /api/v1/tenants/{id}/logs": scimworker.LogPage{Entries: []scimworker.LogEntry{entry}, Next: "cursor-log"},
		"GET /api/v1/tenants/{id}/logs/health": scimworker.LogHealth{LastHour: scimworker.LogWindow{Requests: 10, Failures: 4, FailureRate: 0.4},
			LastDay: scimworker.LogWindow{Requests: 100, Failures: 4, FailureRate: 0.04}, LastSuccess: &at,
			TopErrors: []scimworker.ErrorCount{{Status: 409, ScimType: "uniqueness", Detail: "top-error-detail", Count: 4}}, QuarantineWarning: "quarantine-warning-shown"},
		"GET /api/v1/tenants/{id}/logs/{entry}": entry,
		"GET /api/v1/tenants/{id}/extensions": scimworker.Extensions{MaxSchemas: 20, MaxAttributes: 100, Schemas: []scimworker.ExtensionSchema{{
			Schema: "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User", ResourceType: "User",
			Attributes: []scimworker.ExtensionAttribute{{Schema: "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
				ResourceType: "User", Name: "costCenter", Type: "string", MultiValued: true, CaseExact: true, Description: "extension-description"}}}}},
		"POST /api/v1/tenants/{id}/extensions":   scimworker.Extensions{},
		"DELETE /api/v1/tenants/{id}/extensions": scimworker.Extensions{},
		"POST /api/v1/tenants/{id}/policies/{v}/dry-run": scimworker.DryRun{Users: 10, Changed: 2,
			Changes: []scimworker.DryRunChange{{UserID: "u1", UserName: "dry-run-user", Gained: []string{"forms.design"}, Lost: []string{"forms.view"}}},
			Errors:  []scimworker.DryRunError{{UserID: "u9", Error: "dry-run-error"}}},
	}
	mux := http.NewServeMux()
	for pattern, reply := range routes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			require.NoError(t, json.NewEncoder(w).Encode(reply))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Every page renders the API's types: a field renamed in them is a compile
// error in the console's Go code and, in its templates, a failure here.
func TestPages_RenderTheAPIsTypes(t *testing.T) {
	api := fakeAPI(t)
	app := fiber.New()
	secret := []byte("console-test-secret")
	var log strings.Builder // what a failed page logged (a template error)
	Mount(app, Params{APIURL: api.URL, Secret: secret, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	sess := newSession(time.Now(), time.Hour)
	sess.Key, sess.Role = "spk_test", tenant.RoleOperator
	cookie := &http.Cookie{Name: cookieName, Value: newSealer(secret).seal(sess)}

	tests := []struct {
		method, path string
		want         []string
	}{
		{"GET", "/admin/tenants", []string{"Contoso", "pid 4242", "quarantine risk"}},
		{"GET", "/admin/tenants/tnt_a", []string{"https://scim.test/scim/tnt_a/v2", "tok_1", "entra"}},
		{"GET", "/admin/tenants/tnt_a/groups", []string{"Forms Viewers", "ext-g1", "viewer", "forms.view", "group-policy-error", "cursor-groups"}},
		{"GET", "/admin/tenants/tnt_a/groups/g1", []string{"Forms Viewers", "ann@contoso.com", "Ann Example", "user-policy-error", "cursor-members"}},
		{"GET", "/admin/tenants/tnt_a/users", []string{"ann@contoso.com", "cursor-users"}},
		{"GET", "/admin/tenants/tnt_a/users/u1?permission=forms.view", []string{"ann@contoso.com", "viewers-rule", "user-policy-error", "reason-shown", "Forms Viewers"}},
		{"GET", "/admin/tenants/tnt_a/policy", []string{"permissions.rego", "version 1"}},
		{"GET", "/admin/tenants/tnt_a/policy/2", []string{"Version 2", "key_author", "comment-2"}},
		{"POST", "/admin/tenants/tnt_a/policy/2/dry-run", []string{"dry-run-user", "forms.design", "dry-run-error"}},
		{"GET", "/admin/tenants/tnt_a/logs", []string{"/Users/u1", "patched user ann", "userName already exists", "quarantine-warning-shown", "top-error-detail", "req_refused", "cursor-log"}},
		{"GET", "/admin/tenants/tnt_a/logs/rows", []string{"ext-u1", "uniqueness", "1.5 ms"}},
		{"GET", "/admin/tenants/tnt_a/extensions", []string{"CustomExtensionName:2.0:User", "costCenter", "extension-description", "At most 20 schemas"}},
		{"GET", "/admin/tenants/tnt_a/logs/7", []string{"req_sample", "ext-u1", "userName already exists", "ann@contoso.com"}},
		{"GET", "/admin/tenants/tnt_a/webhooks?webhook=wh_1", []string{"https://forms.test/hooks", "disabled-reason-shown", "user.created", "msg_sample",
			"HTTP 503", "42 ms", "endpoint answered 503", "excerpt-shown", "cursor-deliveries", "Replay"}},
		{"POST", "/admin/tenants/tnt_a/webhooks", []string{"whsec_shown-once", "shown only this once"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader(url.Values{"csrf": {sess.CSRF}}.Encode())
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.AddCookie(cookie)
			resp, err := app.Test(req, -1)
			require.NoError(t, err)
			page, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, log.String())
			for _, w := range tt.want {
				require.Contains(t, string(page), w)
			}
		})
	}
}

// The extension attribute forms post to the API and return to the page.
func TestPages_ExtensionForms(t *testing.T) {
	api := fakeAPI(t)
	app := fiber.New()
	secret := []byte("console-test-secret")
	Mount(app, Params{APIURL: api.URL, Secret: secret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	sess := newSession(time.Now(), time.Hour)
	sess.Key, sess.Role = "spk_test", tenant.RoleOperator
	cookie := &http.Cookie{Name: cookieName, Value: newSealer(secret).seal(sess)}
	for path, form := range map[string]url.Values{
		"/admin/tenants/tnt_a/extensions": {"csrf": {sess.CSRF}, "schema": {"urn:ietf:params:scim:schemas:extension:X:1.0:User"},
			"resourceType": {"User"}, "name": {"costCenter"}, "type": {"string"}, "multiValued": {"on"}},
		"/admin/tenants/tnt_a/extensions/remove": {"csrf": {sess.CSRF}, "schema": {"urn:ietf:params:scim:schemas:extension:X:1.0:User"}, "name": {"costCenter"}},
	} {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, path)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/admin/tenants/tnt_a/extensions?done="), resp.Header.Get("Location"))
	}
}
