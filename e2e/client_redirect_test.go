package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestClientRedirectURLWithAPath: Dex registers exactly
// http://127.0.0.1:PORT/callback for the client (as IdP registrations often
// have a path); setup writes --oidc-redirect-url with it; Chromium logs in
// at Dex, Dex redirects to the callback path, the local server takes the
// code there, and kubectl gets through the proxy.
func TestClientRedirectURLWithAPath(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://" + l.Addr().String() + "/callback"
	l.Close()
	env := startClientEnv(t, harness.DexOptions{NoClientSecret: true, RedirectURIs: []string{redirect}})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI}})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env.setup(t, ctx, env.setupArgs(
		"--browser-command="+env.handoff.Command,
		"--oidc-redirect-url="+redirect,
		"--oidc-auth-request-extra-params=connector_id="+harness.DexLocalConnector,
		"--skip-validation",
	)...)
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")

	browserDone := env.loginInBrowser(ctx, browser, alice)
	r := env.kubectl.RunTTY(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
	if r.Err != nil {
		env.fatalf(t, "kubectl get (browser login through %s): %s\nbrowser: %v\n--- chromium:\n%s", redirect, r, drain(browserDone), browser.Output())
	}
	if err := <-browserDone; err != nil {
		env.fatalf(t, "browser login: %v", err)
	}
	if !strings.Contains(r.Stdout, "configmap/team-a-settings") {
		t.Fatalf("kubectl get printed no configmap of team-a: %s", r)
	}
	urls := env.handoff.URLs()
	if len(urls) != 1 || !strings.HasPrefix(urls[0], "http://"+strings.TrimSuffix(strings.TrimPrefix(redirect, "http://"), "/callback")+"/") {
		t.Errorf("the browser was sent to %q, want the local server on the redirect URL's port", urls)
	}
}
