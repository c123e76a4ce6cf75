package scimworker

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// Admin is a bound worker's admin surface: one typed method per operation
// on the tenant's data. The control plane calls them for its admin API; the
// console and the log CLI decode that API's answers into the same types,
// which are therefore the API's documented shapes (their JSON tags) and its
// query parameters (their query tags).
//
// A refusal (bad argument, unknown id, a policy that does not compile) is an
// *Error, which crosses the plugin boundary as data. Any other error means
// the worker could not answer.
//
// Lists are paged with opaque cursors: pass a page's Next back as After for
// the next page; an empty Next means the last page. Limit defaults to 50
// and is at most 500 (1,000 for the SCIM log).
type Admin interface {
	// ListGroups is the groups page: each group with its member count and
	// the permission sets the policy maps it to.
	ListGroups(ctx context.Context, req *GroupsRequest) (*GroupsPage, error)
	// GroupMembers lists one group's members.
	GroupMembers(ctx context.Context, req *GroupMembersRequest) (*GroupMembersPage, error)
	// ListUsers lists users with their effective permissions.
	ListUsers(ctx context.Context, req *UsersRequest) (*UsersPage, error)
	// GetUser is one user with its groups, permissions and grants.
	GetUser(ctx context.Context, req *UserRequest) (*UserDetail, error)
	// ExplainUser says why a user has, or lacks, one permission.
	ExplainUser(ctx context.Context, req *ExplainRequest) (*Explanation, error)
	// Changes is the change feed for the customer's application: user,
	// group, membership and permission changes in commit order.
	Changes(ctx context.Context, req *ChangesRequest) (*ChangesPage, error)

	// QueryLog searches the SCIM log, newest first, without bodies.
	QueryLog(ctx context.Context, req *LogQuery) (*LogPage, error)
	// GetLogEntry is one SCIM log entry with its bodies.
	GetLogEntry(ctx context.Context, req *LogEntryRequest) (*LogEntry, error)
	// LogHealth summarises the last hour and day of the SCIM log.
	LogHealth(ctx context.Context, req *LogHealthRequest) (*LogHealth, error)
	// SetLogRetention sets how long the SCIM log is kept and drops what is
	// older.
	SetLogRetention(ctx context.Context, req *LogRetentionRequest) (*LogRetention, error)
	// ExportLog writes every entry QueryLog would list (up to
	// MaxExportRows) to w, as NDJSON or CSV. An *Error returned before
	// anything was written refuses the export.
	ExportLog(ctx context.Context, req *LogExportRequest, w io.Writer) error

	// ValidatePolicy compiles a candidate policy and runs its Rego tests;
	// a policy that does not compile, or whose tests fail, is an *Error
	// with status 422 and the problems or tests.
	ValidatePolicy(ctx context.Context, req *ValidatePolicyRequest) (*PolicyCheck, error)
	// DryRunPolicy validates a candidate, then evaluates it over every user
	// and reports who would gain and lose what, changing nothing.
	DryRunPolicy(ctx context.Context, req *DryRunRequest) (*DryRun, error)
	// ActivatePolicy validates a version, puts it in force and recomputes
	// every user's permissions. Activating the version in force again
	// finishes an activation that was interrupted.
	ActivatePolicy(ctx context.Context, req *ActivateRequest) (*Activation, error)
	// ActivePolicy describes the policy in force.
	ActivePolicy(ctx context.Context, req *ActivePolicyRequest) (*ActivePolicy, error)

	// Extensions lists the tenant's declared extension schemas.
	Extensions(ctx context.Context, req *ExtensionsRequest) (*Extensions, error)
	// DeclareExtensionAttribute declares an attribute of an extension
	// schema (creating the schema with its first attribute); SCIM requests
	// that start after it returns read, store, filter and advertise it.
	DeclareExtensionAttribute(ctx context.Context, req *ExtensionAttribute) (*Extensions, error)
	// RemoveExtensionAttribute removes a declared attribute (and its schema
	// with its last attribute); refused with 409 while any resource holds
	// a value of it.
	RemoveExtensionAttribute(ctx context.Context, req *RemoveExtensionAttributeRequest) (*Extensions, error)

	// CreateWebhook subscribes an endpoint to events; the reply carries
	// its signing secret, which is never shown again.
	CreateWebhook(ctx context.Context, req *WebhookCreate) (*WebhookCreated, error)
	// ListWebhooks lists the tenant's webhooks, oldest first.
	ListWebhooks(ctx context.Context, req *WebhooksRequest) (*WebhookList, error)
	// GetWebhook is one webhook.
	GetWebhook(ctx context.Context, req *WebhookRequest) (*Webhook, error)
	// UpdateWebhook changes a webhook's URL, events or enabled state;
	// enabling one clears its disabled reason and makes its pending
	// deliveries due at once.
	UpdateWebhook(ctx context.Context, req *WebhookUpdate) (*Webhook, error)
	// DeleteWebhook deletes a webhook and its deliveries.
	DeleteWebhook(ctx context.Context, req *WebhookRequest) (*WebhookDeleted, error)
	// RotateWebhookSecret replaces a webhook's secret; the old one stops
	// signing at once.
	RotateWebhookSecret(ctx context.Context, req *WebhookRequest) (*WebhookCreated, error)
	// TestWebhook queues a webhook.test event for one webhook.
	TestWebhook(ctx context.Context, req *WebhookRequest) (*Delivery, error)
	// ListDeliveries lists a webhook's deliveries, newest first.
	ListDeliveries(ctx context.Context, req *DeliveriesRequest) (*DeliveriesPage, error)
	// ReplayDelivery queues a delivery's message again (same webhook-id
	// and body) as a new delivery.
	ReplayDelivery(ctx context.Context, req *DeliveryRequest) (*Delivery, error)
}

