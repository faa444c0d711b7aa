package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

func TestPanicIsA500StatusWithoutStack(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := WithAccessLog(WithRecovery(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom: secret-internal-state")
	}), log), NewAccessLog(&logs, accesslog.JSON))
	srv := httptest.NewServer(h)
	res, err := srv.Client().Get(srv.URL + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	srv.Close()
	st := decodeStatus(t, res, body, http.StatusInternalServerError)
	if st.Message != "Internal error in oidc-proxy" {
		t.Errorf("message %q", st.Message)
	}
	if strings.Contains(string(body), "goroutine") || strings.Contains(string(body), "secret-internal-state") {
		t.Errorf("panic details reached the client: %s", body)
	}
	if !strings.Contains(logs.String(), "boom: secret-internal-state") || !strings.Contains(logs.String(), `"code":500`) {
		t.Errorf("panic not logged as a 500: %s", logs.String())
	}
}

func TestReadinessFollowsChecksBothWays(t *testing.T) {
	fa := newFakeAuth()
	var apiReady atomic.Bool
	apiReady.Store(true)
	apiUp := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			t.Errorf("readiness probed %s", r.URL.Path)
		}
		if r.Header.Get("Authorization") != "Bearer "+proxyCredential {
			t.Errorf("readiness probe without the proxy's credential")
		}
		if r.Header.Get("Impersonate-User") != "" {
			t.Errorf("readiness probe impersonates")
		}
		if !apiReady.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	upT, err := upstream.New(apiUp.RESTConfig(proxyCredential), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ready := ReadyHandler([]Check{AuthenticatorCheck(fa), UpstreamCheck(upT.HTTP2, upT.URL, 5*time.Second)}, log)
	h := WithHealth(http.NotFoundHandler(), ready)

	probe := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	steps := []struct {
		name     string
		authErr  error
		apiReady bool
		want     int
		wantBody string
	}{
		{"both ready", nil, true, 200, "ok"},
		{"issuer not reachable", errors.New("oidc: discovery failed"), true, 503, "[-]authenticator failed: reason withheld"},
		{"issuer back", nil, true, 200, "ok"},
		{"API server not ready", nil, false, 503, "[-]apiserver failed: reason withheld"},
		{"API server back", nil, true, 200, "ok"},
	}
	for _, s := range steps {
		fa.setHealth(s.authErr)
		apiReady.Store(s.apiReady)
		code, body := probe("/readyz")
		if code != s.want || !strings.Contains(body, s.wantBody) {
			t.Fatalf("%s: /readyz = %d %q, want %d containing %q", s.name, code, body, s.want, s.wantBody)
		}
		if strings.Contains(body, "discovery failed") {
			t.Fatalf("%s: failure reason shown to anonymous callers: %q", s.name, body)
		}
		// Liveness never depends on the checks.
		for _, p := range []string{"/healthz", "/livez"} {
			if code, _ := probe(p); code != 200 {
				t.Fatalf("%s: %s = %d", s.name, p, code)
			}
		}
	}
	apiUp.Close()
	if code, _ := probe("/readyz"); code != 503 {
		t.Fatalf("API server down: /readyz = %d, want 503", code)
	}
	if code, body := probe("/readyz?verbose"); code != 503 || !strings.Contains(body, "[+]authenticator ok") {
		t.Fatalf("verbose: %d %q", code, body)
	}
}

func TestPendingAuthenticatorBecomesReady(t *testing.T) {
	p := NewPendingAuthenticator()
	var unavailable *authn.UnavailableError
	if err := p.HealthCheck(); !errors.As(err, &unavailable) {
		t.Fatalf("HealthCheck before Set = %v", err)
	}
	if _, ok, err := p.AuthenticateToken(context.Background(), aliceToken); ok || !errors.As(err, &unavailable) {
		t.Fatalf("AuthenticateToken before Set = %v %v", ok, err)
	}
	p.Set(newFakeAuth())
	if err := p.HealthCheck(); err != nil {
		t.Fatalf("HealthCheck after Set = %v", err)
	}
	if r, ok, err := p.AuthenticateToken(context.Background(), aliceToken); !ok || err != nil || r.User.GetName() != alice.Name {
		t.Fatalf("AuthenticateToken after Set = %v %v %v", r, ok, err)
	}
}

func TestStripIdentity(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"authorization", http.Header{"Authorization": {"Bearer x"}, "Accept": {"a"}}, http.Header{"Accept": {"a"}}},
		{"impersonate and remote", http.Header{"Impersonate-Uid": {"1"}, "X-Remote-User": {"u"}, "X-Remote-Extra-A": {"b"}}, http.Header{}},
		{"websocket bearer entry only", http.Header{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.eA, v5.channel.k8s.io", "v4.channel.k8s.io"}},
			http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io, v4.channel.k8s.io"}}},
		{"connection options naming identity headers", http.Header{"Connection": {"Upgrade, Impersonate-User", "x-remote-user"}},
			http.Header{"Connection": {"Upgrade"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.in.Clone()
			stripIdentity(h)
			if len(h) != len(tt.want) {
				t.Fatalf("got %v, want %v", h, tt.want)
			}
			for k, v := range tt.want {
				if strings.Join(h[k], "|") != strings.Join(v, "|") {
					t.Fatalf("%s = %q, want %q", k, h[k], v)
				}
			}
		})
	}
}
