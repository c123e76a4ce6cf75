package scimworker

import (
	"context"
	"fmt"
	"net/http"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

// client is the control plane's side of the gRPC boundary.
type client struct {
	rpc workerv1.WorkerClient
}

func (c *client) Handle(ctx context.Context, ex *Exchange) (*Reply, error) {
	in := &workerv1.Exchange{
		RequestId: ex.RequestID,
		Method:    ex.Method,
		Path:      ex.Path,
		RawQuery:  ex.RawQuery,
		Body:      ex.Body,
		BaseUrl:   ex.BaseURL,
	}
	for name, values := range ex.Header {
		for _, v := range values {
			in.Headers = append(in.Headers, &workerv1.Header{Name: name, Value: v})
		}
	}
	out, err := c.rpc.Handle(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("worker handle: %w", err)
	}
	reply := &Reply{Status: int(out.GetStatus()), Body: out.GetBody(), Header: make(http.Header, len(out.GetHeaders()))}
	for _, h := range out.GetHeaders() {
		reply.Header.Add(h.GetName(), h.GetValue())
	}
	return reply, nil
}

func (c *client) Admin(ctx context.Context, req *AdminRequest) (*AdminReply, error) {
	out, err := c.rpc.Admin(ctx, &workerv1.AdminRequest{RequestId: req.RequestID, Op: req.Op, Args: req.Args})
	if err != nil {
		return nil, fmt.Errorf("worker admin %s: %w", req.Op, err)
	}
	return &AdminReply{Status: int(out.GetStatus()), Body: out.GetBody()}, nil
}

func (c *client) Health(ctx context.Context) (*HealthReply, error) {
	out, err := c.rpc.Health(ctx, &workerv1.HealthRequest{})
	if err != nil {
		return nil, fmt.Errorf("worker health: %w", err)
	}
	return &HealthReply{TenantID: out.GetTenantId(), StartedUnixMS: out.GetStartedUnixMs()}, nil
}