// Error is an admin operation's refusal: the HTTP status the admin API
// answers with and a message safe to show, with a policy's problems and
// test results when it concerns one.
type Error struct {
	Status   int             `json:"-"`
	Message  string          `json:"error"`
	Problems []PolicyProblem `json:"problems,omitempty"`
	Tests    []PolicyTest    `json:"tests,omitempty"`
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Message }

// BadRequest is a 400 refusal.
func BadRequest(msg string) *Error { return &Error{Status: 400, Message: msg} }

// NotFound is a 404 refusal.
func NotFound(msg string) *Error { return &Error{Status: 404, Message: msg} }

// requestIDKey carries the admin request's id on a context.
type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id that admin calls made
// with it pass to the worker, for the worker's log.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id WithRequestID put on ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// GroupRef is a group a user is a member of.
type GroupRef struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId,omitempty"`
	DisplayName string `json:"displayName"`
}

// Grant records that a policy rule gave a permission through a permission
// set and a group.
type Grant struct {
	Permission string `json:"permission"`
	Set        string `json:"set"`
	Group      string `json:"group"` // group id
	Rule       string `json:"rule"`
}

// GroupsRequest asks for a page of groups, ordered by display name.
type GroupsRequest struct {
	// Q keeps the groups whose display name contains it, in any case.
	Q     string `json:"q,omitempty" query:"q"`
	After string `json:"after,omitempty" query:"after"`
	Limit int    `json:"limit,omitempty" query:"limit"`
}

// GroupsPage is a page of groups.
type GroupsPage struct {
	Groups []GroupRow `json:"groups"`
	Next   string     `json:"next"`
}

// GroupRow is a group with its member count and what the policy in force
// gives an active member with no other group (attribute conditions may
// narrow that per user). Sets and Permissions are absent when the policy
// failed for the group (Error) or none is loaded.
type GroupRow struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	ExternalID  string   `json:"externalId"`
	Members     int64    `json:"members"`
	Sets        []string `json:"sets,omitzero"`
	Permissions []string `json:"permissions,omitzero"`
	Error       string   `json:"error,omitempty"`
}

// GroupMembersRequest asks for a page of one group's members, in creation
// order.
type GroupMembersRequest struct {
	ID    string `json:"id"`
	After string `json:"after,omitempty" query:"after"`
	Limit int    `json:"limit,omitempty" query:"limit"`
}

// GroupMembersPage is the group and a page of its members.
type GroupMembersPage struct {
	Group   GroupRow  `json:"group"`
	Members []UserRow `json:"members"`
	Next    string    `json:"next"`
}

// UsersRequest asks for a page of users, in creation order.
type UsersRequest struct {
	// Q keeps the users whose userName or displayName starts with it, in
	// any case.
	Q     string `json:"q,omitempty" query:"q"`
	After string `json:"after,omitempty" query:"after"`
	Limit int    `json:"limit,omitempty" query:"limit"`
}

// UsersPage is a page of users.
type UsersPage struct {
	Users []UserRow `json:"users"`
	Next  string    `json:"next"`
}

// UserRow is a user with its effective permissions. Error is set when the
// policy failed for the user, who is then granted nothing.
type UserRow struct {
	ID          string   `json:"id"`
	UserName    string   `json:"userName"`
	DisplayName string   `json:"displayName,omitempty"`
	Active      bool     `json:"active"`
	Permissions []string `json:"permissions"`
	Sets        []string `json:"sets"`
	Error       string   `json:"error,omitempty"`
}

