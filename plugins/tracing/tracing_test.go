package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		off      bool
		err      string
		endpoint string
		check    func(t *testing.T, s *Settings)
	}{
		{name: "nothing set is off", env: nil, off: true},
		{name: "none is off even with an endpoint", env: map[string]string{EnvExporter: "none", EnvEndpoint: "http://collector:4318"}, off: true},
		{name: "otlp alone posts to localhost", env: map[string]string{EnvExporter: "otlp"}, endpoint: "http://localhost:4318/v1/traces"},
		{name: "an endpoint alone turns it on", env: map[string]string{EnvEndpoint: "http://collector:4318/"}, endpoint: "http://collector:4318/v1/traces"},
		{name: "the traces endpoint is taken as is", env: map[string]string{EnvEndpoint: "http://a:4318", EnvTracesEndpoint: "https://b/otlp/traces"}, endpoint: "https://b/otlp/traces"},
		{name: "headers, traces ones win, values unescaped", env: map[string]string{EnvExporter: "otlp",
			EnvHeaders: "api-key=one, x-team=a%20b", EnvTracesHeaders: "api-key=two"}, endpoint: "http://localhost:4318/v1/traces",
			check: func(t *testing.T, s *Settings) {
				require.Equal(t, map[string]string{"api-key": "two", "x-team": "a b"}, s.Headers)
			}},
		{name: "timeouts and sampler", env: map[string]string{EnvExporter: "otlp", EnvTimeout: "2500", EnvScheduleDelay: "100",
			EnvSampler: "parentbased_traceidratio", EnvSamplerArg: "0.25", EnvResourceAttribs: "deployment.environment=prod"},
			endpoint: "http://localhost:4318/v1/traces",
			check: func(t *testing.T, s *Settings) {
				require.Equal(t, 2500*time.Millisecond, s.Timeout)
				require.Equal(t, 100*time.Millisecond, s.BatchDelay)
				require.Contains(t, s.Sampler.Description(), "TraceIDRatioBased{0.25}")
				require.Len(t, s.Attributes, 1)
			}},
		{name: "other exporters are refused", env: map[string]string{EnvExporter: "jaeger"}, err: "only otlp or none"},
		{name: "grpc protocol is refused", env: map[string]string{EnvExporter: "otlp", EnvProtocol: "grpc"}, err: "only http/protobuf"},
		{name: "a bad endpoint is refused", env: map[string]string{EnvEndpoint: "collector:4318"}, err: "want an http(s) URL"},
		{name: "a bad header list is refused", env: map[string]string{EnvExporter: "otlp", EnvHeaders: "novalue"}, err: "not key=value"},
		{name: "a bad timeout is refused", env: map[string]string{EnvExporter: "otlp", EnvTimeout: "5s"}, err: "want milliseconds"},
		{name: "a bad ratio is refused", env: map[string]string{EnvExporter: "otlp", EnvSampler: "traceidratio", EnvSamplerArg: "2"}, err: "ratio"},
		{name: "an unknown sampler is refused", env: map[string]string{EnvExporter: "otlp", EnvSampler: "jaeger_remote"}, err: "unsupported sampler"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			if tc.off {
				require.Nil(t, s)
				return
			}
			require.Equal(t, tc.endpoint, s.Endpoint)
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestProvider_SetTenantNamesTheTenantOnExportedSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := NewWithExporter(exp, nil, ServiceWorker, 0)
	defer p.Shutdown(context.Background())
	_, s := p.Tracer().Start(context.Background(), "before bind")
	s.End()
	require.NoError(t, p.ForceFlush(context.Background()))
	p.SetTenant("tnt_abc")
	_, s = p.Tracer().Start(context.Background(), "bound")
	s.End()
	require.NoError(t, p.ForceFlush(context.Background()))
	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	_, ok := spans[0].Resource.Set().Value(TenantAttr)
	require.False(t, ok)
	v, ok := spans[1].Resource.Set().Value(TenantAttr)
	require.True(t, ok)
	require.Equal(t, "tnt_abc", v.AsString())
	name, _ := spans[1].Resource.Set().Value("service.name")
	require.Equal(t, ServiceWorker, name.AsString())
}

func TestStart(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := NewWithExporter(exp, nil, ServiceWorker, 0)
	defer p.Shutdown(context.Background())

	// No span on the context: nothing starts, nothing is allocated.
	ctx := context.Background()
	got, span := Start(ctx, "child")
	require.Equal(t, ctx, got)
	require.False(t, span.IsRecording())
	require.Zero(t, testing.AllocsPerRun(100, func() {
		_, s := Start(ctx, "child")
		s.End()
	}))

	ctx, root := p.Tracer().Start(ctx, "root")
	_, child := Start(ctx, "child")
	child.End()
	root.End()
	require.NoError(t, p.ForceFlush(context.Background()))
	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	require.Equal(t, "child", spans[0].Name)
	require.Equal(t, root.SpanContext().SpanID(), spans[0].Parent.SpanID())
}

func TestLogHandler_AddsTraceAndSpanIDs(t *testing.T) {
	p := NewWithExporter(tracetest.NewInMemoryExporter(), nil, ServiceWorker, 0)
	defer p.Shutdown(context.Background())
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("tenant_id", "tnt_x")

	log.InfoContext(context.Background(), "untraced")
	ctx, span := p.Tracer().Start(context.Background(), "root")
	log.InfoContext(ctx, "traced")
	span.End()

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var untraced, traced map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &untraced))
	require.NoError(t, json.Unmarshal(lines[1], &traced))
	require.NotContains(t, untraced, "trace_id")
	require.Equal(t, span.SpanContext().TraceID().String(), traced["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), traced["span_id"])
	require.Equal(t, "tnt_x", traced["tenant_id"])
}
