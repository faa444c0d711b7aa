package authn

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/prometheus/client_golang/prometheus"
)

const v1 = "apiserver.config.k8s.io/v1"

// reloadUntilApplied calls Reload until it reports the new configuration in use.
func reloadUntilApplied(t *testing.T, a *tokenAuthenticator) {
	t.Helper()
	waitFor(t, "the new configuration to be applied", func() bool {
		applied, err := a.Reload()
		if err != nil {
			t.Fatalf("Reload: %v", err)
		}
		return applied
	})
}

func TestReload_ValidChangeIsAppliedInvalidChangeIsIgnored(t *testing.T) {
	t.Parallel()
	p1, p2 := oidctest.New(t), oidctest.New(t)
	path := filepath.Join(t.TempDir(), "authn.yaml")
	writeConfig(t, path, authConfig(v1, simpleJWT(p1, "one:")))
	o := NewOptions()
	o.AuthenticationConfigFile = path
	a, _ := newTestAuthenticator(t, o, true)
	tok1, tok2 := p1.IDToken(p1.User), p2.IDToken(p2.User)
	if name, _, _, _ := mustAuthenticate(t, a, tok1); name != "one:user-1" {
		t.Fatalf("username %q", name)
	}

	// Unchanged file: nothing to do.
	if applied, err := a.Reload(); applied || err != nil {
		t.Fatalf("unchanged file: applied=%v err=%v", applied, err)
	}

	invalid := map[string][]byte{
		"not YAML":          []byte("{{{"),
		"unknown field":     []byte("apiVersion: " + v1 + "\nkind: AuthenticationConfiguration\njwtt: []\n"),
		"bad CEL":           mustYAML(t, authConfig(v1, withUsernameExpression(simpleJWT(p2, "two:"), "claims.sub +"))),
		"http issuer":       mustYAML(t, authConfig(v1, withIssuerURL(simpleJWT(p2, "two:"), "http://127.0.0.1:1"))),
		"no authenticators": mustYAML(t, authConfig(v1)),
		"empty file":        {},
	}
	failures := 0.0
	for name, data := range invalid {
		writeFile(t, path, data)
		applied, err := a.Reload()
		if applied || err == nil {
			t.Fatalf("%s: applied=%v err=%v, want refused with an error", name, applied, err)
		}
		failures++
		// The same invalid content is not re-reported as a new failure.
		if _, err2 := a.Reload(); err2 == nil {
			t.Fatalf("%s: second Reload gave no error", name)
		}
		if got := counter(t, a, "reloads", "failure"); got != failures {
			t.Fatalf("%s: reload failures = %v, want %v", name, got, failures)
		}
		// The old configuration keeps serving (new tokens too, not only cached ones).
		mustAuthenticate(t, a, p1.IDToken(p1.User, func(c map[string]any) { c["jti"] = name }))
		mustRefuse(t, a, tok2)
	}

	writeConfig(t, path, authConfig(v1, simpleJWT(p2, "two:")))
	reloadUntilApplied(t, a)
	if name, _, _, _ := mustAuthenticate(t, a, tok2); name != "two:user-1" {
		t.Fatalf("after reload: username %q", name)
	}
	// The cache of the old configuration is gone with it: the token of the
	// removed issuer is refused even though it was cached.
	if err, nr := mustRefuse(t, a, tok1), (*IssuerNotReadyError)(nil); errors.As(err, &nr) {
		t.Fatalf("removed issuer: %v", err)
	}
	if got := counter(t, a, "reloads", "success"); got != 1 {
		t.Fatalf("reload successes = %v, want 1", got)
	}
}

func TestReload_NewConfigWaitsForItsIssuers(t *testing.T) {
	t.Parallel()
	p1, p2 := oidctest.New(t), oidctest.New(t)
	path := filepath.Join(t.TempDir(), "authn.yaml")
	writeConfig(t, path, authConfig(v1, simpleJWT(p1, "one:")))
	o := NewOptions()
	o.AuthenticationConfigFile = path
	a, _ := newTestAuthenticator(t, o, true)

	p2.SetDown(true)
	writeConfig(t, path, authConfig(v1, simpleJWT(p1, "one:"), simpleJWT(p2, "two:")))
	if applied, err := a.Reload(); applied || err != nil {
		t.Fatalf("issuer down: applied=%v err=%v, want pending", applied, err)
	}
	waitFor(t, "the pending issuer's failed discovery", func() bool {
		err := a.pending.set.healthCheck()
		return err != nil && !errorsContains(err, "not initialized")
	})
	if applied, _ := a.Reload(); applied {
		t.Fatal("applied while the new issuer is down")
	}
	// The old configuration serves meanwhile and readiness stays green.
	mustAuthenticate(t, a, p1.IDToken(p1.User))
	mustRefuse(t, a, p2.IDToken(p2.User))
	if err := a.HealthCheck(); err != nil {
		t.Fatalf("HealthCheck = %v while a new config is pending, want nil", err)
	}

	p2.SetDown(false)
	reloadUntilApplied(t, a)
	mustAuthenticate(t, a, p2.IDToken(p2.User))
	mustAuthenticate(t, a, p1.IDToken(p1.User, func(c map[string]any) { c["jti"] = "after" }))
}

func TestNew_ReloadLoopPicksUpChanges(t *testing.T) {
	t.Parallel()
	p1, p2 := oidctest.New(t), oidctest.New(t)
	path := filepath.Join(t.TempDir(), "authn.yaml")
	writeConfig(t, path, authConfig(v1, simpleJWT(p1, "one:")))
	o := NewOptions()
	o.AuthenticationConfigFile = path
	o.ConfigReloadInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, o, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "healthy", func() bool { return a.HealthCheck() == nil })
	writeConfig(t, path, authConfig(v1, simpleJWT(p2, "two:")))
	tok := p2.IDToken(p2.User)
	waitFor(t, "the reload loop to apply the new file", func() bool {
		_, ok, _ := a.AuthenticateToken(context.Background(), tok)
		return ok
	})
}

func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeConfig(t, path, v)
	data, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func withUsernameExpression(j jwtConfig, expr string) jwtConfig {
	j["claimMappings"] = map[string]any{"username": map[string]any{"expression": expr}}
	return j
}

func withIssuerURL(j jwtConfig, url string) jwtConfig {
	iss := j["issuer"].(map[string]any)
	iss["url"] = url
	return j
}
