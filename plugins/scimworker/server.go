package scimworker

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-plugin"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

// server is the worker's side of the gRPC boundary.
type server struct {
	workerv1.UnimplementedWorkerServer
	impl   Worker
	broker *plugin.GRPCBroker
}

func (s *server) Prepare(ctx context.Context, in *workerv1.PrepareRequest) (*workerv1.PrepareReply, error) {
	conn, err := s.broker.Dial(in.GetHostBrokerId())
	if err != nil {
		return nil, fmt.Errorf("dial host: %w", err)
	}
	host := &hostClient{rpc: workerv1.NewHostClient(conn)}
	p := &Prepare{DatabaseURL: in.GetDatabaseUrl(), User: in.GetUser(), Password: in.GetPassword(), MaxConns: int(in.GetMaxConns())}
	if err := s.impl.Prepare(ctx, p, host); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &workerv1.PrepareReply{}, nil
}

func (s *server) Bind(ctx context.Context, in *workerv1.BindRequest) (*workerv1.BindReply, error) {
	b, err := s.impl.Bind(ctx, &Binding{TenantID: in.GetTenantId(), BaseURL: in.GetBaseUrl(), MaxBodyBytes: in.GetMaxBodyBytes(),
		WebhookKey: in.GetWebhookKey(), WebhookAllowPrivate: in.GetWebhookAllowPrivate()})
	if err != nil {
		return nil, err
	}
	return &workerv1.BindReply{PolicyVersion: b.PolicyVersion}, nil
}

func (s *server) Handle(ctx context.Context, in *workerv1.Exchange) (*workerv1.Reply, error) {
	reply, err := s.impl.Handle(ctx, &Exchange{
		RequestID:   in.GetRequestId(),
		Method:      in.GetMethod(),
		Path:        in.GetPath(),
		RawQuery:    in.GetRawQuery(),
		ContentType: in.GetContentType(),
		IfMatch:     in.GetIfMatch(),
		IfNoneMatch: in.GetIfNoneMatch(),
		Body:        in.GetBody(),
	})
	if err != nil {
		return nil, err
	}
	return &workerv1.Reply{
		Status:            int32(reply.Status),
		Body:              reply.Body,
		Location:          reply.Location,
		Etag:              reply.ETag,
		RetryAfterSeconds: int32(reply.RetryAfter.Seconds()),
	}, nil
}

func (s *server) Health(ctx context.Context, _ *workerv1.HealthRequest) (*workerv1.HealthReply, error) {
	h, err := s.impl.Health(ctx)
	if err != nil {
		return nil, err
	}
	return &workerv1.HealthReply{TenantId: h.TenantID, StartedUnixMs: h.StartedUnixMS, OpenConns: int32(h.OpenConns)}, nil
}

func (s *server) Shed(ctx context.Context, in *workerv1.ShedRequest) (*workerv1.ShedReply, error) {
	if err := s.impl.Shed(ctx, int(in.GetConns())); err != nil {
		return nil, err
	}
	return &workerv1.ShedReply{}, nil
}

// hostClient is the worker's handle on the control plane's Host.
type hostClient struct {
	rpc workerv1.HostClient
}

func (h *hostClient) AcquireConn(ctx context.Context, wait bool) error {
	_, err := h.rpc.AcquireConn(ctx, &workerv1.AcquireConnRequest{Wait: wait})
	return err
}

func (h *hostClient) ReleaseConn(ctx context.Context) error {
	_, err := h.rpc.ReleaseConn(ctx, &workerv1.ReleaseConnRequest{})
	return err
}

func (h *hostClient) ScheduleWake(ctx context.Context, at time.Time) error {
	var ms int64
	if !at.IsZero() {
		ms = at.UnixMilli()
	}
	_, err := h.rpc.ScheduleWake(ctx, &workerv1.ScheduleWakeRequest{UnixMs: ms})
	return err
}
