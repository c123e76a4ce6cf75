package scimworker

// Admin operations a worker serves over Worker.Admin. Arguments and answers
// are JSON documents; the control plane passes them through to and from its
// admin API without interpreting tenant data. Errors answer a 4xx status with
// {"error": "message"} (policy problems add "problems": [{file, line,
// column, message}] and "tests").
//
// Cursors are opaque strings: pass "next" back as "after" for the next page;
// an empty "next" means the last page. "limit" defaults to 50, at most 500.
const (
	// OpPolicyValidate compiles a candidate policy and runs its Rego tests.
	// args {"modules": {"name.rego": "source"}, "mapping": {...}}
	// 200 {"tests": [{package, name, outcome, message, file, line}]}; 422 when
	// it does not compile or a test fails.
	OpPolicyValidate = "policy.validate"
	// OpPolicyDryRun evaluates a candidate over every user without changing
	// anything. args as validate. 200 {"users": n, "changed": n, "changes":
	// [{"user_id", "user_name", "gained": [...], "lost": [...]}], "errors": [...]}
	OpPolicyDryRun = "policy.dryrun"
	// OpPolicyActivate makes a version the worker's policy and recomputes
	// every user's effective permissions in batches.
	// args {"version": n, "modules", "mapping"}; 200 {"version", "users", "errors"}
	OpPolicyActivate = "policy.activate"
	// OpPolicyActive describes the policy in force. 200 {"version" (0: the
	// built-in default), "activated_at", "modules", "mapping"}
	OpPolicyActive = "policy.active"
	// OpGroupsList is the groups page. args {"after", "limit", "q"}
	// 200 {"groups": [{"id", "displayName", "externalId", "members",
	// "sets", "permissions"}], "next"}
	OpGroupsList = "groups.list"
	// OpGroupMembers lists a group's members. args {"id", "after", "limit"}
	// 200 {"members": [{"id", "userName", "displayName", "active"}], "next"}
	OpGroupMembers = "group.members"
	// OpUsersList lists users with effective permissions.
	// args {"after", "limit", "q"}; 200 {"users": [{"id", "userName",
	// "displayName", "active", "permissions", "sets"}], "next"}
	OpUsersList = "users.list"
	// OpUserGet is one user with groups, permissions and grants. args {"id"}
	OpUserGet = "user.get"
	// OpUserExplain says why a user has (or lacks) a permission.
	// args {"id", "permission"}; 200 {"permission", "granted", "grants", "reasons"}
	OpUserExplain = "user.explain"
	// OpChanges is the change feed for the customer's application: membership
	// and permission changes in commit order. args {"after", "limit"}
	// 200 {"changes": [{"seq", "at", "kind", "user_id", "group_id", "detail"}], "next"}
	OpChanges = "changes"
	// OpLogQuery searches the SCIM log, newest first. args {"from", "to"
	// (RFC 3339), "status" ("409" or "4xx"), "method", "resource_type",
	// "resource_id", "user" (id, userName or externalId), "request_id", "q"
	// (text in the summary), "after", "limit"}; 200 {"entries": [...], "next"}
	// without bodies.
	OpLogQuery = "log.query"
	// OpLogGet is one log entry with its bodies. args {"id"}
	OpLogGet = "log.get"
	// OpLogHealth summarises the log: last hour and day, last success, top
	// errors and a warning when failures approach Entra's quarantine rules.
	OpLogHealth = "log.health"
	// OpLogRetention drops log data older than "days" (default 30).
	OpLogRetention = "log.retention"
)