// UserRequest names one user.
type UserRequest struct {
	ID string `json:"id"`
}

// UserDetail is a user as the policy sees it, with its groups and stored
// permissions.
type UserDetail struct {
	// User is the SCIM user (its attributes plus id), passed on unparsed.
	User        json.RawMessage `json:"user"`
	Groups      []GroupRef      `json:"groups"`
	Permissions []string        `json:"permissions"`
	Sets        []string        `json:"sets"`
	Grants      []Grant         `json:"grants"`
	// Error is why the policy failed for the user, if it did.
	Error string `json:"error"`
	// PolicyVersion is the version the permissions were computed under.
	PolicyVersion int64 `json:"policy_version"`
}

// ExplainRequest asks why a user has, or lacks, a permission.
type ExplainRequest struct {
	ID         string `json:"id"`
	Permission string `json:"permission" query:"permission"`
}

// Explanation says whether a user has a permission and why: the grants
// that give it, or the reasons nothing does.
type Explanation struct {
	Permission    string   `json:"permission"`
	Granted       bool     `json:"granted"`
	Grants        []Grant  `json:"grants"`
	Reasons       []string `json:"reasons"`
	PolicyVersion int64    `json:"policy_version"`
}

// ChangesRequest asks for the changes after a cursor.
type ChangesRequest struct {
	After string `json:"after,omitempty" query:"after"`
	Limit int    `json:"limit,omitempty" query:"limit"`
}

// ChangesPage is a page of the change feed. Next is the cursor to poll
// from; it equals the request's After when nothing new committed.
type ChangesPage struct {
	Changes []Change `json:"changes"`
	Next    string   `json:"next"`
}

// Change is one change feed entry.
type Change struct {
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Kind is user_created, user_updated, user_deactivated, user_deleted,
	// group_created, group_updated, group_deleted, member_added,
	// member_removed or permissions_changed (docs/webhooks.md shows each
	// kind's detail).
	Kind    string          `json:"kind"`
	UserID  string          `json:"user_id,omitempty"`
	GroupID string          `json:"group_id,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// LogQuery selects SCIM log entries; empty fields do not filter.
type LogQuery struct {
	// From and To bound the time (RFC 3339), To exclusive.
	From string `json:"from,omitempty" query:"from"`
	To   string `json:"to,omitempty" query:"to"`
	// Status is a code ("409") or a class ("4xx").
	Status       string `json:"status,omitempty" query:"status"`
	Method       string `json:"method,omitempty" query:"method"`
	ResourceType string `json:"resource_type,omitempty" query:"resource_type"`
	ResourceID   string `json:"resource_id,omitempty" query:"resource_id"`
	// User is a user's id, userName (any case) or externalId.
	User      string `json:"user,omitempty" query:"user"`
	RequestID string `json:"request_id,omitempty" query:"request_id"`
	// Q is text in the summary or the error detail.
	Q     string `json:"q,omitempty" query:"q"`
	After string `json:"after,omitempty" query:"after"`
	Limit int    `json:"limit,omitempty" query:"limit"`
}

// LogPage is a page of the SCIM log, newest first.
type LogPage struct {
	Entries []LogEntry `json:"entries"`
	Next    string     `json:"next"`
}

// LogEntry is one SCIM exchange as the worker recorded it. Bodies (with
// secrets redacted) are only set by GetLogEntry.
type LogEntry struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	RequestID    string    `json:"request_id"`
	Method       string    `json:"method"`
	Path         string    `json:"path"`
	Query        string    `json:"query,omitempty"`
	Filter       string    `json:"filter,omitempty"`
	ResourceType string    `json:"resource_type,omitempty"`
	ResourceID   string    `json:"resource_id,omitempty"`
	ExternalID   string    `json:"external_id,omitempty"`
	UserName     string    `json:"user_name,omitempty"`
	DisplayName  string    `json:"display_name,omitempty"`
	Summary      string    `json:"summary,omitempty"`
	Status       int       `json:"status"`
	ScimType     string    `json:"scim_type,omitempty"`
	Detail       string    `json:"detail,omitempty"`
	LatencyUS    int64     `json:"latency_us"`
	RequestBody  *string   `json:"request_body,omitempty"`
	ResponseBody *string   `json:"response_body,omitempty"`
}

// LogEntryRequest names one log entry.
type LogEntryRequest struct {
	ID int64 `json:"id"`
}

// LogHealthRequest asks for the log's health; it has no arguments yet.
type LogHealthRequest struct{}

// LogHealth summarises the log: the last hour and day, the last success,
// the most frequent errors of the day, and a warning when failures
// approach the rates at which Entra quarantines a provisioning job.
type LogHealth struct {
	LastHour          LogWindow    `json:"last_hour"`
	LastDay           LogWindow    `json:"last_day"`
	LastSuccess       *time.Time   `json:"last_success"`
	TopErrors         []ErrorCount `json:"top_errors"`
	QuarantineWarning string       `json:"quarantine_warning,omitempty"`
}

// LogWindow counts requests and failures (status 400 and up) in a window.
type LogWindow struct {
	Requests    int64   `json:"requests"`
	Failures    int64   `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
}

