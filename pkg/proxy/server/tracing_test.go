package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/tracing"
)

// TestTracingSpansAndPropagation runs the proxy with tracing on (every
// request sampled) and an in-memory exporter: a request gives one trace
// with the request span, the authentication (verified, then a cache hit),
// the SubjectAccessReview of a client's Impersonate-User and the upstream
// round trip, whose traceparent reaches the API server; a client's
// traceparent is continued only from a trusted peer; no span carries a
// token, a claim value or any attribute outside the allow-list.
func TestTracingSpansAndPropagation(t *testing.T) {
	p := oidctest.New(t)
	p.User.Groups = []string{"dev-team-secret"}
	var mu sync.Mutex
	var traceparents []string
	reviewing := newReviewingAPI(t, nil)
	api := apiservertest.New(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		mu.Unlock()
		reviewing.Config.Handler.ServeHTTP(w, r)
	})
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewProvider(exp, 1_000_000)
	rs := startServerWithTracing(t, api, p, tp, func(o *Options) { o.Modes.TrustedProxyCIDRs = []string{"127.0.0.0/8"} })

	good := p.IDToken(p.User)
	waitFor(t, "the authenticator", func() bool { code, _, _ := rs.get(t, rs.secure+"/api/v1/pods", good); return code == 200 })
	exp.Reset()
	mu.Lock()
	traceparents = nil
	mu.Unlock()

	clientTrace := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest(http.MethodGet, rs.secure+"/api/v1/namespaces/default/pods", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	req.Header.Set("Impersonate-User", "bob")
	req.Header.Set("Traceparent", clientTrace)
	res, err := rs.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, ok := byName["oidc-proxy"]
	if !ok {
		t.Fatalf("no request span among %v", names(spans))
	}
	if got := root.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace %s: the trusted peer's traceparent is not continued", got)
	}
	for _, name := range []string{"authenticate", "SubjectAccessReview", "upstream GET"} {
		s, ok := byName[name]
		if !ok {
			t.Errorf("no %q span among %v", name, names(spans))
			continue
		}
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("%s is in another trace", name)
		}
	}
	if a := attr(byName["authenticate"], "oidc_proxy.authentication"); a != "cache_hit" {
		t.Errorf("authenticate span: oidc_proxy.authentication = %q, want cache_hit", a)
	}
	if a := attr(root, "http.response.status_code"); a != "200" {
		t.Errorf("request span status code %q", a)
	}
	mu.Lock()
	sent := append([]string(nil), traceparents...)
	mu.Unlock()
	upstreamSpan := byName["upstream GET"].SpanContext.SpanID().String()
	var propagated bool
	for _, tpHeader := range sent {
		if strings.Contains(tpHeader, "4bf92f3577b34da6a3ce929d0e0e4736-"+upstreamSpan) {
			propagated = true
		}
	}
	if !propagated {
		t.Errorf("the API server never got the upstream span's traceparent: %q", sent)
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if !tracing.Allowed(kv.Key) {
				t.Errorf("span %s has attribute %s outside the allow-list", s.Name, kv.Key)
			}
			v := kv.Value.String()
			for _, secret := range []string{good, p.User.Subject, p.User.Email, "dev-team-secret", "bob"} {
				if secret != "" && strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s holds %q", s.Name, kv.Key, secret)
				}
			}
		}
		if len(s.Events) > 0 {
			t.Errorf("span %s has events", s.Name)
		}
	}

	t.Run("untrusted peer: a new trace, the client's traceparent not forwarded", func(t *testing.T) {
		rs := startServerWithTracing(t, api, p, tp)
		waitFor(t, "the authenticator", func() bool { code, _, _ := rs.get(t, rs.secure+"/api/v1/pods", good); return code == 200 })
		exp.Reset()
		mu.Lock()
		traceparents = nil
		mu.Unlock()
		req, _ := http.NewRequest(http.MethodGet, rs.secure+"/api/v1/pods", nil)
		req.Header.Set("Authorization", "Bearer "+good)
		req.Header.Set("Traceparent", clientTrace)
		res, err := rs.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		_ = tp.ForceFlush(context.Background())
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("span %s continues an untrusted client's trace", s.Name)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, h := range traceparents {
			if strings.Contains(h, "4bf92f3577b34da6a3ce929d0e0e4736") {
				t.Errorf("the untrusted client's traceparent reached the API server: %s", h)
			}
		}
	})
}

func names(spans tracetest.SpanStubs) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return n
}

func attr(s tracetest.SpanStub, key attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// startServerWithTracing is startServer with the tracer provider tp.
func startServerWithTracing(t *testing.T, up *apiservertest.Server, p *oidctest.Provider, tp oteltrace.TracerProvider, mods ...func(*Options)) *runningServer {
	ao := authn.NewOptions()
	ao.IssuerURL = p.Issuer
	ao.ClientID = p.ClientID
	ao.CAFile = p.CAFile(t)
	ao.GroupsClaim = "groups"
	ao.TracerProvider = tp
	return startServerWith(t, up, ao, append(mods, func(o *Options) { o.TracerProvider = tp })...)
}
