// Package tracing sets up OpenTelemetry traces the same way in the control
// plane and its workers: which OTEL_* variables are read (the control
// plane reads them and hands the same ones to its workers, whose
// environment is otherwise clean), the OTLP/HTTP exporter, the W3C trace
// context that crosses the plugin hop, a cheap span start for code deep in
// a request, and a slog handler that stamps log lines with the trace.
//
// Tracing is off unless configured. Off, no tracer provider exists: the
// binaries install no gRPC stats handler, no pgx tracer and no ingress
// span, and Start costs a context lookup.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The variables read, with the meaning the OpenTelemetry specification
// gives them; docs/tracing.md lists what is supported of each.
const (
	EnvExporter        = "OTEL_TRACES_EXPORTER"
	EnvEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol  = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvHeaders         = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvTracesHeaders   = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvTimeout         = "OTEL_EXPORTER_OTLP_TIMEOUT"
	EnvSampler         = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg      = "OTEL_TRACES_SAMPLER_ARG"
	EnvScheduleDelay   = "OTEL_BSP_SCHEDULE_DELAY"
	EnvResourceAttribs = "OTEL_RESOURCE_ATTRIBUTES"
)

// Vars lists every variable FromEnv reads.
func Vars() []string {
	return []string{EnvExporter, EnvEndpoint, EnvTracesEndpoint, EnvProtocol, EnvTracesProtocol,
		EnvHeaders, EnvTracesHeaders, EnvTimeout, EnvSampler, EnvSamplerArg, EnvScheduleDelay, EnvResourceAttribs}
}

// Service names.
const (
	ServiceControlPlane = "scimplane-controlplane"
	ServiceWorker       = "scimplane-worker"
)

// TenantAttr is the resource attribute naming the tenant a worker serves.
const TenantAttr = attribute.Key("tenant.id")

// scope is the instrumentation scope of scimplane's own spans.
const scope = "github.com/scimplane/scimplane"

// Settings configure the exporter. FromEnv returns nil Settings when
// tracing is off.
type Settings struct {
	// Endpoint is the full URL spans are posted to.
	Endpoint string
	Headers  map[string]string
	Timeout  time.Duration
	Sampler  sdktrace.Sampler
	// SamplerName is the sampler as configured, for the log.
	SamplerName string
	// BatchDelay is how long spans wait to be sent in a batch.
	BatchDelay time.Duration
	// Attributes are extra resource attributes (OTEL_RESOURCE_ATTRIBUTES).
	Attributes []attribute.KeyValue
}

// LogValue shows where spans go, without the headers (they may carry a
// collector's credentials).
func (s *Settings) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("off")
	}
	return slog.GroupValue(slog.String("endpoint", s.Endpoint), slog.String("sampler", s.SamplerName),
		slog.Duration("batch_delay", s.BatchDelay), slog.Int("headers", len(s.Headers)))
}

// FromEnv reads the OTEL_* variables through getenv. Tracing is on when
// OTEL_TRACES_EXPORTER is otlp, or when it is unset and an OTLP endpoint
// is set; otherwise (unset, or none) it is off and Settings are nil.
func FromEnv(getenv func(string) string) (*Settings, error) {
	endpoint, tracesEndpoint := strings.TrimSpace(getenv(EnvEndpoint)), strings.TrimSpace(getenv(EnvTracesEndpoint))
	switch exp := strings.TrimSpace(getenv(EnvExporter)); exp {
	case "none":
		return nil, nil
	case "":
		if endpoint == "" && tracesEndpoint == "" {
			return nil, nil
		}
	case "otlp":
	default:
		return nil, fmt.Errorf("%s=%q: only otlp or none is supported", EnvExporter, exp)
	}
	s := &Settings{Timeout: 10 * time.Second, BatchDelay: 5 * time.Second}
	for _, name := range []string{EnvTracesProtocol, EnvProtocol} {
		if p := strings.TrimSpace(getenv(name)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%q: only http/protobuf is supported", name, p)
			}
			break
		}
	}
	switch {
	case tracesEndpoint != "":
		s.Endpoint = tracesEndpoint
	case endpoint != "":
		s.Endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
	default:
		s.Endpoint = "http://localhost:4318/v1/traces"
	}
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP traces endpoint %q: want an http(s) URL", s.Endpoint)
	}
	var err error
	if s.Headers, err = parseHeaders(getenv(EnvHeaders), getenv(EnvTracesHeaders)); err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(getenv(EnvTimeout)); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("%s=%q: want milliseconds", EnvTimeout, v)
		}
		s.Timeout = time.Duration(ms) * time.Millisecond
	}
	if v := strings.TrimSpace(getenv(EnvScheduleDelay)); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("%s=%q: want milliseconds", EnvScheduleDelay, v)
		}
		s.BatchDelay = time.Duration(ms) * time.Millisecond
	}
	if s.Sampler, s.SamplerName, err = sampler(getenv(EnvSampler), getenv(EnvSamplerArg)); err != nil {
		return nil, err
	}
	if s.Attributes, err = parseAttributes(getenv(EnvResourceAttribs)); err != nil {
		return nil, err
	}
	return s, nil
}

