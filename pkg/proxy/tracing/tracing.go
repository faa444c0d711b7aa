// Package tracing is oidc-proxy's OpenTelemetry tracing: the tracer
// provider from a kube-apiserver TracingConfiguration file
// (--tracing-config-file: endpoint and samplingRatePerMillion, off without
// the file; OTLP over gRPC or HTTP, --tracing-protocol), the attribute allow-list every exported span passes
// through, and the transport wrapper that traces the proxy's calls to the
// API server and propagates W3C traceparent to it.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
	tracingapi "k8s.io/component-base/tracing/api/v1"
)

// ServiceName is the service.name of the proxy's spans.
const ServiceName = "oidc-proxy"

// Propagator reads and writes W3C traceparent/tracestate only: baggage
// from a client is never carried on.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// OTLP protocols of --tracing-protocol (the values of the OpenTelemetry
// variable OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Options are --tracing-config-file and --tracing-protocol.
type Options struct {
	ConfigFile string
	// Protocol is ProtocolGRPC (kube-apiserver's) or ProtocolHTTP.
	Protocol string
}

// NewOptions returns the defaults: tracing off, OTLP over gRPC.
func NewOptions() *Options { return &Options{Protocol: ProtocolGRPC} }

// AddFlags registers --tracing-config-file.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigFile, "tracing-config-file", o.ConfigFile,
		"File with a TracingConfiguration (apiVersion apiserver.config.k8s.io/v1beta1 or v1alpha1, as kube-apiserver's --tracing-config-file): "+
			"endpoint (OTLP gRPC, default localhost:4317) and samplingRatePerMillion (default 0: only requests whose trusted caller sampled them). "+
			"Without it tracing is off.")
	fs.StringVar(&o.Protocol, "tracing-protocol", o.Protocol,
		"OTLP protocol to the endpoint of --tracing-config-file: 'grpc' (kube-apiserver's) or 'http/protobuf' (POST http://ENDPOINT/v1/traces). Plaintext, as kube-apiserver's.")
}

