package scimworker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

// The admin RPCs carry the JSON encoding of the Go types in admin.go: call
// is the client half of each, serve the server half; ExportLog streams.

// adminRPC is a generated client method of an admin RPC.
type adminRPC func(context.Context, *workerv1.AdminCall, ...grpc.CallOption) (*workerv1.AdminResult, error)

// call sends req over rpc and decodes the reply into a new Rep; a refusal
// is returned as an *Error.
func call[Rep, Req any](ctx context.Context, rpc adminRPC, name string, req *Req) (*Rep, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("worker %s: encode request: %w", name, err)
	}
	out, err := rpc(ctx, &workerv1.AdminCall{RequestId: RequestID(ctx), Request: in})
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", name, err)
	}
	if e := out.GetError(); e != nil {
		return nil, decodeError(e)
	}
	rep := new(Rep)
	if err := json.Unmarshal(out.GetReply(), rep); err != nil {
		return nil, fmt.Errorf("worker %s: decode reply: %w", name, err)
	}
	return rep, nil
}

// serve decodes an admin call, runs op and encodes its reply, or its
// refusal as data. Other errors become gRPC errors.
func serve[Req, Rep any](ctx context.Context, in *workerv1.AdminCall, op func(context.Context, *Req) (*Rep, error)) (*workerv1.AdminResult, error) {
	req := new(Req)
	if err := json.Unmarshal(in.GetRequest(), req); err != nil {
		return &workerv1.AdminResult{Outcome: &workerv1.AdminResult_Error{Error: encodeError(BadRequest("undecodable request: " + err.Error()))}}, nil
	}
	rep, err := op(WithRequestID(ctx, in.GetRequestId()), req)
	var refused *Error
	switch {
	case errors.As(err, &refused):
		return &workerv1.AdminResult{Outcome: &workerv1.AdminResult_Error{Error: encodeError(refused)}}, nil
	case err != nil:
		return nil, err
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("encode reply: %w", err)
	}
	return &workerv1.AdminResult{Outcome: &workerv1.AdminResult_Reply{Reply: body}}, nil
}

func encodeError(e *Error) *workerv1.AdminError {
	body, _ := json.Marshal(e) // strings and ints only
	return &workerv1.AdminError{Status: int32(e.Status), Body: body}
}

func decodeError(e *workerv1.AdminError) error {
	out := &Error{}
	if err := json.Unmarshal(e.GetBody(), out); err != nil {
		return fmt.Errorf("worker refusal: undecodable: %w", err)
	}
	out.Status = int(e.GetStatus())
	if out.Status < 400 || out.Status > 599 {
		out.Status = 500
	}
	return out
}

func (c *client) ListGroups(ctx context.Context, req *GroupsRequest) (*GroupsPage, error) {
	return call[GroupsPage](ctx, c.rpc.ListGroups, "list groups", req)
}

func (c *client) GroupMembers(ctx context.Context, req *GroupMembersRequest) (*GroupMembersPage, error) {
	return call[GroupMembersPage](ctx, c.rpc.GroupMembers, "group members", req)
}

func (c *client) ListUsers(ctx context.Context, req *UsersRequest) (*UsersPage, error) {
	return call[UsersPage](ctx, c.rpc.ListUsers, "list users", req)
}

func (c *client) GetUser(ctx context.Context, req *UserRequest) (*UserDetail, error) {
	return call[UserDetail](ctx, c.rpc.GetUser, "get user", req)
}

func (c *client) ExplainUser(ctx context.Context, req *ExplainRequest) (*Explanation, error) {
	return call[Explanation](ctx, c.rpc.ExplainUser, "explain user", req)
}

func (c *client) Changes(ctx context.Context, req *ChangesRequest) (*ChangesPage, error) {
	return call[ChangesPage](ctx, c.rpc.Changes, "changes", req)
}

