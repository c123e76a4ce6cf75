package scimworker

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/scimplane/scimplane/plugins/tracing"
)

// handler records the span context each Handle call sees.
type handler struct {
	Worker
	seen trace.SpanContext
}

func (h *handler) Handle(ctx context.Context, _ *Exchange) (*Reply, error) {
	h.seen = trace.SpanContextFromContext(ctx)
	return &Reply{Status: 200}, nil
}

func (h *handler) Health(context.Context) (*HealthReply, error) { return &HealthReply{}, nil }

// hop connects a client with the control plane's options to a server with
// the worker's, each with its own provider, as the two processes are.
func hop(t *testing.T, host, worker *tracing.Provider, impl Worker) Worker {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	var sc serveConfig
	if worker != nil {
		WithTracerProvider(worker.TracerProvider())(&sc)
	}
	srv := grpc.NewServer(sc.serverOptions()...)
	require.NoError(t, (&GRPCPlugin{Impl: impl}).GRPCServer(nil, srv))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	var tp trace.TracerProvider
	if host != nil {
		tp = host.TracerProvider()
	}
	opts := append(DialOptions(tp), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }))
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	w, err := (&GRPCPlugin{}).GRPCClient(context.Background(), nil, conn)
	require.NoError(t, err)
	return w.(Worker)
}

// The worker's server span is the child of the control plane's client
// span, itself the child of the request's span; scheduled calls (Health)
// are not traced; with tracing off nothing crosses.
func TestHop_CarriesTheTraceContext(t *testing.T) {
	hostExp, workerExp := tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
	host := tracing.NewWithExporter(hostExp, nil, tracing.ServiceControlPlane, 0)
	worker := tracing.NewWithExporter(workerExp, nil, tracing.ServiceWorker, 0)
	defer host.Shutdown(context.Background())
	defer worker.Shutdown(context.Background())
	impl := &handler{}
	w := hop(t, host, worker, impl)

	ctx, root := host.Tracer().Start(context.Background(), "ingress")
	_, err := w.Handle(ctx, &Exchange{Method: "GET", Path: "/Users"})
	require.NoError(t, err)
	// Health makes no span on either side (the counts below).
	_, err = w.Health(ctx)
	require.NoError(t, err)
	root.End()
	require.NoError(t, host.ForceFlush(context.Background()))
	require.NoError(t, worker.ForceFlush(context.Background()))

	hostSpans, workerSpans := hostExp.GetSpans(), workerExp.GetSpans()
	require.Len(t, hostSpans, 2) // the client span and the root
	require.Len(t, workerSpans, 1)
	client, server := hostSpans[0], workerSpans[0]
	require.Equal(t, "scimplane.worker.v1.Worker/Handle", client.Name)
	require.Equal(t, trace.SpanKindClient, client.SpanKind)
	require.Equal(t, root.SpanContext().SpanID(), client.Parent.SpanID())
	require.Equal(t, trace.SpanKindServer, server.SpanKind)
	require.Equal(t, root.SpanContext().TraceID(), server.SpanContext.TraceID())
	require.Equal(t, client.SpanContext.SpanID(), server.Parent.SpanID())
	require.True(t, server.Parent.IsRemote())
}

func TestHop_TracingOffCarriesNothing(t *testing.T) {
	impl := &handler{}
	w := hop(t, nil, nil, impl)
	// Even a span on the caller's context does not cross without the
	// stats handlers.
	exp := tracetest.NewInMemoryExporter()
	p := tracing.NewWithExporter(exp, nil, tracing.ServiceControlPlane, 0)
	defer p.Shutdown(context.Background())
	ctx, root := p.Tracer().Start(context.Background(), "ingress")
	defer root.End()
	_, err := w.Handle(ctx, &Exchange{Method: "GET", Path: "/Users"})
	require.NoError(t, err)
	require.False(t, impl.seen.IsValid())
	require.Nil(t, DialOptions(nil))
	require.Nil(t, (&serveConfig{}).serverOptions())
}
