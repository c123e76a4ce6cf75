package logctx

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

func TestHandler_AddsContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx := With(context.Background(), slog.String("request_id", "req_1"))
	ctx = With(ctx, slog.String("tenant_id", "tnt_a"))
	log.InfoContext(ctx, "hello")
	require.Contains(t, buf.String(), `"request_id":"req_1"`)
	require.Contains(t, buf.String(), `"tenant_id":"tnt_a"`)
	require.Contains(t, buf.String(), `"component":"test"`)

	buf.Reset()
	log.InfoContext(ctx, "explicit", "tenant_id", "tnt_a")
	require.Equal(t, 1, bytes.Count(buf.Bytes(), []byte(`"tenant_id"`)))
}

func TestHandler_AddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	})
	ctx := With(trace.ContextWithSpanContext(context.Background(), sc), slog.String("request_id", "req_1"))
	log.InfoContext(ctx, "traced")
	require.Contains(t, buf.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`)
	require.Contains(t, buf.String(), `"span_id":"00f067aa0ba902b7"`)

	buf.Reset()
	log.InfoContext(context.Background(), "untraced")
	require.NotContains(t, buf.String(), "trace_id")
}