// Validate reports an unreadable or invalid config file.
func (o *Options) Validate() []error {
	var errs []error
	if o.Protocol != ProtocolGRPC && o.Protocol != ProtocolHTTP {
		errs = append(errs, fmt.Errorf("--tracing-protocol %q: must be %s or %s", o.Protocol, ProtocolGRPC, ProtocolHTTP))
	}
	if o.ConfigFile != "" {
		if _, err := o.config(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (o *Options) config() (*tracingapi.TracingConfiguration, error) {
	cfg, err := apiserveroptions.ReadTracingConfiguration(o.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("--tracing-config-file: %w", err)
	}
	if errs := tracingapi.ValidateTracingConfiguration(cfg, nil, nil); len(errs) > 0 {
		return nil, fmt.Errorf("--tracing-config-file %s: %w", o.ConfigFile, errs.ToAggregate())
	}
	return cfg, nil
}

// New returns the tracer provider the config file describes, exporting
// over OTLP with Protocol, or nil when tracing is off. Shut it down at
// exit: that exports the spans still buffered.
func (o *Options) New(ctx context.Context) (*sdktrace.TracerProvider, error) {
	if o.ConfigFile == "" {
		return nil, nil
	}
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if o.Protocol == ProtocolHTTP {
		opts := []otlptracehttp.Option{otlptracehttp.WithInsecure()}
		if cfg.Endpoint != nil {
			opts = append(opts, otlptracehttp.WithEndpoint(*cfg.Endpoint))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	} else {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithInsecure()}
		if cfg.Endpoint != nil {
			opts = append(opts, otlptracegrpc.WithEndpoint(*cfg.Endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	var rate int32
	if cfg.SamplingRatePerMillion != nil {
		rate = *cfg.SamplingRatePerMillion
	}
	return NewProvider(exp, rate), nil
}

// NewProvider returns a tracer provider that samples as kube-apiserver's
// (k8s.io/component-base/tracing.NewProvider): a request whose parent span
// was sampled is sampled, others at ratePerMillion; its spans are batched to
// exp through the attribute allow-list (AllowList).
func NewProvider(exp sdktrace.SpanExporter, ratePerMillion int32) *sdktrace.TracerProvider {
	sampler := sdktrace.NeverSample()
	if ratePerMillion > 0 {
		sampler = sdktrace.TraceIDRatioBased(float64(ratePerMillion) / 1e6)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sampler)),
		sdktrace.WithBatcher(AllowList(exp)),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(ServiceName))),
	)
}

// Attribute keys the proxy sets.
const (
	// AuthenticationKey is how the token was judged: cache_hit, verified,
	// or the refusal (the result label of the authentication metrics).
	AuthenticationKey = attribute.Key("oidc_proxy.authentication")
	// VerbKey is the Kubernetes verb of the request.
	VerbKey = attribute.Key("k8s.verb")
)

// allowed are the only span attributes exported: none of them can carry a
// token, a claim or a name chosen by a user (no URL, path, query, header,
// user agent or identity).
var allowed = map[attribute.Key]bool{
	"http.request.method":       true,
	"http.response.status_code": true,
	"network.protocol.version":  true,
	"server.address":            true,
	"server.port":               true,
	AuthenticationKey:           true,
	VerbKey:                     true,
}

// Allowed tells whether a span attribute is exported.
func Allowed(k attribute.Key) bool { return allowed[k] }

// AllowList wraps exp so that it only ever sees the allowed attributes of
// a span and of its links, no events and no status description: whatever
// a library records (otelhttp records the full URL and the user agent),
// nothing else leaves the process.
func AllowList(exp sdktrace.SpanExporter) sdktrace.SpanExporter { return allowList{exp} }

type allowList struct{ sdktrace.SpanExporter }

func (a allowList) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	filtered := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		filtered[i] = filteredSpan{s}
	}
	return a.SpanExporter.ExportSpans(ctx, filtered)
}

type filteredSpan struct{ sdktrace.ReadOnlySpan }

func filter(kvs []attribute.KeyValue) []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, kv := range kvs {
		if allowed[kv.Key] {
			out = append(out, kv)
		}
	}
	return out
}

func (s filteredSpan) Attributes() []attribute.KeyValue { return filter(s.ReadOnlySpan.Attributes()) }
func (s filteredSpan) Events() []sdktrace.Event         { return nil }
func (s filteredSpan) DroppedEvents() int               { return 0 }
func (s filteredSpan) Links() []sdktrace.Link {
	links := s.ReadOnlySpan.Links()
	out := make([]sdktrace.Link, len(links))
	for i, l := range links {
		out[i] = sdktrace.Link{SpanContext: l.SpanContext, Attributes: filter(l.Attributes)}
	}
	return out
}
func (s filteredSpan) Status() sdktrace.Status {
	return sdktrace.Status{Code: s.ReadOnlySpan.Status().Code}
}

// Transport returns a client-go transport wrapper (rest.Config.Wrap) that
// gives each call of a sampled request to the API server a client span,
// named for what it is (SubjectAccessReview, TokenReview, or "upstream
// METHOD" for a forwarded request), and sends its traceparent. A call of a
// request that is not sampled goes out untouched (no span, no traceparent:
// the API server samples it at its own rate), at no cost.
func Transport(tp trace.TracerProvider) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return sampledOnly{plain: rt, traced: otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(Propagator),
			otelhttp.WithSpanNameFormatter(spanName))}
	}
}

type sampledOnly struct{ plain, traced http.RoundTripper }

func (s sampledOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(r.Context()).IsSampled() {
		return s.traced.RoundTrip(r)
	}
	return s.plain.RoundTrip(r)
}

func spanName(_ string, r *http.Request) string {
	switch r.URL.Path {
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		return "SubjectAccessReview"
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		return "TokenReview"
	}
	return "upstream " + r.Method
}

// Shutdown exports what is buffered and stops tp (nil: nothing to do).
func Shutdown(ctx context.Context, tp *sdktrace.TracerProvider) error {
	if tp == nil {
		return nil
	}
	return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx))
}
