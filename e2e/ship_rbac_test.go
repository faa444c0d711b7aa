package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/token/jwt"
	"sigs.k8s.io/yaml"
)

// userExtras are the KEYs of the userextras/KEY resources a ClusterRole lets
// its subject impersonate (authentication.k8s.io), sorted.
func userExtras(role *rbacv1.ClusterRole) []string {
	var keys []string
	for _, r := range role.Rules {
		if !slices.Contains(r.APIGroups, "authentication.k8s.io") || !slices.Contains(r.Verbs, "impersonate") {
			continue
		}
		for _, res := range r.Resources {
			if k, ok := strings.CutPrefix(res, "userextras/"); ok {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// originalUserPrefix is oidc-proxy's default --impersonation-original-user-extra-prefix.
const originalUserPrefix = "originaluser.jetstack.io-"

// TestShipChartGrantsTheKustomizeExtras: the chart lets the proxy
// impersonate the same built-in extras as deploy/kustomize (which
// pkg/proxy's tests hold to proxy.BuiltinExtraKeys, with README.md): all of
// them with extraUserHeaderClientIP, all but remote-client-ip without, under
// the configured original-user prefix, plus the keys its values add
// (extraUserHeaders, claimMappings.extra, rbac.extraUserExtras).
func TestShipChartGrantsTheKustomizeExtras(t *testing.T) {
	var kustomizeRole rbacv1.ClusterRole
	findObject(t, splitObjects(t, renderShipped(t, "kustomize", "", "")), "ClusterRole", &kustomizeRole)
	builtin := userExtras(&kustomizeRole)
	if !slices.Contains(builtin, "authentication.kubernetes.io/credential-id") {
		t.Fatalf("deploy/kustomize grants userextras %q, without the credential ID of tokens with jti", builtin)
	}
	edit := func(add []string, drop ...string) []string {
		s := slices.DeleteFunc(slices.Clone(builtin), func(k string) bool { return slices.Contains(drop, k) })
		s = append(s, add...)
		slices.Sort(s)
		return s
	}
	withPrefix := func(prefix string) []string {
		var s []string
		for _, k := range builtin {
			if rest, ok := strings.CutPrefix(k, originalUserPrefix); ok {
				k = prefix + rest
			}
			s = append(s, k)
		}
		return s
	}
	fullOIDC := append(withPrefix("example.com/original-"), "team", "cluster", "reason")
	slices.Sort(fullOIDC)
	tests := []struct {
		name, values string
		want         []string
	}{
		{name: "minimal", values: chartMinimalValues, want: edit(nil, "remote-client-ip")},
		{name: "client IP", values: chartMinimalValues + "extraUserHeaderClientIP: true\n", want: builtin},
		{name: "every extra source and another prefix", values: chartFullOIDCValues, want: fullOIDC},
		{name: "claim mappings", values: `authenticationConfig:
  apiVersion: apiserver.config.k8s.io/v1
  kind: AuthenticationConfiguration
  jwt:
  - issuer: {url: https://dex.example.com, audiences: [kubernetes]}
    claimMappings:
      username: {claim: email, prefix: ""}
      extra: [{key: example.com/tenant, valueExpression: claims.tenant}]
`, want: edit([]string{"example.com/tenant"}, "remote-client-ip")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var role rbacv1.ClusterRole
			findObject(t, splitObjects(t, renderShipped(t, "helm", tt.values, "kube-oidc")), "ClusterRole", &role)
			if got := userExtras(&role); !slices.Equal(got, tt.want) {
				t.Errorf("the chart grants userextras %q, want %q", got, tt.want)
			}
		})
	}
}

// idpShape is an ID token as one kind of real provider issues it.
type idpShape struct {
	name   string
	claims map[string]any
	group  string // one group of the token, bound to read team-a (after the mapping's prefix)
}

// realIdPShapes are tokens shaped like those of Keycloak (jti, aud as an
// array with azp, nested realm roles, group paths), Okta (jti, hundreds of
// groups), Entra ID (no jti, GUID groups, oid/tid) and one with long claims.
func realIdPShapes(p *harness.Issuer) []idpShape {
	now := time.Now()
	base := func(email string, extra map[string]any) map[string]any {
		c := map[string]any{
			"iss": p.URL, "sub": "sub-" + email, "email": email, "email_verified": true,
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	var oktaGroups []any
	for i := range 300 {
		oktaGroups = append(oktaGroups, fmt.Sprintf("okta-group-%03d", i))
	}
	var entraGroups []any
	for i := range 60 {
		entraGroups = append(entraGroups, fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))
	}
	return []idpShape{
		{name: "keycloak (jti, aud array, azp, nested roles)", group: "idp:/org/platform/team-a", claims: base("kc@example.com", map[string]any{
			"jti": randomID(), "aud": []any{p.ClientID, "account"}, "azp": p.ClientID, "typ": "ID",
			"session_state": randomID(), "acr": "1", "preferred_username": "kc",
			"groups":       []any{"/org", "/org/platform", "/org/platform/team-a"},
			"realm_access": map[string]any{"roles": []any{"offline_access", "uma_authorization", "developer"}},
			"resource_access": map[string]any{
				"account": map[string]any{"roles": []any{"manage-account", "view-profile"}},
			},
		})},
		{name: "okta (jti, 300 groups)", group: "idp:okta-group-299", claims: base("okta@example.com", map[string]any{
			"jti": "ID." + randomID(), "aud": p.ClientID, "ver": 1, "amr": []any{"pwd", "mfa"},
			"idp": "00o1abcd", "auth_time": now.Unix(), "groups": oktaGroups,
		})},
		{name: "entra id (no jti, GUID groups)", group: "idp:" + entraGroups[59].(string), claims: base("entra@example.com", map[string]any{
			"aud": p.ClientID, "oid": randomID(), "tid": randomID(), "uti": randomID(), "rh": "0.AAAA", "ver": "2.0",
			"groups": entraGroups,
		})},
		{name: "long claims (jti)", group: "idp:" + strings.Repeat("g", 200), claims: base("long@example.com", map[string]any{
			"jti": strings.Repeat("j", 256), "aud": []any{p.ClientID}, "azp": p.ClientID,
			"groups":      []any{strings.Repeat("g", 200)},
			"description": strings.Repeat("a long claim ", 400),
		})},
	}
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// idpJWT is the AuthenticationConfiguration's jwt authenticator for p, an
// issuer whose groups come from two claims (Keycloak's groups and nested
// realm roles) with the prefix idp:, and whose uid is sub.
func idpJWT(p *harness.Issuer) map[string]any {
	return map[string]any{
		"issuer": map[string]any{"url": p.URL, "audiences": []string{p.ClientID}, "certificateAuthority": string(p.CAPEM)},
		"claimMappings": map[string]any{
			"username": map[string]any{"claim": "email", "prefix": ""},
			"groups": map[string]any{"expression": "((has(claims.groups) ? claims.groups : []) + " +
				"(has(claims.realm_access) && has(claims.realm_access.roles) ? claims.realm_access.roles : []))" +
				".map(g, 'idp:' + g)"},
			"uid": map[string]any{"claim": "sub"},
		},
	}
}

// authenticationConfig is an AuthenticationConfiguration of jwt authenticators.
func authenticationConfig(jwt ...map[string]any) (string, error) {
	b, err := yaml.Marshal(map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1",
		"kind":       "AuthenticationConfiguration",
		"jwt":        jwt,
	})
	return string(b), err
}

// idpAuthenticationConfig trusts Dex (as the other scenarios) and p (idpJWT).
func idpAuthenticationConfig(dex *harness.DexServer, p *harness.Issuer) (string, error) {
	dexCA, err := os.ReadFile(dex.CAFile)
	if err != nil {
		return "", err
	}
	return authenticationConfig(map[string]any{
		"issuer": map[string]any{"url": dex.Issuer, "audiences": []string{dex.ClientID}, "certificateAuthority": string(dexCA)},
		"claimMappings": map[string]any{
			"username": map[string]any{"claim": "email", "prefix": ""},
			"groups":   map[string]any{"claim": "groups", "prefix": groupsPrefix},
		},
	}, idpJWT(p))
}

// checkIdPShape compares what the API server saw of a request with s's
// token (a SelfSubjectReview) with the token: the user, the uid (sub), the
// bound group and, for a token with jti, the extra
// authentication.kubernetes.io/credential-id the token library adds.
func checkIdPShape(s idpShape, info authenticationv1.UserInfo) error {
	if info.Username != s.claims["email"] || info.UID != s.claims["sub"] || !slices.Contains(info.Groups, s.group) {
		return fmt.Errorf("%s: the API server sees %q uid %q groups %d (with %q: %v), want %q uid %q",
			s.name, info.Username, info.UID, len(info.Groups), s.group, slices.Contains(info.Groups, s.group), s.claims["email"], s.claims["sub"])
	}
	var want []string
	if jti, ok := s.claims["jti"].(string); ok {
		want = []string{jwt.CredentialIDForJTI(jti)}
	}
	if got := info.Extra["authentication.kubernetes.io/credential-id"]; !slices.Equal([]string(got), want) {
		return fmt.Errorf("%s: credential-id extra %q, want %q (all: %v)", s.name, got, want, info.Extra)
	}
	return nil
}

// TestShipRBACRealIdPTokenShapes: oidc-proxy in-cluster with only the
// shipped RBAC (kustomize, and the chart's defaults), trusting a second
// issuer through an AuthenticationConfiguration, serves the token shapes
// real providers issue: for each, the user reads team-a through one of the
// token's groups, and the API server sees the user, the uid and, for a token
// with jti, the extra authentication.kubernetes.io/credential-id that the
// token library adds (which the proxy forwards and so must be allowed to
// impersonate).
func TestShipRBACRealIdPTokenShapes(t *testing.T) {
	api := harness.StartAPIServer(t)
	dex := harness.StartDex(t, harness.DexOptions{})
	idp := harness.StartIssuer(t, "kubernetes")
	admin := api.AdminClient(t)
	k := adminKubectl(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	shapes := realIdPShapes(idp)
	var groups []string
	for _, s := range shapes {
		groups = append(groups, s.group)
	}
	if err := harness.CreateTeamNamespaces(ctx, admin, harness.TeamRBAC{TeamAGroups: groups}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	authConfig, err := idpAuthenticationConfig(dex, idp)
	if err != nil {
		t.Fatal(err)
	}
	authConfigFile := filepath.Join(t.TempDir(), "authentication-config.yaml")
	if err := os.WriteFile(authConfigFile, []byte(authConfig), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct{ form, values, namespace, serviceAccount string }{
		{form: "kustomize", namespace: "oidc-proxy", serviceAccount: "oidc-proxy"},
		{form: "helm", values: chartMinimalValues, namespace: "kube-oidc", serviceAccount: "oidc-oidc-proxy"},
	} {
		t.Run(tt.form, func(t *testing.T) {
			if tt.form != "kustomize" {
				if r := kubectlApply(ctx, k, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+tt.namespace+"}\n")); r.Err != nil {
					api.Fatalf(t, "namespace: %s", r)
				}
			}
			if r := kubectlApply(ctx, k, renderShipped(t, tt.form, tt.values, tt.namespace)); r.Err != nil {
				api.Fatalf(t, "kubectl apply: %s", r)
			}
			token := api.ServiceAccountToken(t, tt.namespace, tt.serviceAccount)
			p := harness.StartInClusterProxy(t, api, dex, tt.namespace, token, harness.ProxyOptions{AuthenticationConfig: authConfigFile})
			env := &proxyEnv{api: api, dex: dex, proxy: p, admin: admin}
			for _, s := range shapes {
				c := env.client(t, idp.Sign(t, s.claims))
				if _, err := c.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{}); err != nil {
					env.fatalf(t, "%s: list configmaps in team-a through the proxy with only the shipped RBAC: %v", s.name, err)
				}
				if err := checkIdPShape(s, whoami(t, ctx, env, c)); err != nil {
					env.fatalf(t, "%v", err)
				}
			}
			alice := env.passwordToken(t, ctx, harness.DexClientID, dex.Users[0])
			if info := whoami(t, ctx, env, env.client(t, alice)); info.Username != dex.Users[0].Email {
				env.fatalf(t, "Dex, the first issuer: the API server sees %q, want %q", info.Username, dex.Users[0].Email)
			}
		})
	}
}
