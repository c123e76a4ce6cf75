package app

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/plugins/tracing"
)

// tracedWorker is a worker with tracing on, exporting to exp, and the
// tracer a test starts its stand-in for the gRPC server span with.
func tracedWorker(tb testing.TB, exp sdktrace.SpanExporter) (*Worker, *tracing.Provider) {
	tb.Helper()
	p := tracing.NewWithExporter(exp, nil, tracing.ServiceWorker, 0)
	tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	w, _ := newTestWorkerWithAdmin(tb, func(c *Config) { c.Options.Tracing = p })
	return w, p
}

func memberAdd(userID string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"` + userID + `"}]}]}`
}

// A traced request gets spans down to SQL, named for the tenant; a request
// without a span on its context gets none, tracing on or not.
func TestWorker_TracesRequestsDownToSQL(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	w, p := tracedWorker(t, exp)
	_, u, _ := do(t, w, "POST", "/Users", "", `{"userName":"ada@example.com"}`)
	_, g, _ := do(t, w, "POST", "/Groups", "", `{"displayName":"Engineering"}`)
	require.NoError(t, p.ForceFlush(context.Background()))
	require.Empty(t, exp.GetSpans(), "untraced requests make no spans")

	ctx, root := p.Tracer().Start(context.Background(), "handle", trace.WithSpanKind(trace.SpanKindServer))
	reply, err := w.Handle(ctx, &scimworker.Exchange{Method: "PATCH", Path: "/Groups/" + g["id"].(string), Body: []byte(memberAdd(u["id"].(string)))})
	root.End()
	require.NoError(t, err)
	require.Equal(t, 204, reply.Status, string(reply.Body))
	require.NoError(t, p.ForceFlush(context.Background()))

	spans := exp.GetSpans()
	tenant := w.bound.Load().id
	count := map[string]int{}
	var statements []string
	for _, s := range spans {
		require.Equal(t, root.SpanContext().TraceID(), s.SpanContext.TraceID(), s.Name)
		v, ok := s.Resource.Set().Value(tracing.TenantAttr)
		require.True(t, ok, s.Name)
		require.Equal(t, tenant, v.AsString())
		count[s.Name]++
		if s.Name == "pg batch" {
			for _, e := range s.Events {
				statements = append(statements, e.Name)
			}
		}
	}
	require.Equal(t, map[string]int{"handle": 1, "store.acquire": 1, "pg batch": 2, "policy.decide": 1, "scimlog.write": 1}, count)
	require.Equal(t, "pg BEGIN", statements[0])
	require.Equal(t, "pg COMMIT", statements[len(statements)-1])
	require.Contains(t, statements, "pg INSERT")
}

// discard drops spans: the cost measured is making them, not sending.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkMemberAddTracing is a member-add PATCH served with tracing off
// (the default: no span on the context, no pgx tracer) and on (a sampled
// server span as the gRPC stats handler would start, spans down to SQL).
func BenchmarkMemberAddTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			var w *Worker
			var tracer trace.Tracer
			if on {
				var p *tracing.Provider
				w, p = tracedWorker(b, discard{})
				tracer = p.Tracer()
			} else {
				w = newTestWorker(b)
			}
			_, g, _ := do(b, w, "POST", "/Groups", "", `{"displayName":"Big"}`)
			gid := g["id"].(string)
			seedUsers(b, w, 20_000)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ctx := context.Background()
				var span trace.Span
				if on {
					ctx, span = tracer.Start(ctx, "handle")
				}
				reply, err := w.Handle(ctx, &scimworker.Exchange{Method: "PATCH", Path: "/Groups/" + gid, Body: []byte(memberAdd(fmt.Sprintf("u-%d", i%20_000)))})
				if span != nil {
					span.End()
				}
				if err != nil || reply.Status != 204 {
					b.Fatalf("%v %d %s", err, reply.Status, reply.Body)
				}
			}
		})
	}
}
