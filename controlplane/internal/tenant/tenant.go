// Package tenant is the control plane's domain: tenants, their SCIM tokens,
// admin API keys, policy versions and who may do what, including which
// operations on a tenant's data (served by its worker) a key may run. It
// declares the Store and Workers it needs and knows nothing of HTTP, SQL or
// worker processes; it speaks to workers in the contract's types
// (plugins/scimworker).
package tenant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// Domain errors; httpapi maps them to status codes.
var (
	ErrNotFound        = errors.New("not found")
	ErrUnauthenticated = errors.New("invalid credentials")
	ErrForbidden       = errors.New("forbidden")
	ErrDisabled        = errors.New("tenant is disabled")
	ErrConflict        = errors.New("conflict")
	// ErrUnknownTenant is an ErrUnauthenticated for a tenant id that does
	// not exist.
	ErrUnknownTenant = fmt.Errorf("%w: unknown tenant", ErrUnauthenticated)
	// ErrUnavailable wraps store errors that mean the database cannot be
	// reached (or is shutting down): the caller should retry later.
	ErrUnavailable = errors.New("database unavailable")
	// ErrWorkerUnavailable wraps failures to get an answer from a tenant's
	// worker (crashed, hung, not started): the caller should retry later.
	// A worker's refusal is a *scimworker.Error instead.
	ErrWorkerUnavailable = errors.New("tenant worker unavailable")
)

// ValidationError is a request the caller can fix; its message is safe to show.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(msg string) error { return &ValidationError{Msg: msg} }

// Status of a tenant.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Tenant is one customer. Its ID is also the name of its PostgreSQL role
// and schema.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// Token is a SCIM bearer token's metadata; the secret itself is never stored.
type Token struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// TokenHash is what authentication needs of an active token.
type TokenHash struct {
	ID        string
	Hash      []byte
	ExpiresAt *time.Time
}

// Role of an admin API key.
type Role string

const (
	// RoleOperator may do everything.
	RoleOperator Role = "operator"
	// RoleTenantAdmin manages one tenant's tokens (and, later, policies).
	RoleTenantAdmin Role = "tenant_admin"
	// RoleSupport reads one tenant, or every tenant when unscoped.
	RoleSupport Role = "support"
)

// APIKey is an admin API key's metadata.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	TenantID  string     `json:"tenant_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// AuditEntry records one admin write.
type AuditEntry struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	KeyID    string    `json:"key_id"`
	Action   string    `json:"action"`
	TenantID string    `json:"tenant_id,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// NewTenant is everything the store needs to provision a tenant in one
// transaction: the control rows, the tenant's role and its schema.
type NewTenant struct {
	Tenant    Tenant
	Token     Token
	TokenHash []byte
}

// Store persists the control plane's state. Every write also inserts its
// audit entry in the same transaction.
type Store interface {
	CreateTenant(ctx context.Context, nt NewTenant, a AuditEntry) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	SetTenantStatus(ctx context.Context, id string, s Status, a AuditEntry) error
	// DeleteTenant drops the tenant's schema and role and its control rows.
	DeleteTenant(ctx context.Context, id string, a AuditEntry) error

	// GetCredentials returns the tenant and its active tokens in one read.
	GetCredentials(ctx context.Context, tenantID string) (Tenant, []TokenHash, error)
	CreateToken(ctx context.Context, t Token, hash []byte, a AuditEntry) error
	ListTokens(ctx context.Context, tenantID string) ([]Token, error)
	RevokeToken(ctx context.Context, tenantID, tokenID string, a AuditEntry) error
	// TouchToken records a use, at most once a minute per token.
	TouchToken(ctx context.Context, tokenID string) error

	GetAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// PutBootstrapKey stores the bootstrap operator key. With replace it
	// overwrites an existing one; it reports whether it wrote.
	PutBootstrapKey(ctx context.Context, k APIKey, hash []byte, replace bool) (bool, error)
	CreateAPIKey(ctx context.Context, k APIKey, hash []byte, a AuditEntry) error
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, a AuditEntry) error

	// RecordAudit records an admin write carried out elsewhere (a worker).
	RecordAudit(ctx context.Context, a AuditEntry) error
	ListAudit(ctx context.Context, tenantID string, limit int) ([]AuditEntry, error)

	PolicyStore

	ListRejections(ctx context.Context, tenantID string, limit int) ([]Rejection, error)

	// EndConsoleSession records that the console session with this id hash
	// was signed out; the record may be forgotten after expires.
	EndConsoleSession(ctx context.Context, idHash []byte, keyID string, expires time.Time) error
	// ConsoleSessionEnded reports whether the session was signed out.
	ConsoleSessionEnded(ctx context.Context, idHash []byte) (bool, error)
}

// Workers starts, stops and calls tenants' workers.
type Workers interface {
	// Warm gives a new tenant a worker, which migrates its schema, so that
	// its first SCIM request does not wait for that.
	Warm(ctx context.Context, tenantID string) error
	// Stop stops the tenant's worker before the tenant is disabled or
	// dropped.
	Stop(tenantID string)
	// Call runs fn with the tenant's worker, binding one if none runs,
	// under a call deadline.
	Call(ctx context.Context, tenantID string, fn func(context.Context, scimworker.Worker) error) error
	// Stream is Call for a stream whose reader sets the pace: only ctx
	// bounds it.
	Stream(ctx context.Context, tenantID string, fn func(context.Context, scimworker.Worker) error) error
}