func (c *client) QueryLog(ctx context.Context, req *LogQuery) (*LogPage, error) {
	return call[LogPage](ctx, c.rpc.QueryLog, "query log", req)
}

func (c *client) GetLogEntry(ctx context.Context, req *LogEntryRequest) (*LogEntry, error) {
	return call[LogEntry](ctx, c.rpc.GetLogEntry, "get log entry", req)
}

func (c *client) LogHealth(ctx context.Context, req *LogHealthRequest) (*LogHealth, error) {
	return call[LogHealth](ctx, c.rpc.LogHealth, "log health", req)
}

func (c *client) SetLogRetention(ctx context.Context, req *LogRetentionRequest) (*LogRetention, error) {
	return call[LogRetention](ctx, c.rpc.SetLogRetention, "set log retention", req)
}

func (c *client) ValidatePolicy(ctx context.Context, req *ValidatePolicyRequest) (*PolicyCheck, error) {
	return call[PolicyCheck](ctx, c.rpc.ValidatePolicy, "validate policy", req)
}

func (c *client) DryRunPolicy(ctx context.Context, req *DryRunRequest) (*DryRun, error) {
	return call[DryRun](ctx, c.rpc.DryRunPolicy, "dry-run policy", req)
}

func (c *client) ActivatePolicy(ctx context.Context, req *ActivateRequest) (*Activation, error) {
	return call[Activation](ctx, c.rpc.ActivatePolicy, "activate policy", req)
}

func (c *client) ActivePolicy(ctx context.Context, req *ActivePolicyRequest) (*ActivePolicy, error) {
	return call[ActivePolicy](ctx, c.rpc.ActivePolicy, "active policy", req)
}

func (c *client) CreateWebhook(ctx context.Context, req *WebhookCreate) (*WebhookCreated, error) {
	return call[WebhookCreated](ctx, c.rpc.CreateWebhook, "create webhook", req)
}

func (c *client) ListWebhooks(ctx context.Context, req *WebhooksRequest) (*WebhookList, error) {
	return call[WebhookList](ctx, c.rpc.ListWebhooks, "list webhooks", req)
}

func (c *client) GetWebhook(ctx context.Context, req *WebhookRequest) (*Webhook, error) {
	return call[Webhook](ctx, c.rpc.GetWebhook, "get webhook", req)
}

func (c *client) UpdateWebhook(ctx context.Context, req *WebhookUpdate) (*Webhook, error) {
	return call[Webhook](ctx, c.rpc.UpdateWebhook, "update webhook", req)
}

func (c *client) DeleteWebhook(ctx context.Context, req *WebhookRequest) (*WebhookDeleted, error) {
	return call[WebhookDeleted](ctx, c.rpc.DeleteWebhook, "delete webhook", req)
}

func (c *client) RotateWebhookSecret(ctx context.Context, req *WebhookRequest) (*WebhookCreated, error) {
	return call[WebhookCreated](ctx, c.rpc.RotateWebhookSecret, "rotate webhook secret", req)
}

func (c *client) TestWebhook(ctx context.Context, req *WebhookRequest) (*Delivery, error) {
	return call[Delivery](ctx, c.rpc.TestWebhook, "test webhook", req)
}

func (c *client) ListDeliveries(ctx context.Context, req *DeliveriesRequest) (*DeliveriesPage, error) {
	return call[DeliveriesPage](ctx, c.rpc.ListDeliveries, "list deliveries", req)
}

func (c *client) ReplayDelivery(ctx context.Context, req *DeliveryRequest) (*Delivery, error) {
	return call[Delivery](ctx, c.rpc.ReplayDelivery, "replay delivery", req)
}

