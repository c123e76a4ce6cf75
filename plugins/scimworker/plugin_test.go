package scimworker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// fake serves a few admin operations; the rest of the Worker is left nil,
// so calling it would fail the test.
type fake struct {
	scimworker.Worker
	gotRequestID string
}

func (f *fake) ListGroups(ctx context.Context, req *scimworker.GroupsRequest) (*scimworker.GroupsPage, error) {
	f.gotRequestID = scimworker.RequestID(ctx)
	return &scimworker.GroupsPage{
		Groups: []scimworker.GroupRow{{ID: "g1", DisplayName: "Sales " + req.Q, Members: int64(req.Limit), Sets: []string{}, Permissions: []string{"forms.view"}}},
		Next:   "after-" + req.After,
	}, nil
}

func (f *fake) GetUser(_ context.Context, req *scimworker.UserRequest) (*scimworker.UserDetail, error) {
	if req.ID == "broken" {
		return nil, errors.New("database is on fire")
	}
	return nil, scimworker.NotFound("user " + req.ID + " not found")
}

func (f *fake) ValidatePolicy(_ context.Context, req *scimworker.ValidatePolicyRequest) (*scimworker.PolicyCheck, error) {
	return nil, &scimworker.Error{Status: 422, Message: "policy does not compile",
		Problems: []scimworker.PolicyProblem{{File: "p.rego", Line: 3, Column: 1, Message: "rego_parse_error: " + req.Modules["p.rego"]}},
		Tests:    []scimworker.PolicyTest{{Name: "test_x", Outcome: scimworker.TestFail}}}
}

func (f *fake) ActivePolicy(context.Context, *scimworker.ActivePolicyRequest) (*scimworker.ActivePolicy, error) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return &scimworker.ActivePolicy{Version: 4, ActivatedAt: &at,
		PolicyBundle: scimworker.PolicyBundle{Modules: map[string]string{"p.rego": "package p"}, Mapping: json.RawMessage(`{"grants":[]}`)}}, nil
}

// ExportLog writes rows lines, then refuses when the query asks for it.
func (f *fake) ExportLog(_ context.Context, req *scimworker.LogExportRequest, w io.Writer) error {
	if req.Status == "teapot" {
		return scimworker.BadRequest("status is a code like 409 or a class like 4xx")
	}
	for i := range 3000 {
		fmt.Fprintf(w, `{"id":%d,"method":%q,"pad":%q}`+"\n", i, req.Method, strings.Repeat("x", 40))
	}
	if req.User == "fail-late" {
		return &scimworker.Error{Status: 500, Message: "export interrupted"}
	}
	return nil
}

func dispense(t *testing.T, impl scimworker.Worker) scimworker.Worker {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		scimworker.PluginName: &scimworker.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(scimworker.PluginName)
	require.NoError(t, err)
	return raw.(scimworker.Worker)
}

