package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// TestProxyAnonymousDiscoveryPaths: the AuthenticationConfiguration's
// anonymous section with the two service-account issuer discovery paths as
// conditions, in front of a kube-apiserver that refuses anonymous clients
// itself (--anonymous-auth=false) and publishes the discovery documents to
// system:unauthenticated (the ClusterRole kube-apiserver ships for it):
// through the proxy both paths return kube-apiserver's own documents,
// byte for byte, to a client with no credential (the proxy is the cluster's
// only public endpoint); /api and a bad token on a listed path are the
// proxy's 401.
func TestProxyAnonymousDiscoveryPaths(t *testing.T) {
	api := harness.StartAPIServerWithArgs(t, "--anonymous-auth=false")
	iss := harness.StartIssuer(t, "kube-oidc-e2e")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	admin := api.AdminClient(t)
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "service-account-issuer-discovery-public"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:service-account-issuer-discovery"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{}); err != nil {
		api.Fatalf(t, "ClusterRoleBinding: %v", err)
	}

	const wellKnown, jwks = "/.well-known/openid-configuration", "/openid/v1/jwks"
	cfg, err := yaml.Marshal(map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1",
		"kind":       "AuthenticationConfiguration",
		"jwt":        []any{idpJWT(iss)},
		"anonymous": map[string]any{"enabled": true, "conditions": []any{
			map[string]any{"path": wellKnown}, map[string]any{"path": jwks},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "authentication-config.yaml")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := harness.StartProxyForIssuer(t, api, iss, harness.ProxyOptions{AuthenticationConfig: cfgFile})
	env := &proxyEnv{api: api, proxy: p, admin: admin}

	for _, path := range []string{wellKnown, jwks} {
		want, err := admin.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
		if err != nil {
			api.Fatalf(t, "admin GET %s: %v", path, err)
		}
		code, _, body := env.rawGet(t, ctx, path, nil)
		if code != http.StatusOK || body != string(want) {
			env.fatalf(t, "anonymous GET %s through the proxy: %d %s, want kube-apiserver's 200 %s", path, code, body, want)
		}
		if code := anonymousDirect(t, ctx, api, path); code != http.StatusUnauthorized {
			env.fatalf(t, "anonymous GET %s at kube-apiserver (--anonymous-auth=false): %d, want 401", path, code)
		}
		code, st, body := env.rawGet(t, ctx, path, bearer("not-a-token-0123456789"))
		if code != http.StatusUnauthorized || st.Kind != "Status" {
			env.fatalf(t, "GET %s with a bad token: %d %s, want the proxy's 401", path, code, body)
		}
	}
	code, st, body := env.rawGet(t, ctx, "/api", nil)
	if code != http.StatusUnauthorized || st.Kind != "Status" || st.Reason != "Unauthorized" {
		env.fatalf(t, "anonymous GET /api: %d %s, want the proxy's 401", code, body)
	}
	// A token still works on a listed path, as its user.
	code, _, body = env.rawGet(t, ctx, jwks, bearer(iss.IDToken(t, "eve@example.com", []string{"dev"})))
	if code != http.StatusForbidden {
		env.fatalf(t, "GET %s as eve (not bound to the discovery role): %d %s, want kube-apiserver's 403", jwks, code, body)
	}
}

// anonymousDirect GETs path at kube-apiserver with no credential.
func anonymousDirect(t *testing.T, ctx context.Context, api *harness.APIServer, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(api.RESTConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		api.Fatalf(t, "GET %s: %v", path, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}
