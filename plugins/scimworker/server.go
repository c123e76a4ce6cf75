package scimworker

import (
	"context"
	"net/http"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

// server is the worker's side of the gRPC boundary.
type server struct {
	workerv1.UnimplementedWorkerServer
	impl Worker
}

func (s *server) Handle(ctx context.Context, in *workerv1.Exchange) (*workerv1.Reply, error) {
	ex := &Exchange{
		RequestID: in.GetRequestId(),
		Method:    in.GetMethod(),
		Path:      in.GetPath(),
		RawQuery:  in.GetRawQuery(),
		Body:      in.GetBody(),
		BaseURL:   in.GetBaseUrl(),
		Header:    make(http.Header, len(in.GetHeaders())),
	}
	for _, h := range in.GetHeaders() {
		ex.Header.Add(h.GetName(), h.GetValue())
	}
	reply, err := s.impl.Handle(ctx, ex)
	if err != nil {
		return nil, err
	}
	out := &workerv1.Reply{Status: int32(reply.Status), Body: reply.Body}
	for name, values := range reply.Header {
		for _, v := range values {
			out.Headers = append(out.Headers, &workerv1.Header{Name: name, Value: v})
		}
	}
	return out, nil
}

func (s *server) Admin(ctx context.Context, in *workerv1.AdminRequest) (*workerv1.AdminReply, error) {
	reply, err := s.impl.Admin(ctx, &AdminRequest{RequestID: in.GetRequestId(), Op: in.GetOp(), Args: in.GetArgs()})
	if err != nil {
		return nil, err
	}
	return &workerv1.AdminReply{Status: int32(reply.Status), Body: reply.Body}, nil
}

func (s *server) Health(ctx context.Context, _ *workerv1.HealthRequest) (*workerv1.HealthReply, error) {
	h, err := s.impl.Health(ctx)
	if err != nil {
		return nil, err
	}
	return &workerv1.HealthReply{TenantId: h.TenantID, StartedUnixMs: h.StartedUnixMS}, nil
}
