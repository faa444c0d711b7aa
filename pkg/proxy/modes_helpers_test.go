package proxy

import (
	"encoding/json"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

const (
	sarPath = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
	trPath  = "/apis/authentication.k8s.io/v1/tokenreviews"
)

// fakeKubeAPI answers SubjectAccessReviews and TokenReviews like
// kube-apiserver, records them, and serves 200 JSON for anything else.
type fakeKubeAPI struct {
	mu sync.Mutex
	// allow decides a SubjectAccessReview; nil denies all.
	allow func(spec authorizationv1.SubjectAccessReviewSpec) (bool, string)
	// sarHook, when set, runs before a review is answered (blocking tests).
	sarHook func(r *http.Request)
	// sarFail answers every review with 500.
	sarFail bool
	// tokens the TokenReview accepts, with the audiences it reports.
	tokens    map[string]authenticationv1.UserInfo
	tokenAuds []string
	sars      []authorizationv1.SubjectAccessReviewSpec
	trs       []authenticationv1.TokenReviewSpec
	// upstreamCode answers non-review requests with this code (0: 200).
	upstreamCode int
}

func (f *fakeKubeAPI) handler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case sarPath:
		var sar authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&sar); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.sars = append(f.sars, sar.Spec)
		allow, hook, fail := f.allow, f.sarHook, f.sarFail
		f.mu.Unlock()
		if hook != nil {
			hook(r)
		}
		if fail {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if allow != nil {
			sar.Status.Allowed, sar.Status.Reason = allow(sar.Spec)
		}
		if !sar.Status.Allowed && sar.Status.Reason == "" {
			sar.Status.Reason = "no RBAC policy matched"
		}
		writeJSON(w, sar)
	case trPath:
		var tr authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.trs = append(f.trs, tr.Spec)
		u, ok := f.tokens[tr.Spec.Token]
		auds := f.tokenAuds
		f.mu.Unlock()
		tr.Status.Authenticated = ok
		if ok {
			tr.Status.User = u
			tr.Status.Audiences = auds
		} else {
			tr.Status.Error = "invalid bearer token"
		}
		writeJSON(w, tr)
	default:
		if f.upstreamCode != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.upstreamCode)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":401}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","items":[]}`)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeKubeAPI) reviews() ([]authorizationv1.SubjectAccessReviewSpec, []authenticationv1.TokenReviewSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]authorizationv1.SubjectAccessReviewSpec(nil), f.sars...), append([]authenticationv1.TokenReviewSpec(nil), f.trs...)
}

// forwarded are the upstream requests that are not reviews.
func forwarded(up *fakeUpstream) []apiservertest.Request {
	var out []apiservertest.Request
	for _, r := range up.Requests() {
		if r.Path != sarPath && r.Path != trPath {
			out = append(out, r)
		}
	}
	return out
}

// newModesProxy serves the handler chain with modes built by NewModes from
// o, against the fake API up.
func newModesProxy(t *testing.T, up *fakeUpstream, a authn.Authenticator, o *ModeOptions) *testProxy {
	t.Helper()
	return newModesProxyServer(t, up, a, o, false)
}

// newModesProxyH2 is newModesProxy served over TLS with HTTP/2, which
// carries header values exactly as sent (HTTP/1.1 trims their padding).
func newModesProxyH2(t *testing.T, up *fakeUpstream, a authn.Authenticator, o *ModeOptions) *testProxy {
	t.Helper()
	return newModesProxyServer(t, up, a, o, true)
}

func newModesProxyServer(t *testing.T, up *fakeUpstream, a authn.Authenticator, o *ModeOptions, h2 bool) *testProxy {
	t.Helper()
	if errs := o.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	modes, err := NewModes(up.RESTConfig(proxyCredential), o, testTimeouts, log)
	if err != nil {
		t.Fatal(err)
	}
	if modes.Audit != nil {
		stop := make(chan struct{})
		if err := modes.Audit.Backend.Run(stop); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { close(stop); modes.Audit.Backend.Shutdown() })
	}
	upstreamT, err := upstream.New(up.RESTConfig(proxyCredential), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if modes.TokenReviewsThrottled != nil {
		reg.MustRegister(modes.TokenReviewsThrottled)
	}
	clientIP, err := NewClientIPResolver(o.TrustedProxyCIDRs)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(Config{Authenticator: a, Upstream: upstreamT, Metrics: m, Log: log, Modes: modes,
		ClientIP: clientIP, AccessLog: NewAccessLog(logs, accesslog.JSON)})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // TLS handshakes cut short by the test's end
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &testProxy{Server: srv, logs: logs, metrics: m, reg: reg}
}

// extrasOf decodes Impersonate-Extra-* headers as kube-apiserver does.
func extrasOf(t *testing.T, h http.Header) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for k, v := range h {
		if suffix, ok := strings.CutPrefix(k, "Impersonate-Extra-"); ok {
			key, err := url.PathUnescape(strings.ToLower(suffix))
			if err != nil {
				t.Fatalf("extra header %q does not decode: %v", k, err)
			}
			out[key] = v
		}
	}
	return out
}

func pflagSet(o *ModeOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	o.AddAuditFlags(fs)
	return fs
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func joinErr(a, b error) error { return errors.Join(a, b) }
