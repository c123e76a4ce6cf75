package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// APIPrefix is where the admin API is mounted.
const APIPrefix = "/api/v1"

// Route is one admin API operation: the handler New mounts and what the
// OpenAPI document (controlplane/apidoc) says of it. Routes is the
// one list both read, so a route cannot be served undocumented, and the
// types the document shows are the ones the handler decodes and encodes.
type Route struct {
	Method string
	// Path is below APIPrefix, in fiber's syntax (/tenants/:id).
	Path string
	// ID is the OpenAPI operationId; Tag groups operations.
	ID, Tag string
	// Summary is one line; Description may add paragraphs (Markdown).
	Summary, Description string
	// Roles may call the route (subject to Scope); none: no key needed.
	Roles []tenant.Role
	// Scope says how a key's tenant scope narrows Roles, if it does.
	Scope string
	// PathParams describes the path's parameters by name.
	PathParams map[string]string
	// Headers are request headers the route reads, by name, with their
	// meaning.
	Headers map[string]string
	// Query is a struct whose `query`-tagged fields are the route's query
	// parameters (what fiber's QueryParser fills); nil: none.
	Query reflect.Type
	// RequiredQuery are the query parameters the route refuses to go
	// without.
	RequiredQuery []string
	// Body is the JSON request body's type; nil: the route reads none.
	Body reflect.Type
	// Status is the success status; Response its JSON body's type (nil
	// with 204).
	Status   int
	Response reflect.Type
	// Streams are further media types the success answer may take (the
	// log export), each with its description.
	Streams map[string]string
	// Refusals are the error statuses particular to the route; every
	// authenticated route may also answer 400, 401, 429, 500 and 503, and
	// one with a Body 408, 413 and 415.
	Refusals []int
	// Public routes need no key and are served outside the API group.
	Public bool

	serve func(*server) fiber.Handler
}

// Access levels, as the tenant service enforces them.
var (
	anyRole      = []tenant.Role{tenant.RoleOperator, tenant.RoleTenantAdmin, tenant.RoleSupport}
	operatorOnly = []tenant.Role{tenant.RoleOperator}
	managers     = []tenant.Role{tenant.RoleOperator, tenant.RoleTenantAdmin}
)

// Scopes, for the document.
const (
	readScope   = "support keys scoped to a tenant and tenant_admin keys read only their own tenant"
	manageScope = "tenant_admin keys manage only their own tenant"
)

// Path parameters.
var (
	tenantParam  = map[string]string{"id": "Tenant id (`tnt_...`)."}
	versionParam = map[string]string{"id": tenantParam["id"], "version": "Policy version number."}
)

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}

// Query parameter types of the routes that are not tenant-data
// operations (those take the contract's request types).
type (
	// DeleteTenantQuery confirms a tenant's deletion.
	DeleteTenantQuery struct {
		// Confirm must repeat the tenant id: deleting a tenant drops all
		// its data.
		Confirm string `query:"confirm"`
	}
	// LimitQuery bounds a list.
	LimitQuery struct {
		// Limit is the most entries to return: 1 to 1000, default 100.
		Limit int `query:"limit"`
	}
	// AuditQuery selects audit entries.
	AuditQuery struct {
		// TenantID keeps one tenant's entries; empty lists every
		// tenant's, for operators and unscoped support keys.
		TenantID string `query:"tenant_id"`
		// Limit is the most entries to return: 1 to 1000, default 100.
		Limit int `query:"limit"`
	}
)

