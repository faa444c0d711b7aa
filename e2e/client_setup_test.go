package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestClientSetupFromDiscovery is scenario 3: the proxy publishes its login
// settings (--discovery-*); `kubectl oidc setup https://PROXY` with only
// the proxy certificate's fingerprint writes a context that works: setup's
// own check logs in (the browser opened through the system's xdg-open,
// here the hand-off) and the cluster sees alice. Without the fingerprint,
// on a non-terminal stdin, setup refuses and writes nothing.
func TestClientSetupFromDiscovery(t *testing.T) {
	// A discovery document never holds a client secret: a public client.
	env := startClientEnv(t, harness.DexOptions{NoClientSecret: true})
	// The proxy's flags, known once the harness started Dex and made the proxy CA.
	t.Cleanup(env.proxy.Process.Stop)
	env.proxy.Process.Stop()
	env.proxy = harness.StartProxy(t, env.api, env.dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix, ExtraArgs: []string{
		"--discovery-client-id=" + env.dex.ClientID,
		"--discovery-scopes=email,offline_access",
		"--discovery-extra-params=connector_id=" + harness.DexLocalConnector,
		"--discovery-grant-types=authcode,device-code",
		"--discovery-cluster-name=e2e-cluster",
		"--discovery-redirect-url-hostname=localhost", // Dex: http://localhost:PORT only
		"--discovery-issuer-ca-file=" + env.dex.CAFile,
	}})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI}})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")
	fp, err := harness.Fingerprint(env.proxy.ServingCertFile())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("without the fingerprint and without a terminal it refuses", func(t *testing.T) {
		r := env.kubectl.Plugin(ctx, "setup", env.proxy.URL)
		if r.Err == nil {
			env.fatalf(t, "setup trusted an unknown proxy certificate without asking: %s", r)
		}
		if !strings.Contains(r.Stderr, "--ca-fingerprint") || !strings.Contains(r.Stderr, fp) {
			t.Errorf("the refusal does not name --ca-fingerprint and the presented fingerprint %s: %s", fp, r)
		}
		if _, err := os.Stat(env.kubeconfig); !os.IsNotExist(err) {
			t.Errorf("a refused setup touched %s (stat: %v)", env.kubeconfig, err)
		}
	})

	t.Run("with the fingerprint it writes a working context", func(t *testing.T) {
		browserDone := env.loginInBrowser(ctx, browser, alice)
		r := env.kubectl.RunTTY(ctx, "oidc", "setup", env.proxy.URL, "--ca-fingerprint", fp, "--yes")
		if r.Err != nil {
			env.fatalf(t, "kubectl oidc setup %s --ca-fingerprint %s: %s\nbrowser: %v\n--- chromium:\n%s", env.proxy.URL, fp, r, drain(browserDone), browser.Output())
		}
		if err := <-browserDone; err != nil {
			env.fatalf(t, "browser login during setup's check: %v", err)
		}
		if !strings.Contains(r.Stderr, `works: the cluster sees you as "`+alice.Email+`"`) {
			t.Errorf("setup did not report the identity the cluster sees: %s", r)
		}
		args := strings.Join(env.execArgs(t), " ")
		for _, want := range []string{"--oidc-issuer-url=" + env.dex.Issuer, "--oidc-client-id=" + env.dex.ClientID, "--grant-type=authcode", "--oidc-extra-scope=offline_access", "--certificate-authority-data="} {
			if !strings.Contains(args, want) {
				t.Errorf("exec args lack %s: %s", want, args)
			}
		}
		if strings.Contains(args, "secret") {
			t.Errorf("exec args carry a secret: %s", args)
		}
		// The context is current and needs nothing else: served from the cache.
		r = env.kubectl.Run(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
		if r.Err != nil || !strings.Contains(r.Stdout, "configmap/team-a-settings") {
			env.fatalf(t, "kubectl get through the new context: %s", r)
		}
		r = env.kubectl.Run(ctx, "get", "configmaps", "-n", "team-b")
		if r.Err == nil || !strings.Contains(r.Stderr, "forbidden") || !strings.Contains(r.Stderr, alice.Email) {
			env.fatalf(t, "team-b should be forbidden for %s: %s", alice.Email, r)
		}
		if urls := env.handoff.URLs(); len(urls) != 1 {
			t.Errorf("the browser was opened %d times, want once: %v", len(urls), urls)
		}
	})
}
