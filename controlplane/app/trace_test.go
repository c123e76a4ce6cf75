package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scimplane/scimplane/controlplane/app"
	"github.com/scimplane/scimplane/tests/pgtest"
)

// receivedSpan is a span as an OTLP/HTTP receiver got it.
type receivedSpan struct {
	*tracepb.Span
	service, tenant string
}

func (s receivedSpan) id() string     { return hex.EncodeToString(s.SpanId) }
func (s receivedSpan) parent() string { return hex.EncodeToString(s.ParentSpanId) }

func (s receivedSpan) duration() time.Duration {
	return time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano)
}

// otlpReceiver is an OTLP/HTTP traces endpoint that keeps what it gets.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := attr(rs.GetResource().GetAttributes(), "service.name")
		tenant := attr(rs.GetResource().GetAttributes(), "tenant.id")
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.spans = append(o.spans, receivedSpan{Span: s, service: service, tenant: tenant})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// trace returns the spans received so far of one trace.
func (o *otlpReceiver) trace(traceID []byte) []receivedSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []receivedSpan
	for _, s := range o.spans {
		if bytes.Equal(s.TraceId, traceID) {
			out = append(out, s)
		}
	}
	return out
}

// A member-add PATCH is one trace: the control plane's ingress span (the
// child of the caller's traceparent), the pool's acquire, the plugin
// client's span, the worker's server span and below it the policy
// decision, the SCIM log write and the SQL batches, each with the right
// parent, the worker's spans naming the tenant.
func TestRun_MemberAddPatchIsOneTrace(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close)
	e := boot(t, map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "50",
	})
	a := e.createTenant("Traced")
	r := e.scim(a.ID, a.Token, "POST", "/Users", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var user struct{ ID string }
	r.json(t, &user)
	r = e.scim(a.ID, a.Token, "POST", "/Groups", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering"}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var group struct{ ID string }
	r.json(t, &group)

	// The caller (a tracing proxy, say) sends its own trace context.
	traceID, callerSpan := make([]byte, 16), make([]byte, 8)
	_, _ = rand.Read(traceID)
	_, _ = rand.Read(callerSpan)
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"` + user.ID + `"}]}]}`
	req, err := http.NewRequest("PATCH", e.base+"/scim/"+a.ID+"/v2/Groups/"+group.ID, strings.NewReader(patch))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Traceparent", fmt.Sprintf("00-%x-%x-01", traceID, callerSpan))
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))

	byName := func(spans []receivedSpan, service, name string) (receivedSpan, bool) {
		for _, s := range spans {
			if s.service == service && s.Name == name {
				return s, true
			}
		}
		return receivedSpan{}, false
	}
	const rpc = "scimplane.worker.v1.Worker/Handle"
	var spans []receivedSpan
	// The worker's batch goes out every 50ms; wait for its spans.
	require.Eventually(t, func() bool {
		spans = recv.trace(traceID)
		_, ingress := byName(spans, "scimplane-controlplane", "PATCH /scim/:tenant/v2/*")
		_, server := byName(spans, "scimplane-worker", rpc)
		return ingress && server
	}, 20*time.Second, 50*time.Millisecond)

	ingress, _ := byName(spans, "scimplane-controlplane", "PATCH /scim/:tenant/v2/*")
	require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, ingress.Kind)
	require.Equal(t, hex.EncodeToString(callerSpan), ingress.parent(), "ingress continues the caller's trace")
	acquire, ok := byName(spans, "scimplane-controlplane", "workerpool.acquire")
	require.True(t, ok)
	require.Equal(t, ingress.id(), acquire.parent())
	client, ok := byName(spans, "scimplane-controlplane", rpc)
	require.True(t, ok)
	require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, client.Kind)
	require.Equal(t, ingress.id(), client.parent())
	server, _ := byName(spans, "scimplane-worker", rpc)
	require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, server.Kind)
	require.Equal(t, client.id(), server.parent(), "the worker's span is the plugin client's child")

	// Every worker span names the tenant and descends from the server span.
	parents := map[string]string{}
	for _, s := range spans {
		parents[s.id()] = s.parent()
	}
	under := func(s receivedSpan, ancestor string) bool {
		for p := s.parent(); p != ""; p = parents[p] {
			if p == ancestor {
				return true
			}
		}
		return false
	}
	var names []string
	for _, s := range spans {
		if s.service == "scimplane-worker" {
			require.Equal(t, a.ID, s.tenant, "span %s", s.Name)
			if s.id() != server.id() {
				require.True(t, under(s, server.id()), "span %s under the worker's server span", s.Name)
				names = append(names, s.Name)
			}
		}
	}
	for _, want := range []string{"store.acquire", "pg batch", "policy.decide", "scimlog.write"} {
		require.Contains(t, names, want)
	}
	// The member-add is two round trips: lock and read, then the writes
	// with COMMIT.
	batches := 0
	for _, s := range spans {
		if s.Name == "pg batch" {
			batches++
		}
	}
	require.Equal(t, 2, batches)
	t.Logf("trace %x of a member-add PATCH:\n%s", traceID, printTrace(spans, hex.EncodeToString(callerSpan)))
}

// printTrace draws the spans as a tree, children in start order.
func printTrace(spans []receivedSpan, root string) string {
	children := map[string][]receivedSpan{}
	for _, s := range spans {
		children[s.parent()] = append(children[s.parent()], s)
	}
	var b strings.Builder
	var t0 uint64
	for _, s := range children[root] {
		if t0 == 0 || s.StartTimeUnixNano < t0 {
			t0 = s.StartTimeUnixNano
		}
	}
	fmt.Fprintf(&b, "%-46s %-22s %9s %9s\n", "span", "service", "start ms", "took ms")
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		kids := children[parent]
		slices.SortFunc(kids, func(x, y receivedSpan) int { return int(int64(x.StartTimeUnixNano) - int64(y.StartTimeUnixNano)) })
		for _, s := range kids {
			fmt.Fprintf(&b, "%-46s %-22s %9.3f %9.3f\n", strings.Repeat("  ", depth)+s.Name, s.service,
				float64(s.StartTimeUnixNano-t0)/1e6, float64(s.duration().Microseconds())/1000)
			if len(s.Events) > 0 {
				var stmts []string
				for _, e := range s.Events {
					stmts = append(stmts, strings.TrimPrefix(e.Name, "pg "))
				}
				fmt.Fprintf(&b, "%s  [%s]\n", strings.Repeat("  ", depth), strings.Join(stmts, ", "))
			}
			walk(s.id(), depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

// A collector that cannot be reached costs SCIM requests nothing.
func TestRun_UnreachableCollectorCostsRequestsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	e := boot(t, map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": closed,
		"OTEL_BSP_SCHEDULE_DELAY":     "10",
	})
	a := e.createTenant("Untraced")
	for i := range 5 {
		r := e.scim(a.ID, a.Token, "POST", "/Users", []byte(fmt.Sprintf(`{"userName":"u%d@example.com"}`, i)))
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
	}
}

// Settings the control plane cannot use stop it at start, naming the
// variable.
func TestRun_UnusableTracingSettingsAreAConfigError(t *testing.T) {
	tests := []struct{ name, key, value, want string }{
		{"another exporter", "OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER"},
		{"grpc export", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"an endpoint that is no URL", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318", "OTLP traces endpoint"},
	}
	db := pgtest.NewDatabase(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{
				"DATABASE_URL": db, "SCIMPLANE_WORKER_BIN": workerBin, "SCIMPLANE_DATA_DIR": t.TempDir(),
				"SCIMPLANE_SECRET": "test-secret-0123456789abcdef0123456789", "SCIMPLANE_BOOTSTRAP_KEY": operatorKey,
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
				tc.key:                        tc.value,
			}
			cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
			require.NoError(t, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			cfg.Listener = ln
			// Should it start after all, it stops here.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = app.Run(ctx, cfg)
			require.ErrorContains(t, err, "config: tracing")
			require.ErrorContains(t, err, tc.want)
		})
	}
}
