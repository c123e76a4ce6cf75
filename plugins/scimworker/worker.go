// Package scimworker is the contract between the control plane and a tenant's
// worker process: the Go interface both sides share, the go-plugin handshake
// and the gRPC adapters that carry it across the process boundary.
package scimworker

import (
	"context"
	"net/http"
)

// Worker is implemented by the worker binary and called by the control plane.
type Worker interface {
	// Handle serves one SCIM exchange. SCIM errors are Replies with a 4xx/5xx
	// status; a returned error means the worker could not answer at all.
	Handle(ctx context.Context, ex *Exchange) (*Reply, error)
	// Admin runs one admin operation with JSON arguments and a JSON answer.
	Admin(ctx context.Context, req *AdminRequest) (*AdminReply, error)
	// Health reports that the worker is up and which tenant it serves.
	Health(ctx context.Context) (*HealthReply, error)
}

// Exchange is one SCIM request, as received by the control plane.
type Exchange struct {
	RequestID string
	Method    string
	// Path is below the tenant's SCIM base, e.g. "/Users/usr_1".
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	// BaseURL is the tenant's public SCIM base, for meta.location.
	BaseURL string
}

// Reply is the worker's answer to an Exchange.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// AdminRequest is an admin operation the control plane forwards to a worker.
type AdminRequest struct {
	RequestID string
	Op        string
	Args      []byte
}

// AdminReply carries an HTTP status and a JSON body.
type AdminReply struct {
	Status int
	Body   []byte
}

// HealthReply describes a live worker.
type HealthReply struct {
	TenantID      string
	StartedUnixMS int64
}

// ForwardedHeaders are the request headers the control plane passes to a
// worker. Authorization is deliberately absent.
var ForwardedHeaders = []string{"Content-Type", "Accept", "User-Agent", "If-Match", "If-None-Match"}
