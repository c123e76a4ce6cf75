package scimworker

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

var _ Worker = (*client)(nil)

// client is the control plane's side of the gRPC boundary.
type client struct {
	rpc    workerv1.WorkerClient
	broker *plugin.GRPCBroker
}

func (c *client) Prepare(ctx context.Context, p *Prepare, host Host) error {
	// The worker calls host back over a connection of the plugin's broker.
	id := c.broker.NextId()
	go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		workerv1.RegisterHostServer(s, &hostServer{impl: host})
		return s
	})
	_, err := c.rpc.Prepare(ctx, &workerv1.PrepareRequest{
		DatabaseUrl:  p.DatabaseURL,
		User:         p.User,
		Password:     p.Password,
		HostBrokerId: id,
		MaxConns:     int32(p.MaxConns),
	})
	if err != nil {
		return fmt.Errorf("worker prepare: %w", err)
	}
	return nil
}

func (c *client) Bind(ctx context.Context, b *Binding) (*Bound, error) {
	out, err := c.rpc.Bind(ctx, &workerv1.BindRequest{TenantId: b.TenantID, BaseUrl: b.BaseURL, MaxBodyBytes: b.MaxBodyBytes,
		WebhookKey: b.WebhookKey, WebhookAllowPrivate: b.WebhookAllowPrivate})
	if err != nil {
		return nil, fmt.Errorf("worker bind: %w", err)
	}
	return &Bound{PolicyVersion: out.GetPolicyVersion()}, nil
}

func (c *client) Handle(ctx context.Context, ex *Exchange) (*Reply, error) {
	out, err := c.rpc.Handle(ctx, &workerv1.Exchange{
		RequestId:   ex.RequestID,
		Method:      ex.Method,
		Path:        ex.Path,
		RawQuery:    ex.RawQuery,
		ContentType: ex.ContentType,
		IfMatch:     ex.IfMatch,
		IfNoneMatch: ex.IfNoneMatch,
		Body:        ex.Body,
	})
	if err != nil {
		return nil, fmt.Errorf("worker handle: %w", err)
	}
	return &Reply{
		Status:     int(out.GetStatus()),
		Body:       out.GetBody(),
		Location:   out.GetLocation(),
		ETag:       out.GetEtag(),
		RetryAfter: time.Duration(out.GetRetryAfterSeconds()) * time.Second,
	}, nil
}

func (c *client) Health(ctx context.Context) (*HealthReply, error) {
	out, err := c.rpc.Health(ctx, &workerv1.HealthRequest{})
	if err != nil {
		return nil, fmt.Errorf("worker health: %w", err)
	}
	return &HealthReply{TenantID: out.GetTenantId(), StartedUnixMS: out.GetStartedUnixMs(), OpenConns: int(out.GetOpenConns())}, nil
}

func (c *client) Shed(ctx context.Context, conns int) error {
	if _, err := c.rpc.Shed(ctx, &workerv1.ShedRequest{Conns: int32(conns)}); err != nil {
		return fmt.Errorf("worker shed: %w", err)
	}
	return nil
}

// hostServer serves a Host to one worker.
type hostServer struct {
	workerv1.UnimplementedHostServer
	impl Host
}

func (s *hostServer) AcquireConn(ctx context.Context, in *workerv1.AcquireConnRequest) (*workerv1.AcquireConnReply, error) {
	if err := s.impl.AcquireConn(ctx, in.GetWait()); err != nil {
		return nil, err
	}
	return &workerv1.AcquireConnReply{}, nil
}

func (s *hostServer) ReleaseConn(ctx context.Context, _ *workerv1.ReleaseConnRequest) (*workerv1.ReleaseConnReply, error) {
	if err := s.impl.ReleaseConn(ctx); err != nil {
		return nil, err
	}
	return &workerv1.ReleaseConnReply{}, nil
}

func (s *hostServer) ScheduleWake(ctx context.Context, in *workerv1.ScheduleWakeRequest) (*workerv1.ScheduleWakeReply, error) {
	var at time.Time
	if ms := in.GetUnixMs(); ms > 0 {
		at = time.UnixMilli(ms)
	}
	if err := s.impl.ScheduleWake(ctx, at); err != nil {
		return nil, err
	}
	return &workerv1.ScheduleWakeReply{}, nil
}