// ExportLog copies the worker's export stream to w. It returns the refusal
// the stream ends with, if any, or the first error writing to w, which
// also ends the stream.
func (c *client) ExportLog(ctx context.Context, req *LogExportRequest, w io.Writer) error {
	in, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("worker export log: encode request: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when w fails
	stream, err := c.rpc.ExportLog(ctx, &workerv1.AdminCall{RequestId: RequestID(ctx), Request: in})
	if err != nil {
		return fmt.Errorf("worker export log: %w", err)
	}
	for {
		chunk, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("worker export log: %w", err)
		case chunk.GetError() != nil:
			return decodeError(chunk.GetError())
		}
		if _, err := w.Write(chunk.GetData()); err != nil {
			return err
		}
	}
}

func (s *server) ListGroups(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ListGroups)
}

func (s *server) GroupMembers(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.GroupMembers)
}

func (s *server) ListUsers(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ListUsers)
}

func (s *server) GetUser(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.GetUser)
}

func (s *server) ExplainUser(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ExplainUser)
}

func (s *server) Changes(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.Changes)
}

func (s *server) QueryLog(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.QueryLog)
}

func (s *server) GetLogEntry(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.GetLogEntry)
}

func (s *server) LogHealth(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.LogHealth)
}

func (s *server) SetLogRetention(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.SetLogRetention)
}

func (s *server) ValidatePolicy(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ValidatePolicy)
}

func (s *server) DryRunPolicy(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.DryRunPolicy)
}

func (s *server) ActivatePolicy(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ActivatePolicy)
}

func (s *server) ActivePolicy(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ActivePolicy)
}

func (s *server) CreateWebhook(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.CreateWebhook)
}

func (s *server) ListWebhooks(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ListWebhooks)
}

func (s *server) GetWebhook(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.GetWebhook)
}

func (s *server) UpdateWebhook(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.UpdateWebhook)
}

func (s *server) DeleteWebhook(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.DeleteWebhook)
}

func (s *server) RotateWebhookSecret(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.RotateWebhookSecret)
}

func (s *server) TestWebhook(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.TestWebhook)
}

func (s *server) ListDeliveries(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ListDeliveries)
}

func (s *server) ReplayDelivery(ctx context.Context, in *workerv1.AdminCall) (*workerv1.AdminResult, error) {
	return serve(ctx, in, s.impl.ReplayDelivery)
}

// exportChunkSize bounds one ExportChunk's data.
const exportChunkSize = 64 << 10

// ExportLog runs the export into a buffered writer whose chunks go out as
// stream messages; a refusal follows whatever was written before it.
func (s *server) ExportLog(in *workerv1.AdminCall, stream grpc.ServerStreamingServer[workerv1.ExportChunk]) error {
	refuse := func(e *Error) error {
		return stream.Send(&workerv1.ExportChunk{Chunk: &workerv1.ExportChunk_Error{Error: encodeError(e)}})
	}
	req := new(LogExportRequest)
	if err := json.Unmarshal(in.GetRequest(), req); err != nil {
		return refuse(BadRequest("undecodable request: " + err.Error()))
	}
	w := bufio.NewWriterSize(chunkSender{stream}, exportChunkSize)
	err := s.impl.ExportLog(WithRequestID(stream.Context(), in.GetRequestId()), req, w)
	var refused *Error
	switch {
	case err == nil:
		return w.Flush()
	case errors.As(err, &refused):
		if err := w.Flush(); err != nil {
			return err
		}
		return refuse(refused)
	}
	return err
}

// chunkSender sends what is written to it as ExportChunks.
type chunkSender struct {
	stream grpc.ServerStreamingServer[workerv1.ExportChunk]
}

func (c chunkSender) Write(p []byte) (int, error) {
	for sent := 0; sent < len(p); {
		n := min(len(p)-sent, exportChunkSize)
		// A copy: gRPC may read a message after Send returns, and the
		// writer reuses p.
		data := append([]byte(nil), p[sent:sent+n]...)
		if err := c.stream.Send(&workerv1.ExportChunk{Chunk: &workerv1.ExportChunk_Data{Data: data}}); err != nil {
			return sent, err
		}
		sent += n
	}
	return len(p), nil
}