// Request bodies of the routes that are not tenant-data operations.
type (
	// NewTenant names a tenant to create.
	NewTenant struct {
		// Name is 1 to 200 characters, no control characters.
		Name string `json:"name"`
	}
	// ConsoleSignOut ends a console session.
	ConsoleSignOut struct {
		// ExpiresAt is when the session would have expired anyway: how
		// long it must be remembered as signed out (at most 24 hours).
		ExpiresAt time.Time `json:"expires_at"`
	}
)

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// Routes lists the admin API's routes in the order they are mounted (the
// first that matches serves a request).
func Routes() []Route {
	return append([]Route{
		{Method: http.MethodGet, Path: "/openapi.json", ID: "getOpenAPI", Tag: "meta", Public: true,
			Summary: "This API's OpenAPI 3.1 document", Description: "Served without a key: it describes the API, not any tenant.",
			Status: http.StatusOK, serve: func(s *server) fiber.Handler { return s.openAPI }},
		{Method: http.MethodGet, Path: "/me", ID: "getMe", Tag: "meta", Roles: anyRole,
			Summary: "Who the calling key is: its id, role and tenant scope",
			Status:  http.StatusOK, Response: typeOf[tenant.Principal](), serve: func(s *server) fiber.Handler { return s.me }},

		{Method: http.MethodPost, Path: "/tenants", ID: "createTenant", Tag: "tenants", Roles: operatorOnly,
			Summary:     "Create a tenant",
			Description: "Creates the tenant's database role and schema and its first SCIM token, which the answer shows once.",
			Body:        typeOf[NewTenant](), Status: http.StatusCreated, Response: typeOf[tenant.CreatedTenant](),
			Refusals: []int{403, 409}, serve: func(s *server) fiber.Handler { return s.createTenant }},
		{Method: http.MethodGet, Path: "/tenants", ID: "listTenants", Tag: "tenants", Roles: anyRole, Scope: readScope,
			Summary: "List the tenants the key may read",
			Status:  http.StatusOK, Response: typeOf[TenantList](),
			Refusals: []int{404}, serve: func(s *server) fiber.Handler { return s.listTenants }},
		{Method: http.MethodGet, Path: "/tenants/:id", ID: "getTenant", Tag: "tenants", Roles: anyRole, Scope: readScope,
			Summary: "Get a tenant", PathParams: tenantParam,
			Status: http.StatusOK, Response: typeOf[tenant.TenantView](),
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.getTenant }},
		{Method: http.MethodPost, Path: "/tenants/:id/disable", ID: "disableTenant", Tag: "tenants", Roles: operatorOnly,
			Summary: "Disable a tenant", Description: "Its SCIM requests are refused (403) and its worker is stopped.",
			PathParams: tenantParam, Status: http.StatusNoContent,
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.setEnabled(false) }},
		{Method: http.MethodPost, Path: "/tenants/:id/enable", ID: "enableTenant", Tag: "tenants", Roles: operatorOnly,
			Summary: "Enable a disabled tenant", PathParams: tenantParam, Status: http.StatusNoContent,
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.setEnabled(true) }},
		{Method: http.MethodDelete, Path: "/tenants/:id", ID: "deleteTenant", Tag: "tenants", Roles: operatorOnly,
			Summary: "Delete a tenant and all its data", Description: "Stops its worker and drops its schema and role.",
			PathParams: tenantParam, Query: typeOf[DeleteTenantQuery](), RequiredQuery: []string{"confirm"}, Status: http.StatusNoContent,
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.deleteTenant }},
		{Method: http.MethodPost, Path: "/tenants/:id/tokens", ID: "createToken", Tag: "tokens", Roles: managers, Scope: manageScope,
			Summary:     "Issue a SCIM token",
			Description: "The answer shows the secret once. Older tokens keep working until revoked, so rotation can overlap.",
			PathParams:  tenantParam, Body: typeOf[tenant.CreateTokenParams](), Status: http.StatusCreated, Response: typeOf[tenant.CreatedToken](),
			Refusals: []int{403, 404, 409}, serve: func(s *server) fiber.Handler { return s.createToken }},
		{Method: http.MethodGet, Path: "/tenants/:id/tokens", ID: "listTokens", Tag: "tokens", Roles: anyRole, Scope: readScope,
			Summary: "List a tenant's SCIM tokens (never their secrets)", PathParams: tenantParam,
			Status: http.StatusOK, Response: typeOf[TokenList](),
			Refusals: []int{403}, serve: func(s *server) fiber.Handler { return s.listTokens }},
		{Method: http.MethodGet, Path: "/tenants/:id/rejections", ID: "listRejections", Tag: "scim-log", Roles: anyRole, Scope: readScope,
			Summary:     "SCIM requests refused before they reached the tenant's worker",
			Description: "Bad bytes (400), a wrong token (401), a disabled tenant (403), a body too large (413), rate limits (429), unavailability (503); sampled at 10 a second per tenant, newest first.",
			PathParams:  tenantParam, Query: typeOf[LimitQuery](), Status: http.StatusOK, Response: typeOf[RejectionList](),
			Refusals: []int{403}, serve: func(s *server) fiber.Handler { return s.listRejections }},

		dataQuery("/tenants/:id/groups", "listGroups", "directory", (*tenant.Service).ListGroups, nil,
			Route{Summary: "A page of groups, by display name, with member counts and what the policy gives their members", PathParams: tenantParam}),
		dataQuery("/tenants/:id/groups/:gid/members", "listGroupMembers", "directory", (*tenant.Service).GroupMembers,
			func(_ *server, c *fiber.Ctx, r *scimworker.GroupMembersRequest) error {
				r.ID = c.Params("gid")
				return nil
			},
			Route{Summary: "A group and a page of its members, each with effective permissions", PathParams: with(tenantParam, "gid", "Group id.")}),
		dataQuery("/tenants/:id/users", "listUsers", "directory", (*tenant.Service).ListUsers, nil,
			Route{Summary: "A page of users, in creation order, with effective permissions", PathParams: tenantParam}),
		dataQuery("/tenants/:id/users/:uid", "getUser", "directory", (*tenant.Service).GetUser,
			func(_ *server, c *fiber.Ctx, r *scimworker.UserRequest) error { r.ID = c.Params("uid"); return nil },
			Route{Summary: "One user: SCIM attributes, groups, permissions and the grants behind them", PathParams: with(tenantParam, "uid", "User id.")}),
		dataQuery("/tenants/:id/users/:uid/explain", "explainUser", "directory", (*tenant.Service).ExplainUser,
			func(_ *server, c *fiber.Ctx, r *scimworker.ExplainRequest) error { r.ID = c.Params("uid"); return nil },
			Route{Summary: "Why a user has, or lacks, one permission", PathParams: with(tenantParam, "uid", "User id."),
				RequiredQuery: []string{"permission"}}),
		dataQuery("/tenants/:id/changes", "listChanges", "directory", (*tenant.Service).Changes, nil,
			Route{Summary: "The change feed: user, group, membership and permission changes, in commit order",
				Description: "Poll with the last answer's `next` as `after`: `next` equals `after` when nothing new committed. " +
					"Only committed changes appear, in the order they committed, so a consumer that keeps its cursor misses none.",
				PathParams: tenantParam}),
		{Method: http.MethodGet, Path: "/tenants/:id/logs", ID: "queryLog", Tag: "scim-log", Roles: anyRole, Scope: readScope,
			Summary: "Search the SCIM log, newest first, or export it",
			Description: "Without `format` (or with `json`), a page of entries without bodies. " +
				"With `format=ndjson` or `csv`, every matching entry (up to 100,000, `after` and `limit` ignored), streamed as the worker reads them.",
			PathParams: tenantParam, Query: typeOf[scimworker.LogExportRequest](), Status: http.StatusOK, Response: typeOf[scimworker.LogPage](),
			Streams: map[string]string{
				"application/x-ndjson": "format=ndjson: one LogEntry per line.",
				"text/csv":             "format=csv: a header line of column names, then one row per entry.",
			},
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.logs }},
		dataQuery("/tenants/:id/logs/health", "logHealth", "scim-log", (*tenant.Service).LogHealth, nil,
			Route{Summary: "The SCIM log's last hour and day: volumes, failure rates, top errors, quarantine warning", PathParams: tenantParam}),
		dataBody(http.MethodPut, "/tenants/:id/logs/retention", "setLogRetention", "scim-log", (*tenant.Service).SetLogRetention,
			Route{Summary: "Set how long the SCIM log is kept, and drop what is older", PathParams: tenantParam}),
		dataQuery("/tenants/:id/logs/:entry", "getLogEntry", "scim-log", (*tenant.Service).GetLogEntry,
			func(_ *server, c *fiber.Ctx, r *scimworker.LogEntryRequest) error {
				n, err := strconv.ParseInt(c.Params("entry"), 10, 64)
				if err != nil {
					return fiber.ErrNotFound
				}
				r.ID = n
				return nil
			},
			Route{Summary: "One SCIM log entry with its request and response bodies (secrets redacted)",
				PathParams: with(tenantParam, "entry", "Log entry id.")}),

		{Method: http.MethodGet, Path: "/tenants/:id/policies", ID: "listPolicies", Tag: "policies", Roles: anyRole, Scope: readScope,
			Summary: "The tenant's saved policy versions, newest first", PathParams: tenantParam,
			Status: http.StatusOK, Response: typeOf[PolicyList](),
			Refusals: []int{403}, serve: func(s *server) fiber.Handler { return s.listPolicies }},
		{Method: http.MethodPost, Path: "/tenants/:id/policies", ID: "savePolicy", Tag: "policies", Roles: managers, Scope: manageScope,
			Summary:     "Save a candidate policy as the next version",
			Description: "The tenant's worker compiles it and runs its tests first; one that fails is refused with 422 and not stored. The version is not active until activated.",
			PathParams:  tenantParam, Body: typeOf[tenant.NewPolicy](), Status: http.StatusCreated, Response: typeOf[tenant.SavedPolicy](),
			Refusals: []int{403, 404, 422}, serve: func(s *server) fiber.Handler { return s.savePolicy }},
		{Method: http.MethodPost, Path: "/tenants/:id/policies/validate", ID: "validatePolicy", Tag: "policies", Roles: managers, Scope: manageScope,
			Summary: "Compile a candidate policy and run its tests, storing nothing", PathParams: tenantParam,
			Body: typeOf[tenant.NewPolicy](), Status: http.StatusOK, Response: typeOf[scimworker.PolicyCheck](),
			Refusals: []int{403, 404, 422}, serve: func(s *server) fiber.Handler { return s.validatePolicy }},
		{Method: http.MethodGet, Path: "/tenants/:id/policies/active", ID: "activePolicy", Tag: "policies", Roles: anyRole, Scope: readScope,
			Summary: "The policy the tenant's worker enforces (version 0: the built-in one)", PathParams: tenantParam,
			Status: http.StatusOK, Response: typeOf[scimworker.ActivePolicy](),
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.activePolicy }},
		{Method: http.MethodGet, Path: "/tenants/:id/policies/:version", ID: "getPolicy", Tag: "policies", Roles: anyRole, Scope: readScope,
			Summary: "One saved policy version", PathParams: versionParam,
			Status: http.StatusOK, Response: typeOf[tenant.PolicyVersion](),
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.getPolicy }},
		{Method: http.MethodPost, Path: "/tenants/:id/policies/:version/dry-run", ID: "dryRunPolicy", Tag: "policies", Roles: managers, Scope: manageScope,
			Summary: "Who would gain or lose which permissions under a saved version; changes nothing", PathParams: versionParam,
			Status: http.StatusOK, Response: typeOf[scimworker.DryRun](),
			Refusals: []int{403, 404, 422}, serve: func(s *server) fiber.Handler { return s.dryRunPolicy }},
		{Method: http.MethodPost, Path: "/tenants/:id/policies/:version/activate", ID: "activatePolicy", Tag: "policies", Roles: managers, Scope: manageScope,
			Summary: "Put a saved version in force and recompute every user's permissions",
			Description: "Rollback is activating an older version. If an activation fails half-way, activating the same version again completes it. " +
				"The worker starts if none runs for the tenant.",
			PathParams: versionParam, Status: http.StatusOK, Response: typeOf[scimworker.Activation](),
			Refusals: []int{403, 404, 422}, serve: func(s *server) fiber.Handler { return s.activatePolicy }},

		{Method: http.MethodDelete, Path: "/tenants/:id/tokens/:token", ID: "revokeToken", Tag: "tokens", Roles: managers, Scope: manageScope,
			Summary: "Revoke a SCIM token", PathParams: with(tenantParam, "token", "Token id (`tok_...`)."), Status: http.StatusNoContent,
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.revokeToken }},
		{Method: http.MethodPost, Path: "/api-keys", ID: "createAPIKey", Tag: "api-keys", Roles: operatorOnly,
			Summary:     "Issue an admin API key",
			Description: "The answer shows the key once. tenant_admin keys need a `tenant_id`; support keys are scoped to one tenant or, without one, read every tenant; operator keys have no scope.",
			Body:        typeOf[tenant.CreateAPIKeyParams](), Status: http.StatusCreated, Response: typeOf[tenant.CreatedAPIKey](),
			Refusals: []int{403, 404, 409}, serve: func(s *server) fiber.Handler { return s.createAPIKey }},
		{Method: http.MethodGet, Path: "/api-keys", ID: "listAPIKeys", Tag: "api-keys", Roles: operatorOnly,
			Summary: "List admin API keys (never their secrets)", Status: http.StatusOK, Response: typeOf[APIKeyList](),
			Refusals: []int{403}, serve: func(s *server) fiber.Handler { return s.listAPIKeys }},
		{Method: http.MethodDelete, Path: "/api-keys/:id", ID: "revokeAPIKey", Tag: "api-keys", Roles: operatorOnly,
			Summary: "Revoke an admin API key", PathParams: map[string]string{"id": "API key id (`key_...`)."}, Status: http.StatusNoContent,
			Refusals: []int{403, 404}, serve: func(s *server) fiber.Handler { return s.revokeAPIKey }},
		{Method: http.MethodGet, Path: "/audit", ID: "listAudit", Tag: "audit", Roles: anyRole,
			Summary:     "The newest admin writes (and support keys' reads of tenant data)",
			Description: "Operators and unscoped support keys may list every tenant's; scoped keys must name their own tenant.",
			Query:       typeOf[AuditQuery](), Status: http.StatusOK, Response: typeOf[AuditList](),
			Refusals: []int{403}, serve: func(s *server) fiber.Handler { return s.listAudit }},
		{Method: http.MethodGet, Path: "/workers", ID: "listWorkers", Tag: "operations", Roles: operatorOnly,
			Summary: "The worker processes running on this replica", Status: http.StatusOK, Response: typeOf[WorkerList](),
			Refusals: []int{403}, serve: func(s *server) fiber.Handler { return s.listWorkers }},
		{Method: http.MethodDelete, Path: "/console-session", ID: "endConsoleSession", Tag: "console", Roles: anyRole,
			Summary:     "Sign a console session out on every replica",
			Description: "The console calls it on sign-out: from then on requests carrying the session's id are refused, even with a valid key.",
			Headers:     map[string]string{ConsoleSessionHeader: "The console session to end."},
			Body:        typeOf[ConsoleSignOut](), Status: http.StatusNoContent,
			serve: func(s *server) fiber.Handler { return s.endConsoleSession }},
	}, append(extensionRoutes(), webhookRoutes()...)...)
}

