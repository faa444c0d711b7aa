package proxy

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/tracing"
)

var serverSpan = trace.WithSpanKind(trace.SpanKindServer)

// traceHeaders are the W3C trace context headers a client may send.
var traceHeaders = []string{"Traceparent", "Tracestate"}

// withTracing gives each request a server span "oidc-proxy" with its
// method, Kubernetes verb and status code (nothing a client chose). A
// client's traceparent is continued only when the TCP peer is trusted
// (--trusted-proxy-cidrs); from any other peer it is removed, so the trace
// starts here and the API server sees the proxy's traceparent alone.
// Without a tracer NewHandler does not add this step.
func withTracing(next http.Handler, tracer trace.Tracer, peers *ClientIPResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		ctx := r.Context()
		if peers.TrustsPeer(r) {
			ctx = tracing.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		} else {
			for _, h := range traceHeaders {
				r.Header.Del(h)
			}
		}
		ctx, span := tracer.Start(ctx, tracing.ServiceName, serverSpan)
		if !span.IsRecording() { // not sampled: only its context travels on
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		span.SetAttributes(attribute.String("http.request.method", r.Method), tracing.VerbKey.String(rec.verb))
		defer func() {
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			span.SetAttributes(attribute.Int("http.response.status_code", code))
			span.End()
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