// ErrorCount is one of the most frequent errors.
type ErrorCount struct {
	Status   int    `json:"status"`
	ScimType string `json:"scim_type,omitempty"`
	Detail   string `json:"detail"`
	Count    int64  `json:"count"`
}

// LogRetentionRequest sets the log's retention in days (1 to 3650); 0
// keeps the current one and only drops what has expired.
type LogRetentionRequest struct {
	Days int `json:"days"`
}

// LogRetention is the retention in force and the partitions dropped.
type LogRetention struct {
	Days    int      `json:"days"`
	Dropped []string `json:"dropped"`
}

// Log export formats.
const (
	FormatNDJSON = "ndjson"
	FormatCSV    = "csv"
)

// MaxExportRows bounds one export.
const MaxExportRows = 100_000

// LogExportRequest exports the entries a query selects (its After and
// Limit are ignored), newest first, as NDJSON (one LogEntry per line) or
// CSV (a header line of LogCSVColumns, then one row per entry).
type LogExportRequest struct {
	LogQuery
	Format string `json:"format" query:"format"`
}

// LogCSVColumns are the columns of a CSV export: LogEntry's JSON names,
// without the bodies.
var LogCSVColumns = []string{"id", "at", "request_id", "method", "path", "query", "status", "scim_type", "detail",
	"resource_type", "resource_id", "external_id", "user_name", "display_name", "filter", "latency_us"}

// CSVRecord is e's row of a CSV export, in LogCSVColumns order.
func (e *LogEntry) CSVRecord() []string {
	return []string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339Nano), e.RequestID, e.Method, e.Path, e.Query,
		strconv.Itoa(e.Status), e.ScimType, e.Detail, e.ResourceType, e.ResourceID, e.ExternalID, e.UserName,
		e.DisplayName, e.Filter, strconv.FormatInt(e.LatencyUS, 10)}
}

// PolicyBundle is a version of a tenant's permission policy: Rego modules
// by file name (*_test.rego are its tests) and the mapping document the
// policy reads as data.mapping.
type PolicyBundle struct {
	Modules map[string]string `json:"modules"`
	Mapping json.RawMessage   `json:"mapping"`
}

// ValidatePolicyRequest is a candidate policy to validate.
type ValidatePolicyRequest struct {
	PolicyBundle
}

// PolicyCheck is a policy that compiles and passes its tests.
type PolicyCheck struct {
	Tests []PolicyTest `json:"tests"`
}

// PolicyProblem is one reason a policy does not compile, located for its
// author. Line is 0 when the problem concerns the whole file.
type PolicyProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// Policy test outcomes.
const (
	TestPass  = "pass"
	TestFail  = "fail"
	TestError = "error"
	TestSkip  = "skip"
)

// PolicyTest is one Rego test's result.
type PolicyTest struct {
	Package string `json:"package"` // e.g. data.scimplane.permissions_test
	Name    string `json:"name"`    // e.g. test_viewer
	Outcome string `json:"outcome"` // TestPass, TestFail, TestError or TestSkip
	// Message is the error for TestError, and anything the test printed.
	Message string `json:"message"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// DryRunRequest is a candidate policy to evaluate over every user.
type DryRunRequest struct {
	PolicyBundle
}

// DryRun is what a candidate policy would change. Changes and Errors list
// at most 1,000 users each.
type DryRun struct {
	Users   int            `json:"users"`
	Changed int            `json:"changed"`
	Changes []DryRunChange `json:"changes"`
	Errors  []DryRunError  `json:"errors"`
}

// DryRunChange is one user whose permissions would change.
type DryRunChange struct {
	UserID   string   `json:"user_id"`
	UserName string   `json:"user_name"`
	Gained   []string `json:"gained"`
	Lost     []string `json:"lost"`
}

// DryRunError is a user for whom the candidate fails.
type DryRunError struct {
	UserID string `json:"user_id"`
	Error  string `json:"error"`
}

// ActivateRequest is a saved policy version to put in force.
type ActivateRequest struct {
	Version int64 `json:"version"`
	PolicyBundle
}

// Activation reports an activated version and the users recomputed.
type Activation struct {
	Version int64 `json:"version"`
	Users   int   `json:"users"`
	TookMS  int64 `json:"took_ms"`
}

// ActivePolicyRequest asks for the policy in force; it has no arguments.
type ActivePolicyRequest struct{}

// ActivePolicy is the policy in force. Version 0 is the built-in default,
// which has no ActivatedAt.
type ActivePolicy struct {
	Version     int64      `json:"version"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	// State says whether Version is in force: "loading" (the worker
	// compiles it in the background; writes that need a permission
	// decision answer 503 until it is in force), "active", or "failed"
	// (it does not compile: Error says why; EnforcedVersion is in force
	// instead, 0 for the built-in policy).
	State           string `json:"state"`
	Error           string `json:"error,omitempty"`
	EnforcedVersion int64  `json:"enforced_version"`
	PolicyBundle
}