// dataQuery is a GET route serving one tenant-data operation: its request
// is read from the query string, then completed from the path by more.
func dataQuery[Req, Rep any](path, id, tag string, op func(*tenant.Service, context.Context, tenant.Principal, string, *Req) (*Rep, error),
	more func(*server, *fiber.Ctx, *Req) error, r Route) Route {
	r.Method, r.Path, r.ID, r.Tag = http.MethodGet, path, id, tag
	r.Roles, r.Scope = anyRole, readScope
	r.Query, r.Status, r.Response = typeOf[Req](), http.StatusOK, typeOf[Rep]()
	r.Refusals = []int{403, 404}
	r.serve = func(s *server) fiber.Handler { return tenantOp(s, op, more) }
	return r
}

// dataBody is a route serving one tenant-data operation that writes: its
// request is the JSON body.
func dataBody[Req, Rep any](method, path, id, tag string, op func(*tenant.Service, context.Context, tenant.Principal, string, *Req) (*Rep, error),
	r Route) Route {
	r.Method, r.Path, r.ID, r.Tag = method, path, id, tag
	r.Roles, r.Scope = managers, manageScope
	r.Body, r.Status, r.Response = typeOf[Req](), http.StatusOK, typeOf[Rep]()
	r.Refusals = []int{403, 404}
	r.serve = func(s *server) fiber.Handler {
		return tenantOp(s, op, func(s *server, c *fiber.Ctx, r *Req) error { return s.decode(c, r) })
	}
	return r
}
