// Package scimworker is the contract between the control plane and its
// worker processes: the Go interfaces and types both sides share, the
// go-plugin handshake and the gRPC adapters that carry them across the
// process boundary.
//
// The admin operations (Admin) have one RPC each in proto/v1/worker.proto,
// and their messages carry the JSON encoding of the Go types in admin.go
// rather than mirroring them field by field as proto messages. Those Go
// types are the admin API's documented shapes: the control plane answers
// with them, and the console and the log CLI decode into them. Declared as
// proto messages as well, every shape would exist twice with an adapter
// between the copies to keep in step (nested lists, maps, optional times,
// raw JSON documents such as a SCIM user or a policy mapping), for no gain:
// both binaries ship together and refuse each other's ProtocolVersion when
// the contract changes. So each shape is declared once, renaming a field is
// a compile error wherever it is read, and the wire adds one JSON encoding
// per call (small next to the database work behind every operation). The
// SCIM path (Handle) and the worker's lifecycle keep proto messages: they
// are hot or carry few fields.
//
// Outcomes travel as data: a SCIM error is a Reply with its status, an
// admin refusal an *Error. A returned error means the worker could not
// answer.
package scimworker

import (
	"context"
	"strconv"
	"time"
)

// Worker is implemented by the worker binary and called by the control plane.
//
// A worker's life: the control plane starts it ahead of need and calls
// Prepare, which opens a database connection as the worker's own login role
// (a role that can connect and nothing else) and compiles the built-in
// policy. On a tenant's first request the control plane grants that role the
// tenant's role and calls Bind; from then on the worker serves that one
// tenant until it is stopped.
type Worker interface {
	// Prepare connects to the database as p.User. The worker asks host for
	// a permit before opening each connection and returns it when the
	// connection closes.
	Prepare(ctx context.Context, p *Prepare, host Host) error
	// Bind makes the worker the tenant's. It fails if the worker is bound.
	Bind(ctx context.Context, b *Binding) (*Bound, error)
	// Handle serves one SCIM exchange. SCIM errors are Replies with a 4xx/5xx
	// status; a returned error means the worker could not answer at all.
	Handle(ctx context.Context, ex *Exchange) (*Reply, error)
	// Health reports that the worker's process answers. It does not touch the
	// database, so a hung worker is told apart from a slow database.
	Health(ctx context.Context) (*HealthReply, error)
	// Shed closes conns database connections: idle ones at once, busy ones
	// when their transaction ends.
	Shed(ctx context.Context, conns int) error
	// Admin is the typed admin surface of a bound worker.
	Admin
}

// Host is the control plane's service to its workers: the node's database
// connection budget, and wake-ups for webhook deliveries due.
type Host interface {
	// AcquireConn takes a permit to open one database connection. With
	// wait it queues until one is free; without, it fails at once when
	// none is.
	AcquireConn(ctx context.Context, wait bool) error
	// ReleaseConn returns the permit of a connection that closed.
	ReleaseConn(ctx context.Context) error
	// ScheduleWake records that the worker's tenant has webhook deliveries
	// due at at, so that a worker is bound to it then even if this one
	// was stopped as idle; a zero at cancels the wake-up.
	ScheduleWake(ctx context.Context, at time.Time) error
}

// Prepare is what a worker needs before it is bound: where the database is
// and its own login role.
type Prepare struct {
	// DatabaseURL locates the database, without credentials.
	DatabaseURL string
	User        string
	Password    string
	// MaxConns bounds the worker's database connections.
	MaxConns int
}

// Binding makes a worker a tenant's.
type Binding struct {
	// TenantID is also the name of the tenant's role and schema.
	TenantID string
	// BaseURL is the tenant's public SCIM base, for meta.location.
	BaseURL string
	// MaxBodyBytes is the largest request body the control plane forwards.
	MaxBodyBytes int64
	// WebhookKey derives the tenant's webhook signing secrets. The
	// control plane derives it from its own secret for this tenant only.
	WebhookKey []byte
	// WebhookAllowPrivate lets webhooks reach loopback, private and
	// link-local addresses.
	WebhookAllowPrivate bool
}

// Bound describes a worker after Bind.
type Bound struct {
	// PolicyVersion is the policy in force; 0 is the built-in one.
	PolicyVersion int64
}

// Exchange is one SCIM request, as received by the control plane.
type Exchange struct {
	RequestID string
	Method    string
	// Path is below the tenant's SCIM base, e.g. "/Users/2819c223".
	Path        string
	RawQuery    string
	ContentType string
	IfMatch     string
	IfNoneMatch string
	Body        []byte
}

// Reply is the worker's answer to an Exchange. Body, when not empty, is
// application/scim+json.
type Reply struct {
	Status     int
	Body       []byte
	Location   string
	ETag       string
	RetryAfter time.Duration
}

// HealthReply describes a live worker.
type HealthReply struct {
	// TenantID is empty until Bind.
	TenantID      string
	StartedUnixMS int64
	OpenConns     int
}

// WriteHeaders passes the HTTP response headers r stands for to set: the
// SCIM media type when there is a body, Location, ETag and Retry-After.
func (r *Reply) WriteHeaders(set func(name, value string)) {
	if len(r.Body) > 0 {
		set("Content-Type", MediaType)
	}
	if r.Location != "" {
		set("Location", r.Location)
	}
	if r.ETag != "" {
		set("ETag", r.ETag)
	}
	if r.RetryAfter > 0 {
		set("Retry-After", strconv.Itoa(int(r.RetryAfter.Round(time.Second)/time.Second)))
	}
}

// MediaType is the content type of SCIM bodies.
const MediaType = "application/scim+json"
