package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestAllowListExportsNothingElse(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := NewProvider(exp, 1_000_000)
	linked := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	_, span := tp.Tracer("test").Start(context.Background(), "s",
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("user.name", "alice")}}))
	span.SetAttributes(
		attribute.String("url.full", "https://api/api/v1/pods?token=secret-token"),
		attribute.String("user_agent.original", "kubectl alice@example.com"),
		attribute.String("http.request.method", "GET"),
		attribute.Int("http.response.status_code", 200),
		AuthenticationKey.String("cache_hit"),
	)
	span.AddEvent("claims", trace.WithAttributes(attribute.String("email", "alice@example.com")))
	span.SetStatus(codes.Error, "token secret-token refused")
	span.End()
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	var keys []string
	for _, kv := range s.Attributes {
		keys = append(keys, string(kv.Key))
	}
	if got := strings.Join(keys, ","); got != "http.request.method,http.response.status_code,oidc_proxy.authentication" {
		t.Errorf("exported attributes %s", got)
	}
	if len(s.Events) != 0 || s.Status.Description != "" || s.Status.Code != codes.Error {
		t.Errorf("events %v, status %+v: want no events, the code without its description", s.Events, s.Status)
	}
	if len(s.Links) != 1 || len(s.Links[0].Attributes) != 0 || s.Links[0].SpanContext.TraceID() != linked.TraceID() {
		t.Errorf("links %+v: want the link without its attributes", s.Links)
	}
	if got := s.Resource.Attributes(); len(got) != 1 || got[0].Value.AsString() != ServiceName {
		t.Errorf("resource %v", got)
	}
}

func TestSamplingFollowsATrustedParentElseTheRate(t *testing.T) {
	parent := func(sampled bool) context.Context {
		cfg := trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, Remote: true}
		if sampled {
			cfg.TraceFlags = trace.FlagsSampled
		}
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg))
	}
	tests := []struct {
		name string
		rate int32
		ctx  context.Context
		want bool
	}{
		{"rate 0, no parent", 0, context.Background(), false},
		{"rate 0, sampled parent", 0, parent(true), true},
		{"every request, no parent", 1_000_000, context.Background(), true},
		{"every request, unsampled parent", 1_000_000, parent(false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := NewProvider(tracetest.NewNoopExporter(), tt.rate)
			_, span := tp.Tracer("t").Start(tt.ctx, "s")
			if got := span.SpanContext().IsSampled(); got != tt.want {
				t.Errorf("sampled %v, want %v", got, tt.want)
			}
			span.End()
		})
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".yaml")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, config, wantErr string
	}{
		{"v1beta1", "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nendpoint: 127.0.0.1:4317\nsamplingRatePerMillion: 100\n", ""},
		{"v1alpha1", "apiVersion: apiserver.config.k8s.io/v1alpha1\nkind: TracingConfiguration\n", ""},
		{"rate above a million", "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nsamplingRatePerMillion: 1000001\n", "samplingRatePerMillion"},
		{"http endpoint", "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nendpoint: http://collector:4318\n", "unsupported scheme"},
		{"unknown field", "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nendpont: x:1\n", "endpont"},
		{"another kind", "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n", "--tracing-config-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			o.ConfigFile = file(tt.config)
			errs := o.Validate()
			if tt.wantErr == "" {
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				tp, err := o.New(context.Background())
				if err != nil || tp == nil {
					t.Fatalf("New: %v, %v", tp, err)
				}
				if err := Shutdown(context.Background(), tp); err != nil {
					t.Errorf("Shutdown with nothing exported: %v", err)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr) {
				t.Errorf("errors %v, want one mentioning %q", errs, tt.wantErr)
			}
		})
	}
	t.Run("off without a file", func(t *testing.T) {
		tp, err := NewOptions().New(context.Background())
		if tp != nil || err != nil {
			t.Errorf("New = %v, %v; want nil, nil", tp, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if errs := (&Options{ConfigFile: filepath.Join(dir, "none"), Protocol: ProtocolGRPC}).Validate(); len(errs) != 1 {
			t.Errorf("errors %v", errs)
		}
	})
}

func TestTransportTracesSampledRequestsOnly(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := NewProvider(exp, 0)
	var got []string
	rt := Transport(tp)(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Header.Get("Traceparent"))
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	for _, sampled := range []bool{false, true} {
		cfg := trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{7}, Remote: true}
		if sampled {
			cfg.TraceFlags = trace.FlagsSampled
		}
		ctx, span := tp.Tracer("t").Start(trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg)), "request")
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://api/apis/authorization.k8s.io/v1/subjectaccessreviews", nil)
		res, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		span.End()
	}
	_ = tp.ForceFlush(context.Background())
	if len(got) != 2 || got[0] != "" || !strings.HasPrefix(got[1], "00-07000000000000000000000000000000-") {
		t.Errorf("traceparents sent %q: want none unsampled, the sampled trace's", got)
	}
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "SubjectAccessReview,request" {
		t.Errorf("spans %v, want the sampled request's SubjectAccessReview and request", names)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOTLPOverHTTP(t *testing.T) {
	got := make(chan []string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not OTLP/HTTP protobuf", http.StatusBadRequest)
			return
		}
		var names []string
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		got <- names
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	config := filepath.Join(t.TempDir(), "tracing.yaml")
	endpoint := strings.TrimPrefix(srv.URL, "http://")
	if err := os.WriteFile(config, []byte("apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nendpoint: "+endpoint+"\nsamplingRatePerMillion: 1000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &Options{ConfigFile: config, Protocol: ProtocolHTTP}
	if errs := o.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	tp, err := o.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "over-http")
	span.End()
	if err := Shutdown(context.Background(), tp); err != nil {
		t.Fatal(err)
	}
	select {
	case names := <-got:
		if strings.Join(names, ",") != "over-http" {
			t.Errorf("received spans %v", names)
		}
	default:
		t.Fatal("nothing exported over OTLP/HTTP")
	}
}

func TestProtocolValidation(t *testing.T) {
	o := &Options{Protocol: "thrift"}
	if errs := o.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), `--tracing-protocol "thrift": must be grpc or http/protobuf`) {
		t.Errorf("errors %v", errs)
	}
}
