package scimworker

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	workerv1 "github.com/scimplane/scimplane/plugins/scimworker/proto/v1"
)

// ProtocolVersion is bumped on every breaking change to the Worker contract.
// Version 2: workers are prepared ahead of need and bound to a tenant over
// the plugin channel; credentials never travel in the environment.
// Version 3: one typed RPC per admin operation instead of Admin(op, JSON),
// and the SCIM log's export streamed.
// Version 4: webhooks (admin RPCs, the tenant's webhook key at Bind, the
// Host's ScheduleWake).
const ProtocolVersion = 4

// PluginName is the key of the worker in the go-plugin plugin map.
const PluginName = "worker"

// Handshake is shared by the control plane and the worker. The cookie is a
// usability check that stops the worker being run by hand, not security.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SCIMPLANE_WORKER_PLUGIN",
	MagicCookieValue: "4f0c8a2e-scim-worker",
}

// EnvLogLevel is the worker's log level. It is the only setting passed in
// the environment: credentials and the tenant arrive over the plugin channel.
const EnvLogLevel = "SCIMPLANE_LOG_LEVEL"

// GRPCPlugin adapts a Worker to go-plugin. The worker side sets Impl; the
// control plane leaves it nil.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Worker
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the worker implementation on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	workerv1.RegisterWorkerServer(s, &server{impl: p.Impl, broker: broker})
	return nil
}

// GRPCClient returns a Worker that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &client{rpc: workerv1.NewWorkerClient(conn), broker: broker}, nil
}

// PluginMap is the plugin set for the control plane's plugin.ClientConfig.
func PluginMap() map[string]plugin.Plugin {
	return map[string]plugin.Plugin{PluginName: &GRPCPlugin{}}
}

// Serve runs impl as a go-plugin worker until the host closes the connection.
// It must be called from main; the worker must not write to stdout before it.
// go-plugin's own messages go to stderr as JSON, warnings and errors only.
func Serve(impl Worker, opts ...ServeOption) {
	var c serveConfig
	for _, o := range opts {
		o(&c)
	}
	extra := c.serverOptions()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         map[string]plugin.Plugin{PluginName: &GRPCPlugin{Impl: impl}},
		GRPCServer:      func(opts []grpc.ServerOption) *grpc.Server { return newServer(append(opts, extra...)) },
		TLSProvider:     sessionTLS,
		Logger:          hclog.New(&hclog.LoggerOptions{Name: "worker", Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
}

// newServer is go-plugin's gRPC server with calls served on a few
// long-lived goroutines rather than a new one each, whose stack would
// grow again on every call.
func newServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, grpc.NumStreamWorkers(4))...)
}