// The typed admin RPCs across the real gRPC transport: replies, refusals
// as *Error with their problems and tests, internal failures as gRPC
// errors, and the export stream.
func TestGRPC_AdminOperations(t *testing.T) {
	impl := &fake{}
	w := dispense(t, impl)
	ctx := scimworker.WithRequestID(context.Background(), "req_123")

	page, err := w.ListGroups(ctx, &scimworker.GroupsRequest{Q: "eu", After: "c1", Limit: 7})
	require.NoError(t, err)
	require.Equal(t, &scimworker.GroupsPage{
		Groups: []scimworker.GroupRow{{ID: "g1", DisplayName: "Sales eu", Members: 7, Sets: []string{}, Permissions: []string{"forms.view"}}},
		Next:   "after-c1",
	}, page)
	require.Equal(t, "req_123", impl.gotRequestID, "the request id reaches the worker")

	active, err := w.ActivePolicy(ctx, &scimworker.ActivePolicyRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(4), active.Version)
	require.Equal(t, "package p", active.Modules["p.rego"])
	require.JSONEq(t, `{"grants":[]}`, string(active.Mapping))
	require.True(t, active.ActivatedAt.Equal(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)))

	tests := []struct {
		name string
		call func() error
		want *scimworker.Error
	}{
		{name: "not found", call: func() error { _, err := w.GetUser(ctx, &scimworker.UserRequest{ID: "u9"}); return err },
			want: &scimworker.Error{Status: 404, Message: "user u9 not found"}},
		{name: "policy problems and tests", call: func() error {
			_, err := w.ValidatePolicy(ctx, &scimworker.ValidatePolicyRequest{PolicyBundle: scimworker.PolicyBundle{Modules: map[string]string{"p.rego": "oops"}}})
			return err
		}, want: &scimworker.Error{Status: 422, Message: "policy does not compile",
			Problems: []scimworker.PolicyProblem{{File: "p.rego", Line: 3, Column: 1, Message: "rego_parse_error: oops"}},
			Tests:    []scimworker.PolicyTest{{Name: "test_x", Outcome: "fail"}}}},
		{name: "export refused before any data", call: func() error {
			var out bytes.Buffer
			err := w.ExportLog(ctx, &scimworker.LogExportRequest{LogQuery: scimworker.LogQuery{Status: "teapot"}}, &out)
			require.Zero(t, out.Len())
			return err
		}, want: scimworker.BadRequest("status is a code like 409 or a class like 4xx")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refused *scimworker.Error
			require.ErrorAs(t, tt.call(), &refused)
			require.Equal(t, tt.want, refused)
		})
	}

	// A failure that is not a refusal is a transport-level error.
	_, err = w.GetUser(ctx, &scimworker.UserRequest{ID: "broken"})
	var refused *scimworker.Error
	require.False(t, errors.As(err, &refused))
	require.Equal(t, codes.Unknown, status.Code(errors.Unwrap(err)))
	require.Contains(t, err.Error(), "database is on fire")

	// The export arrives whole, in order, across many chunks.
	var out bytes.Buffer
	require.NoError(t, w.ExportLog(ctx, &scimworker.LogExportRequest{LogQuery: scimworker.LogQuery{Method: "POST"}, Format: scimworker.FormatNDJSON}, &out))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3000)
	require.Greater(t, out.Len(), 3*64<<10, "more than one chunk")
	for i, line := range lines {
		var e struct {
			ID     int    `json:"id"`
			Method string `json:"method"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		require.Equal(t, i, e.ID)
		require.Equal(t, "POST", e.Method)
	}

	// A refusal after data: the data arrives, then the refusal.
	out.Reset()
	err = w.ExportLog(ctx, &scimworker.LogExportRequest{LogQuery: scimworker.LogQuery{User: "fail-late"}}, &out)
	require.ErrorAs(t, err, &refused)
	require.Equal(t, 500, refused.Status)
	require.Equal(t, 3000, strings.Count(out.String(), "\n"))
}

// A reader that stops ends the export stream, and the worker sees its
// context cancelled.
func TestGRPC_ExportStopsWhenTheReaderFails(t *testing.T) {
	impl := &endlessExport{ended: make(chan struct{})}
	w := dispense(t, impl)
	err := w.ExportLog(context.Background(), &scimworker.LogExportRequest{}, failingWriter{})
	require.ErrorIs(t, err, io.ErrClosedPipe)
	select {
	case <-impl.ended:
	case <-time.After(time.Minute):
		t.Fatal("the worker's export did not end")
	}
}

type endlessExport struct {
	scimworker.Worker
	ended chan struct{}
}

// ExportLog writes until writing fails or its context ends.
func (e *endlessExport) ExportLog(ctx context.Context, _ *scimworker.LogExportRequest, w io.Writer) error {
	defer close(e.ended)
	line := []byte(strings.Repeat("y", 1023) + "\n")
	for ctx.Err() == nil {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return ctx.Err()
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
