package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/syncbuf"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

// fakeAuth maps tokens to users; other tokens fail with errs[token] or a
// plain "invalid token" error.
type fakeAuth struct {
	mu     sync.Mutex
	users  map[string]user.Info
	errs   map[string]error
	health error
	calls  int
}

func (f *fakeAuth) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if u, ok := f.users[token]; ok {
		return &authenticator.Response{User: u}, true, nil
	}
	if err, ok := f.errs[token]; ok {
		return nil, false, err
	}
	return nil, false, errors.New("invalid token")
}

func (f *fakeAuth) HealthCheck() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}

func (f *fakeAuth) setHealth(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health = err
}

const (
	aliceToken      = "alice-token-0123456789"
	proxyCredential = "proxy-own-credential-xyz"
)

var alice = &user.DefaultInfo{Name: "alice@example.com", Groups: []string{"dev", "ops"}}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{users: map[string]user.Info{aliceToken: alice}, errs: map[string]error{}}
}

// fakeUpstream is the recording fake API server.
type fakeUpstream = apiservertest.Server

func newUpstream(t *testing.T, h http.HandlerFunc) *fakeUpstream { return apiservertest.New(t, h) }

// waitFor polls cond until it holds; the OIDC authenticator of
// k8s.io/apiserver retries discovery every 10s, so 30s bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var testTimeouts = upstream.Timeouts{Dial: 5 * time.Second, TLSHandshake: 5 * time.Second, ResponseHeader: 30 * time.Second}

type testProxy struct {
	*httptest.Server
	logs    *syncBuffer
	metrics *Metrics
	reg     *prometheus.Registry
}

// syncBuffer collects output written from several goroutines.
type syncBuffer = syncbuf.Buffer

// newTestProxy serves the full handler chain in front of up.
func newTestProxy(t *testing.T, up *fakeUpstream, a authn.Authenticator, checks ...Check) *testProxy {
	t.Helper()
	upstreamT, err := upstream.New(up.RESTConfig(proxyCredential), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewHandler(Config{Authenticator: a, Upstream: upstreamT, Readiness: checks, Metrics: m, Log: log,
		AccessLog: NewAccessLog(logs, accesslog.JSON)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testProxy{Server: srv, logs: logs, metrics: m, reg: reg}
}

func (p *testProxy) do(t *testing.T, method, path string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// decodeStatus checks body is a Kubernetes Status with the given code.
func decodeStatus(t *testing.T, res *http.Response, body []byte, code int) metav1.Status {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status code %d, want %d; body %s", res.StatusCode, code, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("body is not a Status: %v: %s", err, body)
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure || int(st.Code) != code {
		t.Fatalf("unexpected Status %+v", st)
	}
	return st
}
