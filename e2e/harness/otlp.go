package harness

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
)

// OTLPReceiver is a minimal OpenTelemetry collector: an OTLP/gRPC trace
// service that keeps every span it receives.
type OTLPReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	// Endpoint is host:port, as a TracingConfiguration's endpoint.
	Endpoint string
	mu       sync.Mutex
	spans    []ReceivedSpan
}

// ReceivedSpan is one received span with the service that sent it.
type ReceivedSpan struct {
	Service                       string
	Name                          string
	TraceID, SpanID, ParentSpanID string // hex
	// Attributes of the span, its events and links, and of its resource.
	Attributes map[string]string
}

// StartOTLPReceiver serves the OTLP/gRPC trace service on a free loopback
// port until the test ends.
func StartOTLPReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &OTLPReceiver{Endpoint: ln.Addr().String()}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, r)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return r
}

// Export implements the OTLP trace service.
func (r *OTLPReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		resource := map[string]string{}
		addAttributes(resource, "resource.", rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for k, v := range resource {
					attrs[k] = v
				}
				addAttributes(attrs, "", s.GetAttributes())
				for _, e := range s.GetEvents() {
					addAttributes(attrs, "event."+e.GetName()+".", e.GetAttributes())
				}
				for i, l := range s.GetLinks() {
					addAttributes(attrs, fmt.Sprintf("link%d.", i), l.GetAttributes())
				}
				r.spans = append(r.spans, ReceivedSpan{
					Service: resource["resource.service.name"], Name: s.GetName(),
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), Attributes: attrs,
				})
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func addAttributes(into map[string]string, prefix string, kvs []*commonv1.KeyValue) {
	for _, kv := range kvs {
		into[prefix+kv.GetKey()] = anyValue(kv.GetValue())
	}
}

func anyValue(v *commonv1.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		return x.StringValue
	case *commonv1.AnyValue_ArrayValue:
		s := ""
		for _, e := range x.ArrayValue.GetValues() {
			s += anyValue(e) + ","
		}
		return s
	}
	return fmt.Sprint(v.GetValue())
}

// Spans returns the spans received so far.
func (r *OTLPReceiver) Spans() []ReceivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReceivedSpan(nil), r.spans...)
}

// TracingConfigFile writes a TracingConfiguration (kube-apiserver's and
// oidc-proxy's --tracing-config-file) exporting to endpoint with the
// sampling rate given, and returns the flag.
func TracingConfigFile(t testing.TB, endpoint string, samplingRatePerMillion int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tracing.yaml")
	mustWrite(t, path, fmt.Sprintf("apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nendpoint: %s\nsamplingRatePerMillion: %d\n",
		endpoint, samplingRatePerMillion))
	return "--tracing-config-file=" + path
}