// Webhook event types. A webhook with no events subscribes to all of them;
// EventTest is sent only by TestWebhook.
const (
	EventUserCreated        = "user.created"
	EventUserUpdated        = "user.updated"
	EventUserDeactivated    = "user.deactivated"
	EventUserDeleted        = "user.deleted"
	EventGroupCreated       = "group.created"
	EventGroupUpdated       = "group.updated"
	EventGroupDeleted       = "group.deleted"
	EventGroupMemberAdded   = "group.member_added"
	EventGroupMemberRemoved = "group.member_removed"
	EventPermissionsChanged = "permissions.changed"
	EventTest               = "webhook.test"
)

// WebhookEvents are the event types a webhook may subscribe to.
var WebhookEvents = []string{EventUserCreated, EventUserUpdated, EventUserDeactivated, EventUserDeleted,
	EventGroupCreated, EventGroupUpdated, EventGroupDeleted, EventGroupMemberAdded, EventGroupMemberRemoved,
	EventPermissionsChanged}

// WebhookCreate subscribes an http(s) endpoint to events.
type WebhookCreate struct {
	URL string `json:"url"`
	// Events are the event types to send; empty or absent: all.
	Events []string `json:"events,omitempty"`
}

// WebhooksRequest lists the tenant's webhooks; it has no arguments.
type WebhooksRequest struct{}

// WebhookRequest names one webhook.
type WebhookRequest struct {
	ID string `json:"id"`
}

// WebhookUpdate changes the fields it sets; ID comes from the path.
type WebhookUpdate struct {
	ID      string    `json:"id,omitempty"`
	URL     *string   `json:"url,omitempty"`
	Events  *[]string `json:"events,omitempty"`
	Enabled *bool     `json:"enabled,omitempty"`
}

// Webhook is a subscription. DisabledReason says why deliveries stopped
// when the worker disabled it after persistent failure.
type Webhook struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// Pending counts deliveries not yet delivered or given up.
	Pending int64 `json:"pending"`
}

// WebhookCreated is a webhook with its signing secret (whsec_ and the
// base64 of 32 bytes), shown once.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret"`
}

// WebhookList is the tenant's webhooks.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// WebhookDeleted answers a deletion.
type WebhookDeleted struct{}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// DeliveriesRequest asks for a page of a webhook's deliveries, newest
// first.
type DeliveriesRequest struct {
	ID    string `json:"id"`
	After string `json:"after,omitempty" query:"after"`
	Limit int    `json:"limit,omitempty" query:"limit"`
}

// DeliveriesPage is a page of deliveries.
type DeliveriesPage struct {
	Deliveries []Delivery `json:"deliveries"`
	Next       string     `json:"next"`
}

// Delivery is one message to one webhook and what its last attempt got.
type Delivery struct {
	ID        int64  `json:"id"`
	WebhookID string `json:"webhook_id"`
	// MessageID is the webhook-id header, the same on every attempt.
	MessageID string    `json:"message_id"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"created_at"`
	// LastStatus is the HTTP status of the last attempt, 0 if none came.
	LastStatus    int        `json:"last_status,omitempty"`
	LastLatencyMS int64      `json:"last_latency_ms,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	// ResponseExcerpt is at most the first 1 KiB of the last response.
	ResponseExcerpt string     `json:"response_excerpt,omitempty"`
	NextAttemptAt   *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt     *time.Time `json:"delivered_at,omitempty"`
	// Payload is the body sent: {"type", "timestamp", "data"}.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// DeliveryRequest names one delivery of one webhook.
type DeliveryRequest struct {
	ID       string `json:"id"`
	Delivery int64  `json:"delivery"`
}
