package scimworker

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
	"github.com/scimplane/scimplane/plugins/tracing"
)

// The plugin hop carries the W3C trace context in the gRPC metadata of
// each call: the control plane's client span is the parent of the worker's
// server span. Without a tracer provider (tracing off) no stats handler is
// installed on either side, so a call costs what it did before.

// DialOptions are the control plane's gRPC options for calls to a worker
// (plugin.ClientConfig.GRPCDialOptions): a client span per traced call.
// nil tp (tracing off) returns none.
func DialOptions(tp trace.TracerProvider) []grpc.DialOption {
	if tp == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOptions(tp)...))}
}

// ServeOption tunes Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	tp trace.TracerProvider
}

// WithTracerProvider makes the worker trace the calls it serves, as
// children of the control plane's spans.
func WithTracerProvider(tp trace.TracerProvider) ServeOption {
	return func(c *serveConfig) { c.tp = tp }
}

func (c *serveConfig) serverOptions() []grpc.ServerOption {
	if c.tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelOptions(c.tp)...))}
}

func otelOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(tracing.Propagator()),
		// Traces only: no metrics through the global meter provider.
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(traced),
	}
}

// traced leaves out the calls the control plane makes on its own
// schedule (health checks, shedding connections): each would be a trace
// of its own every second per worker.
func traced(info *stats.RPCTagInfo) bool {
	switch info.FullMethodName {
	case workerv1.Worker_Health_FullMethodName, workerv1.Worker_Shed_FullMethodName:
		return false
	}
	return true
}
