package httpapi_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/ratelimit"
	"github.com/scimplane/scimplane/plugins/tracing"
)

// tracedApp serves the HTTP API with tracer (nil: tracing off) and only
// what /healthz needs.
func tracedApp(tracer trace.Tracer) *fiber.App {
	return httpapi.New(httpapi.Params{
		Workers:        &okWorkers{},
		Limiter:        ratelimit.New(1000, 1000, 0),
		Logger:         slog.New(slog.DiscardHandler),
		Registry:       prometheus.NewRegistry(),
		MaxBodyBytes:   1 << 20,
		RequestTimeout: 10 * time.Second,
		Tracer:         tracer,
	})
}

// serveOne runs one request through the app's handler, as fasthttp would.
func serveOne(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, req *fasthttp.Request) {
	ctx.Init(req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	h(ctx)
}

func TestRequestContext_ServerSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := tracing.NewWithExporter(exp, nil, tracing.ServiceControlPlane, 0)
	defer p.Shutdown(context.Background())
	h := tracedApp(p.Tracer()).Handler()

	tests := []struct {
		name        string
		traceparent string
		path        string
		status      int
	}{
		{name: "a new root", path: "/healthz", status: 200},
		{name: "the caller's trace continues", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", path: "/healthz", status: 200},
		{name: "an unknown route", path: "/nowhere", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			var req fasthttp.Request
			req.SetRequestURI(tc.path)
			if tc.traceparent != "" {
				req.Header.Set("traceparent", tc.traceparent)
			}
			var ctx fasthttp.RequestCtx
			serveOne(h, &ctx, &req)
			require.Equal(t, tc.status, ctx.Response.StatusCode())
			require.NoError(t, p.ForceFlush(context.Background()))
			spans := exp.GetSpans()
			require.Len(t, spans, 1)
			s := spans[0]
			require.Equal(t, trace.SpanKindServer, s.SpanKind)
			attrs := map[string]any{}
			for _, a := range s.Attributes {
				attrs[string(a.Key)] = a.Value.AsInterface()
			}
			require.Equal(t, int64(tc.status), attrs["http.response.status_code"])
			require.Equal(t, tc.path, attrs["url.path"])
			require.Equal(t, string(ctx.Response.Header.Peek("X-Request-Id")), attrs["scimplane.request_id"])
			if tc.traceparent != "" {
				require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext.TraceID().String())
				require.Equal(t, "00f067aa0ba902b7", s.Parent.SpanID().String())
				require.True(t, s.Parent.IsRemote())
			} else {
				require.False(t, s.Parent.IsValid())
			}
			if tc.status == 200 {
				require.Equal(t, "GET /healthz", s.Name)
			}
		})
	}
}

// discard drops spans: the cost measured is making them, not sending.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkRequestContext is one request through the middleware and a
// trivial route (/healthz) with tracing off (the default) and on.
func BenchmarkRequestContext(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			var tracer trace.Tracer
			if on {
				p := tracing.NewWithExporter(discard{}, nil, tracing.ServiceControlPlane, 0)
				b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
				tracer = p.Tracer()
			}
			h := tracedApp(tracer).Handler()
			var req fasthttp.Request
			req.SetRequestURI("/healthz")
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				serveOne(h, &ctx, &req)
				if ctx.Response.StatusCode() != 200 {
					b.Fatal(ctx.Response.StatusCode())
				}
			}
		})
	}
}
