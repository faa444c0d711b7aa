package oidctest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// APIServer is a fake Kubernetes API server that answers SelfSubjectReviews
// (authentication.k8s.io/v1) for bearer ID tokens of its Provider: the
// username is the token's email claim, the groups its groups claim plus
// system:authenticated. Anything else gets 401 or 404 as a Status.
type APIServer struct {
	*httptest.Server
	reviews atomic.Int32
}

// NewAPIServer starts an APIServer over TLS for p; it stops when the test ends.
func (p *Provider) NewAPIServer(t testing.TB) *APIServer {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), p.HTTPClient())
	prov, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatalf("oidctest: API server discovery: %v", err)
	}
	verifier := prov.Verifier(&oidc.Config{ClientID: p.ClientID, Now: p.Now})
	a := &APIServer{}
	a.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/selfsubjectreviews" {
			writeStatus(w, http.StatusNotFound, "NotFound")
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		tok, err := verifier.Verify(ctx, raw)
		if err != nil {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		var claims struct {
			Email  string   `json:"email"`
			Groups []string `json:"groups"`
		}
		_ = tok.Claims(&claims)
		a.reviews.Add(1)
		writeJSON(w, http.StatusCreated, map[string]any{
			"apiVersion": "authentication.k8s.io/v1",
			"kind":       "SelfSubjectReview",
			"status": map[string]any{"userInfo": map[string]any{
				"username": claims.Email,
				"groups":   append(claims.Groups, "system:authenticated"),
			}},
		})
	}))
	t.Cleanup(a.Close)
	return a
}

// Reviews counts the SelfSubjectReviews answered for a valid token.
func (a *APIServer) Reviews() int { return int(a.reviews.Load()) }

func writeStatus(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason, "code": code,
	})
}
