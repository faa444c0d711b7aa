package authn

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// discoveryPaths are the API server's service-account issuer discovery
// documents, the usual anonymous paths.
var discoveryPaths = []any{
	map[string]any{"path": "/.well-known/openid-configuration"},
	map[string]any{"path": "/openid/v1/jwks"},
}

func withAnonymous(cfg map[string]any, enabled bool, conditions []any) map[string]any {
	anon := map[string]any{"enabled": enabled}
	if conditions != nil {
		anon["conditions"] = conditions
	}
	cfg["anonymous"] = anon
	return cfg
}

func TestAnonymous_ConditionsAuthenticateListedPathsOnly(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	path := filepath.Join(t.TempDir(), "authn.yaml")
	for _, version := range []string{v1, "apiserver.config.k8s.io/v1beta1"} {
		writeConfig(t, path, withAnonymous(authConfig(version, simpleJWT(p, "p:")), true, discoveryPaths))
		o := NewOptions()
		o.AuthenticationConfigFile = path
		a, _ := newTestAuthenticator(t, o, false)
		anon := a.Anonymous()
		if anon == nil {
			t.Fatalf("%s: no anonymous authenticator for a configuration with conditions", version)
		}
		tests := []struct {
			path string
			want bool
		}{
			{"/.well-known/openid-configuration", true},
			{"/openid/v1/jwks", true},
			{"/api", false},
			{"/openid/v1/jwks/", false},
			{"/.well-known/openid-configuration/../../api", false},
			{"/", false},
		}
		for _, tt := range tests {
			resp, ok, err := anon.AuthenticateRequest(httptest.NewRequest("GET", "https://proxy"+tt.path, nil))
			if err != nil || ok != tt.want {
				t.Fatalf("%s %s: ok=%v err=%v, want ok=%v", version, tt.path, ok, err, tt.want)
			}
			if ok && (resp.User.GetName() != "system:anonymous" ||
				strings.Join(resp.User.GetGroups(), ",") != "system:unauthenticated") {
				t.Fatalf("%s %s: user %q groups %q", version, tt.path, resp.User.GetName(), resp.User.GetGroups())
			}
		}
	}
}

func TestAnonymous_OffUnlessEnabledWithConditions(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	dir := t.TempDir()

	// No anonymous section, or enabled: false: no anonymous authenticator.
	for name, cfg := range map[string]map[string]any{
		"absent":   authConfig(v1, simpleJWT(p, "p:")),
		"disabled": withAnonymous(authConfig(v1, simpleJWT(p, "p:")), false, nil),
	} {
		path := filepath.Join(dir, name+".yaml")
		writeConfig(t, path, cfg)
		o := NewOptions()
		o.AuthenticationConfigFile = path
		a, _ := newTestAuthenticator(t, o, false)
		if a.Anonymous() != nil {
			t.Fatalf("%s: anonymous authenticator without anonymous.enabled", name)
		}
	}
	legacy, _ := newTestAuthenticator(t, legacyOptions(t, p), false)
	if legacy.Anonymous() != nil {
		t.Fatal("--oidc-* flags: anonymous authenticator")
	}

	// Enabled for every path (kube-apiserver's --anonymous-auth) is refused:
	// the proxy forwards anonymous requests only on listed paths.
	for name, tt := range map[string]struct {
		cfg     map[string]any
		wantErr string
	}{
		"enabled without conditions": {withAnonymous(authConfig(v1, simpleJWT(p, "p:")), true, nil), "anonymous.conditions"},
		"conditions while disabled":  {withAnonymous(authConfig(v1, simpleJWT(p, "p:")), false, discoveryPaths), "enabled should be set to true"},
		"empty path":                 {withAnonymous(authConfig(v1, simpleJWT(p, "p:")), true, []any{map[string]any{"path": ""}}), "anonymous.conditions[0].path"},
		"relative path":              {withAnonymous(authConfig(v1, simpleJWT(p, "p:")), true, []any{map[string]any{"path": "openid/v1/jwks"}}), "anonymous.conditions[0].path"},
	} {
		path := filepath.Join(dir, "bad.yaml")
		writeConfig(t, path, tt.cfg)
		o := NewOptions()
		o.AuthenticationConfigFile = path
		errs := o.Validate()
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.wantErr) {
			t.Fatalf("%s: Validate = %v, want an error naming %q", name, errs, tt.wantErr)
		}
	}
}

// A reload may not change the anonymous section, as at kube-apiserver.
func TestReload_AnonymousSectionCannotChange(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	path := filepath.Join(t.TempDir(), "authn.yaml")
	writeConfig(t, path, withAnonymous(authConfig(v1, simpleJWT(p, "p:")), true, discoveryPaths[:1]))
	o := NewOptions()
	o.AuthenticationConfigFile = path
	a, _ := newTestAuthenticator(t, o, true)

	writeConfig(t, path, withAnonymous(authConfig(v1, simpleJWT(p, "p:")), true, discoveryPaths))
	applied, err := a.Reload()
	if applied || err == nil || !strings.Contains(err.Error(), "anonymous: Forbidden: changed from initial configuration file") {
		t.Fatalf("Reload with a changed anonymous section: applied=%v err=%v", applied, err)
	}
	if _, ok, _ := a.Anonymous().AuthenticateRequest(httptest.NewRequest("GET", "/openid/v1/jwks", nil)); ok {
		t.Fatal("the refused anonymous section is in use")
	}

	// The same section with another issuer prefix reloads.
	writeConfig(t, path, withAnonymous(authConfig(v1, simpleJWT(p, "q:")), true, discoveryPaths[:1]))
	reloadUntilApplied(t, a)
	if name, _, _, _ := mustAuthenticate(t, a, p.IDToken(p.User)); name != "q:user-1" {
		t.Fatalf("after reload: username %q", name)
	}
}
