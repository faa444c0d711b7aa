package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

type allowAuthorizer struct{}

func (allowAuthorizer) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}

// BenchmarkModes is the cost of the mode steps on a warm request (token
// cache hit, decisions answered at once as from the review cache), beside
// the chain without them.
func BenchmarkModes(b *testing.B) {
	auth := newFakeAuth()
	policy := filepath.Join(b.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		b.Fatal(err)
	}
	ao := NewModeOptions()
	ao.Audit.PolicyFile = policy
	// A real file: the audit log backend (lumberjack) rotates its file by
	// renaming it once it has written MaxSize, and given os.DevNull it
	// renamed the machine's /dev/null away and put a regular file there.
	ao.Audit.LogOptions.Path = filepath.Join(b.TempDir(), "audit.log")
	audit, err := NewAudit(ao.Audit)
	if err != nil || audit == nil {
		b.Fatal(err)
	}
	endUser := func() *EndUserImpersonation {
		return &EndUserImpersonation{Authorizer: allowAuthorizer{}, Timeout: time.Second, OriginalUserPrefix: DefaultOriginalUserExtraPrefix}
	}
	tests := []struct {
		name   string
		modes  *Modes
		header http.Header
	}{
		{"no modes", nil, nil},
		{"default modes", &Modes{EndUser: endUser()}, nil},
		{"kubectl --as", &Modes{EndUser: endUser()}, http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"g1", "g2"}}},
		{"audit Metadata", &Modes{EndUser: endUser(), Audit: audit}, nil},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			target, _ := url.Parse("https://apiserver.example:6443")
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			h := NewHandler(Config{Authenticator: auth, Upstream: &upstream.APIServer{URL: target, HTTP2: cannedUpstream, HTTP1: cannedUpstream},
				Metrics: m, Log: benchLogger, Modes: tt.modes})
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "https://proxy/api/v1/namespaces/default/pods", nil)
				req.RemoteAddr = "127.0.0.1:40000"
				req.Header.Set("Authorization", "Bearer "+aliceToken)
				for k, v := range tt.header {
					req.Header[k] = v
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("code %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
