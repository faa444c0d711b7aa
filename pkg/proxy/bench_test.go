package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/client-go/rest"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/tracing"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

const benchBody = `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`

// cannedUpstream answers every request in memory, so the benchmarks measure
// the proxies themselves and not a network.
var cannedUpstream = roundTripperFunc(func(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    200,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(benchBody))}},
		ContentLength: int64(len(benchBody)),
		Body:          io.NopCloser(strings.NewReader(benchBody)),
		Request:       r,
	}, nil
})

// benchRequest serves one kubectl-like GET with token through h.
func benchRequest(h http.Handler, token string) error {
	req := httptest.NewRequest(http.MethodGet, "https://proxy/api/v1/namespaces/default/pods", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		return fmt.Errorf("code %d: %s", rec.Code, rec.Body)
	}
	return nil
}

func benchServe(b *testing.B, h http.Handler, token string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if err := benchRequest(h, token); err != nil {
			b.Fatal(err)
		}
	}
}

// benchServeParallel is benchServe from 16 goroutines per core: shared
// state (locks, atomic counters, metrics) then bounces between cores as it
// does under load.
func benchServeParallel(b *testing.B, h http.Handler, token string) {
	b.Helper()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := benchRequest(h, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// bareProxy is httputil.ReverseProxy with SetURL and SetXForwarded, and
// with pooled copy buffers if pool is not nil.
func bareProxy(target *url.URL, pool httputil.BufferPool) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport:  cannedUpstream,
		BufferPool: pool,
	}
}

func benchChain(b *testing.B, a authn.Authenticator) http.Handler {
	b.Helper()
	return benchChainTraced(b, a, nil)
}

// benchChainTraced is benchChain with tracing on when tp is set: the
// request span, and the upstream span through tracing.Transport.
func benchChainTraced(b *testing.B, a authn.Authenticator, tp trace.TracerProvider) http.Handler {
	b.Helper()
	target, _ := url.Parse("https://apiserver.example:6443")
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	// The proxy's own bearer token is added as in production.
	cfg := &rest.Config{BearerToken: proxyCredential}
	var tracer trace.Tracer
	if tp != nil {
		cfg.Wrap(tracing.Transport(tp))
		tracer = tp.Tracer(tracing.ServiceName)
	}
	withToken, err := rest.HTTPWrappersForConfig(cfg, cannedUpstream)
	if err != nil {
		b.Fatal(err)
	}
	return NewHandler(Config{
		Tracer:        tracer,
		Authenticator: a,
		Upstream:      &upstream.APIServer{URL: target, HTTP2: withToken, HTTP1: withToken},
		Metrics:       m,
		Log:           benchLogger,
		// The access log is formatted as in production, then discarded.
		AccessLog: NewAccessLog(io.Discard, accesslog.JSON),
	})
}

func realAuthenticator(b *testing.B, p *oidctest.Provider, cacheTTL time.Duration, tp trace.TracerProvider) authn.Authenticator {
	b.Helper()
	o := authn.NewOptions()
	o.TracerProvider = tp
	o.IssuerURL, o.ClientID, o.CAFile, o.GroupsClaim = p.Issuer, p.ClientID, p.CAFile(b), "groups"
	o.TokenCacheTTL = cacheTTL
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	a, err := authn.New(ctx, o, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for a.HealthCheck() != nil {
		if time.Now().After(deadline) {
			b.Fatal("issuer not discovered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a
}

// BenchmarkProxy compares the cost per request of a bare
// httputil.ReverseProxy with the full oidc-proxy chain on the same in-memory
// upstream: with a fake authenticator (the chain alone), with the real
// authenticator and a warm token cache, and with the cache off (one RS256
// signature check per request, no network).
func BenchmarkProxy(b *testing.B) {
	target, _ := url.Parse("https://apiserver.example:6443")
	b.Run("bare-reverseproxy", func(b *testing.B) {
		benchServe(b, bareProxy(target, nil), aliceToken)
	})
	b.Run("bare-reverseproxy-bufferpool", func(b *testing.B) {
		benchServe(b, bareProxy(target, copyBuffers), aliceToken)
	})
	b.Run("chain-fake-authenticator", func(b *testing.B) {
		benchServe(b, benchChain(b, newFakeAuth()), aliceToken)
	})
	p := oidctest.New(b)
	p.IDTokenTTL = time.Hour
	token := p.IDToken(p.User)
	b.Run("oidc-proxy-cache-hit", func(b *testing.B) {
		benchServe(b, benchChain(b, realAuthenticator(b, p, time.Hour, nil)), token)
	})
	for _, sampling := range []struct {
		name    string
		perMill int32
	}{{"unsampled", 0}, {"sampled", 1_000_000}} {
		b.Run("oidc-proxy-cache-hit-tracing-"+sampling.name, func(b *testing.B) {
			tp := tracing.NewProvider(tracetest.NewNoopExporter(), sampling.perMill)
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			benchServe(b, benchChainTraced(b, realAuthenticator(b, p, time.Hour, tp), tp), token)
		})
	}
	b.Run("oidc-proxy-cache-miss", func(b *testing.B) {
		benchServe(b, benchChain(b, realAuthenticator(b, p, 0, nil)), token)
	})
	b.Run("parallel/bare-reverseproxy-bufferpool", func(b *testing.B) {
		benchServeParallel(b, bareProxy(target, copyBuffers), aliceToken)
	})
	b.Run("parallel/chain-fake-authenticator", func(b *testing.B) {
		benchServeParallel(b, benchChain(b, newFakeAuth()), aliceToken)
	})
	b.Run("parallel/oidc-proxy-cache-hit", func(b *testing.B) {
		benchServeParallel(b, benchChain(b, realAuthenticator(b, p, time.Hour, nil)), token)
	})
}

var benchLogger = slog.New(slog.NewJSONHandler(io.Discard, nil))
