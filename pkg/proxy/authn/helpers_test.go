package authn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/yaml"
)

// waitTimeout bounds condition waits. k8s.io/apiserver's OIDC authenticator
// retries discovery every 10s, so an issuer that comes back is seen within ~10s.
const waitTimeout = 30 * time.Second

// legacyOptions configures the --oidc-* form for provider p.
func legacyOptions(t testing.TB, p *oidctest.Provider) *Options {
	t.Helper()
	o := NewOptions()
	o.IssuerURL = p.Issuer
	o.ClientID = p.ClientID
	o.CAFile = p.CAFile(t)
	o.GroupsClaim = "groups"
	return o
}

// newTestAuthenticator builds the authenticator without the background reload
// loop (tests call Reload) and waits until its issuers are discovered unless
// the test says otherwise.
func newTestAuthenticator(t testing.TB, o *Options, waitReady bool) (*tokenAuthenticator, *prometheus.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := prometheus.NewRegistry()
	a, err := newTokenAuthenticator(ctx, o, reg)
	if err != nil {
		t.Fatalf("newTokenAuthenticator: %v", err)
	}
	if waitReady {
		waitFor(t, "authenticator healthy", func() bool { return a.HealthCheck() == nil })
	}
	return a, reg
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustAuthenticate(t testing.TB, a Authenticator, token string) (name string, groups []string, uid string, extra map[string][]string) {
	t.Helper()
	resp, ok, err := a.AuthenticateToken(context.Background(), token)
	if err != nil || !ok {
		t.Fatalf("AuthenticateToken: ok=%v err=%v, want accepted", ok, err)
	}
	u := resp.User
	return u.GetName(), u.GetGroups(), u.GetUID(), u.GetExtra()
}

func mustRefuse(t testing.TB, a Authenticator, token string) error {
	t.Helper()
	resp, ok, err := a.AuthenticateToken(context.Background(), token)
	if ok || resp != nil || err == nil {
		t.Fatalf("AuthenticateToken: ok=%v resp=%v err=%v, want refused with an error", ok, resp, err)
	}
	if len(token) > 8 && strings.Contains(err.Error(), token) {
		t.Fatalf("error contains the token: %v", err)
	}
	return err
}

func counter(t testing.TB, a *tokenAuthenticator, vec string, label string) float64 {
	t.Helper()
	switch vec {
	case "results":
		return testutil.ToFloat64(a.metrics.results.WithLabelValues(label))
	case "cache":
		return testutil.ToFloat64(a.metrics.cache.WithLabelValues(label))
	case "reloads":
		return testutil.ToFloat64(a.metrics.reloads.WithLabelValues(label))
	}
	t.Fatalf("unknown metric %s", vec)
	return 0
}

// writeConfig writes an AuthenticationConfiguration (given as a Go value) to
// path as YAML, atomically.
func writeConfig(t testing.TB, path string, cfg any) {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	writeFile(t, path, data)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// jwtConfig is one jwt entry of an AuthenticationConfiguration.
type jwtConfig = map[string]any

func authConfig(apiVersion string, jwts ...jwtConfig) map[string]any {
	return map[string]any{
		"apiVersion": apiVersion,
		"kind":       "AuthenticationConfiguration",
		"jwt":        jwts,
	}
}

// simpleJWT maps username from sub with prefix, groups from groups with prefix.
func simpleJWT(p *oidctest.Provider, prefix string) jwtConfig {
	return jwtConfig{
		"issuer": map[string]any{
			"url":                  p.Issuer,
			"audiences":            []string{p.ClientID},
			"certificateAuthority": string(p.CAPEM()),
		},
		"claimMappings": map[string]any{
			"username": map[string]any{"claim": "sub", "prefix": prefix},
			"groups":   map[string]any{"claim": "groups", "prefix": prefix},
		},
	}
}

// fakeClock is a settable clock for the token cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func isForbidden(err error) (*ForbiddenIdentityError, bool) {
	var f *ForbiddenIdentityError
	ok := errors.As(err, &f)
	return f, ok
}

// gauge reads a gauge without labels from reg.
func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("gauge %s not found", name)
	return 0
}
