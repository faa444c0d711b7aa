package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestClientKubeloginMigration is the switch from kubelogin: real kubelogin
// v1.34.0 signs alice in at Dex (password grant) from its exec stanza and
// writes its token cache; `kubectl oidc convert` rewrites the user; the first
// kubectl through the proxy then works with kubelogin's cached tokens,
// imported by get-token, with no request to Dex at all (neither /auth nor
// /token), and the password is no longer among the exec arguments.
func TestClientKubeloginMigration(t *testing.T) {
	kubelogin := harness.RequireKubelogin(t)
	env := startClientEnv(t, harness.DexOptions{})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")

	config := `apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: e2e
  cluster:
    server: ` + env.proxy.URL + `
    certificate-authority: ` + env.proxy.CAFile + `
contexts:
- name: e2e
  context:
    cluster: e2e
    user: alice
users:
- name: alice
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ` + kubelogin + `
      args:
      - get-token
      - --oidc-issuer-url=` + env.dex.Issuer + `
      - --oidc-client-id=` + env.dex.ClientID + `
      - --oidc-client-secret=` + env.dex.ClientSecret + `
      - --oidc-extra-scope=email
      - --oidc-extra-scope=offline_access
      - --certificate-authority=` + env.dex.CAFile + `
      - --grant-type=password
      - --username=` + alice.Email + `
      - --password=` + alice.Password + `
`
	if err := os.WriteFile(env.kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	get := func(who string) harness.KubectlResult {
		t.Helper()
		r := env.kubectl.Run(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
		if r.Err != nil || !strings.Contains(r.Stdout, "configmap/team-a-settings") {
			env.fatalf(t, "kubectl get with %s: %s", who, r)
		}
		return r
	}

	// kubelogin signs in and caches, as it did before the switch.
	get("kubelogin")
	klDir := filepath.Join(env.kubectl.Home, ".kube", "cache", "oidc-login") // $KUBECACHEDIR/oidc-login
	if entries, err := os.ReadDir(klDir); err != nil || len(entries) == 0 {
		t.Fatalf("kubelogin wrote no token cache in %s (%v)", klDir, err)
	}
	tokens, auths := env.dexCounts(t, ctx)
	if tokens == 0 {
		t.Fatalf("kubelogin made no token request to Dex")
	}

	r := env.kubectl.Plugin(ctx, "convert")
	if r.Err != nil || !strings.Contains(r.Stderr, `converted user "alice" (from kubelogin`) {
		env.fatalf(t, "kubectl oidc convert: %s", r)
	}
	cfg, err := clientcmd.LoadFromFile(env.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	exec := cfg.AuthInfos["alice"].Exec
	args := strings.Join(exec.Args, " ")
	if exec.Command != "kubectl-oidc" || strings.Contains(args, alice.Password) || strings.Contains(args, env.dex.ClientSecret) {
		t.Errorf("converted stanza: command %s, args %s", exec.Command, args)
	}

	// The first kubectl after the switch: kubelogin's tokens, no sign-in, not even a refresh.
	if r := get("kubectl-oidc"); !strings.Contains(r.Stderr, "Imported the tokens of kubelogin's cache") {
		t.Errorf("get-token did not say it imported kubelogin's tokens: %s", r)
	}
	if t2, a2 := env.dexCounts(t, ctx); t2 != tokens || a2 != auths {
		t.Errorf("Dex saw %d /token and %d /auth requests after convert, want none", t2-tokens, a2-auths)
	}
	if entries, err := os.ReadDir(filepath.Join(env.kubectl.Home, ".kube", "cache", "oidc")); err != nil || len(entries) == 0 {
		t.Errorf("no kube-oidc token cache after the import (%v)", err)
	}
}
