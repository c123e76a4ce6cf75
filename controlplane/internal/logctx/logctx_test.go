package logctx

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
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
