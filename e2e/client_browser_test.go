package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestClientBrowserLoginCacheAndSilentRefresh is scenario 1: `kubectl oidc
// setup` writes a kubeconfig for the proxy; `kubectl get configmaps -n
// team-a` (at a terminal) runs get-token, which opens the browser through
// --browser-command; Chromium logs in at Dex's password form; the request
// passes the proxy and RBAC allows it. The second kubectl call is served
// from the token cache (Dex sees no request). After the ID token's own exp,
// the next call refreshes silently: one /token request, no browser.
func TestClientBrowserLoginCacheAndSilentRefresh(t *testing.T) {
	const idTokenTTL = 30 * time.Second
	env := startClientEnv(t, harness.DexOptions{IDTokenTTL: idTokenTTL})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI}})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	env.setup(t, ctx, env.setupArgs(
		"--browser-command="+env.handoff.Command,
		"--listen-address=127.0.0.1:0",
		"--oidc-auth-request-extra-params=connector_id="+harness.DexLocalConnector,
		// The cache must outlive the two calls below; the default skew
		// (30s) would make a 30s token expired on arrival.
		"--token-expiry-skew=5s",
		"--skip-validation",
	)...)
	if urls := env.handoff.URLs(); len(urls) != 0 {
		t.Fatalf("setup --skip-validation opened a browser: %v", urls)
	}

	env.createConfigMap(t, ctx, "team-a", "team-a-settings")

	// 1. First use: browser login.
	tokenBefore, authBefore := env.dexCounts(t, ctx)
	browserDone := env.loginInBrowser(ctx, browser, alice)
	r := env.kubectl.RunTTY(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
	if r.Err != nil {
		env.fatalf(t, "first kubectl get (browser login): %s\nbrowser: %v\n--- chromium:\n%s", r, drain(browserDone), browser.Output())
	}
	if err := <-browserDone; err != nil {
		env.fatalf(t, "browser login: %v", err)
	}
	if !strings.Contains(r.Stdout, "configmap/team-a-settings") {
		t.Fatalf("kubectl get printed no configmap of team-a: %s", r)
	}
	tokenAfterLogin, authAfterLogin := env.dexCounts(t, ctx)
	if tokenAfterLogin != tokenBefore+1 || authAfterLogin <= authBefore {
		env.fatalf(t, "browser login: Dex counted %d token and %d auth requests, want %d and more than %d", tokenAfterLogin, authAfterLogin, tokenBefore+1, authBefore)
	}

	// 2. Second call: from the cache, no request to Dex. Then read the
	// token's expiry from get-token (also a cache hit).
	r = env.kubectl.RunTTY(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
	if r.Err != nil {
		env.fatalf(t, "second kubectl get (cache): %s", r)
	}
	token, _ := env.execToken(t, ctx)
	if n, _ := env.dexCounts(t, ctx); n != tokenAfterLogin {
		env.fatalf(t, "cached calls made %d token requests at Dex, want none", n-tokenAfterLogin)
	}
	exp := jwtExpiry(t, token)
	if ttl := time.Until(exp); ttl > idTokenTTL {
		t.Fatalf("ID token expires in %v, longer than Dex's %v", ttl, idTokenTTL)
	}

	// 3. After the token's own exp: one refresh at Dex, no browser, and
	// the proxy accepts the new token.
	waitUntil(t, ctx, exp)
	r = env.kubectl.RunTTY(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
	if r.Err != nil {
		env.fatalf(t, "kubectl get after expiry (refresh): %s", r)
	}
	tokenAfterRefresh, authAfterRefresh := env.dexCounts(t, ctx)
	if tokenAfterRefresh != tokenAfterLogin+1 || authAfterRefresh != authAfterLogin {
		env.fatalf(t, "after expiry Dex counted %d token and %d auth requests, want %d (one refresh) and %d (no login)",
			tokenAfterRefresh, authAfterRefresh, tokenAfterLogin+1, authAfterLogin)
	}
	if urls := env.handoff.URLs(); len(urls) != 1 {
		t.Fatalf("the browser was opened %d times, want once: %v", len(urls), urls)
	}
	if refreshed, _ := env.execToken(t, ctx); jwtExpiry(t, refreshed).Before(exp.Add(time.Second)) {
		t.Fatalf("the cached token after the refresh still expires at %v", exp)
	}
}

// drain returns the error from done if there is one already, else nil.
func drain(done <-chan error) error {
	select {
	case err := <-done:
		return err
	default:
		return nil
	}
}