// parseHeaders reads "k=v,k2=v2" lists (values URL-encoded); the traces
// list wins over the general one.
func parseHeaders(lists ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, list := range lists {
		pairs, err := parsePairs(list)
		if err != nil {
			return nil, fmt.Errorf("OTLP headers: %w", err)
		}
		for _, p := range pairs {
			out[p[0]] = p[1]
		}
	}
	return out, nil
}

func parseAttributes(list string) ([]attribute.KeyValue, error) {
	pairs, err := parsePairs(list)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvResourceAttribs, err)
	}
	var out []attribute.KeyValue
	for _, p := range pairs {
		out = append(out, attribute.String(p[0], p[1]))
	}
	return out, nil
}

func parsePairs(list string) ([][2]string, error) {
	var out [][2]string
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", item)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", k, err)
		}
		out = append(out, [2]string{k, val})
	}
	return out, nil
}

// sampler builds the named sampler; the default samples every trace whose
// parent (if any) is sampled.
func sampler(name, arg string) (sdktrace.Sampler, string, error) {
	name, arg = strings.TrimSpace(name), strings.TrimSpace(arg)
	if name == "" {
		name = "parentbased_always_on"
	}
	ratio := 1.0
	if strings.HasSuffix(name, "traceidratio") && arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, "", fmt.Errorf("%s=%q: want a ratio between 0 and 1", EnvSamplerArg, arg)
		}
		ratio = r
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), name, nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), name, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), name, nil
	}
	return nil, "", fmt.Errorf("%s=%q: unsupported sampler", EnvSampler, name)
}

// Provider is a process's tracer provider and its exporter.
type Provider struct {
	tp   *sdktrace.TracerProvider
	exp  *exporter
	base *resource.Resource
}

// New starts a tracer provider that batches spans to s.Endpoint over
// OTLP/HTTP, as service.
func New(s *Settings, service string) (*Provider, error) {
	if s == nil {
		return nil, errors.New("tracing: no settings")
	}
	otlp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(s.Endpoint),
		otlptracehttp.WithHeaders(s.Headers),
		otlptracehttp.WithTimeout(s.Timeout))
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return NewWithExporter(otlp, s.Sampler, service, s.BatchDelay, s.Attributes...), nil
}

// NewWithExporter is New with another exporter (tests use an in-memory
// one). A nil sampler samples every trace whose parent is sampled; a zero
// batchDelay is the SDK's default (5s).
func NewWithExporter(exp sdktrace.SpanExporter, sampler sdktrace.Sampler, service string, batchDelay time.Duration, attrs ...attribute.KeyValue) *Provider {
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	base := resource.NewSchemaless(append(attrs, attribute.String("service.name", service))...)
	p := &Provider{exp: &exporter{SpanExporter: exp}, base: base}
	var batch []sdktrace.BatchSpanProcessorOption
	if batchDelay > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(batchDelay))
	}
	p.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(base),
		sdktrace.WithSampler(sampler),
		sdktrace.WithBatcher(p.exp, batch...))
	return p
}

// TracerProvider is the provider to hand to instrumentation.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Tracer is scimplane's own tracer.
func (p *Provider) Tracer() trace.Tracer { return p.tp.Tracer(scope) }

// SetTenant adds the tenant a worker is bound to as a resource attribute
// of every span exported from now on. A worker learns its tenant after
// it starts (Bind), and serves it for the rest of its life.
func (p *Provider) SetTenant(id string) {
	r, err := resource.Merge(p.base, resource.NewSchemaless(TenantAttr.String(id)))
	if err != nil {
		r = p.base
	}
	p.exp.res.Store(r)
}

// Shutdown sends what is queued and stops the provider.
func (p *Provider) Shutdown(ctx context.Context) error { return p.tp.Shutdown(ctx) }

// ForceFlush sends what is queued.
func (p *Provider) ForceFlush(ctx context.Context) error { return p.tp.ForceFlush(ctx) }

// exporter gives spans the resource set by SetTenant, if any.
type exporter struct {
	sdktrace.SpanExporter
	res atomic.Pointer[resource.Resource]
}

func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	r := e.res.Load()
	if r == nil {
		return e.SpanExporter.ExportSpans(ctx, spans)
	}
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = withResource{ReadOnlySpan: s, res: r}
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

type withResource struct {
	sdktrace.ReadOnlySpan
	res *resource.Resource
}

func (s withResource) Resource() *resource.Resource { return s.res }

// Propagator is the W3C trace context, the only header that crosses the
// plugin hop.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Start starts a child of the span on ctx with the same provider. Without
// a recording span on ctx (tracing off, or the trace not sampled) it
// returns ctx and that span as they are, allocating nothing.
func Start(ctx context.Context, name string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(scope).Start(ctx, name)
}

// LogHandler adds trace_id and span_id to records logged with a context
// that carries a span.
type LogHandler struct {
	slog.Handler
}

// NewLogHandler wraps h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{Handler: h} }

// Handle adds the trace ids.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	AddLogIDs(ctx, &r)
	return h.Handler.Handle(ctx, r)
}

func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithGroup(name)}
}

// AddLogIDs adds trace_id and span_id to r when ctx carries a valid span
// context.
func AddLogIDs(ctx context.Context, r *slog.Record) {
	if ctx == nil {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}
