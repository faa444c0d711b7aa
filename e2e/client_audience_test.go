package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestClientDexCrossClientAudiencePerCluster: two oidc-proxies in front of
// one API server, each accepting its own audience (--oidc-client-id
// cluster-a, cluster-b: Dex clients that trust the kubectl client). With
// --oidc-audience-method=dex-cross-client, get-token signs in through the
// browser for cluster-a, then once more for cluster-a and cluster-b when
// cluster-b is first used; each cluster gets an ID token narrowed to its
// own audience by a refresh. Each proxy refuses the other's token (401).
// Repeated calls are served from the cache (no Dex request); after the
// tokens expire, each cluster's token comes from a refresh, no browser.
func TestClientDexCrossClientAudiencePerCluster(t *testing.T) { testDexCrossClient(t, false) }

// TestClientDexCrossClientOneLogin is the same scenario with one browser
// login for both clusters (`kubectl oidc login --oidc-login-audience`).
// (Subtests would make Chromium's socket path under the test's temp dir
// too long.)
func TestClientDexCrossClientOneLogin(t *testing.T) { testDexCrossClient(t, true) }

// testDexCrossClient runs the scenario; with oneLogin, `kubectl oidc login
// --oidc-login-audience=cluster-b` with user a's flags signs in once for both
// clusters first, and neither kubectl run opens the browser.
func testDexCrossClient(t *testing.T, oneLogin bool) {
	const idTokenTTL = 30 * time.Second
	env := startClientEnv(t, harness.DexOptions{IDTokenTTL: idTokenTTL, PeerClients: []string{"cluster-a", "cluster-b"}}, "--oidc-client-id=cluster-a")
	proxyB := harness.StartProxy(t, env.api, env.dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix, ExtraArgs: []string{"--oidc-client-id=cluster-b"}})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI}})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")

	servers := map[string]*harness.Proxy{"a": env.proxy, "b": proxyB}
	for _, name := range []string{"a", "b"} {
		args := env.setupArgs(
			"--browser-command="+env.handoff.Command,
			"--listen-address=127.0.0.1:0",
			"--oidc-auth-request-extra-params=connector_id="+harness.DexLocalConnector,
			"--token-expiry-skew=5s",
			"--skip-validation",
			"--oidc-audience=cluster-"+name,
			"--oidc-audience-method=dex-cross-client",
			"--context-name="+name, "--cluster-name="+name, "--user-name="+name,
		)
		for i, a := range args {
			if strings.HasPrefix(a, "--server=") {
				args[i] = "--server=" + servers[name].URL
			}
			if strings.HasPrefix(a, "--server-certificate-authority=") {
				args[i] = "--server-certificate-authority=" + servers[name].CAFile
			}
		}
		env.setup(t, ctx, args...)
	}
	get := func(name string) {
		t.Helper()
		r := env.kubectl.RunTTY(ctx, "--context="+name, "get", "configmaps", "-n", "team-a", "-o", "name")
		if r.Err != nil || !strings.Contains(r.Stdout, "configmap/team-a-settings") {
			env.fatalf(t, "kubectl --context=%s get: %s\n--- proxy b:\n%s\n--- chromium:\n%s", name, r, proxyB.Process.Describe(), browser.Output())
		}
	}
	loginAndGet := func(name string) {
		t.Helper()
		done := env.loginInBrowser(ctx, browser, alice)
		get(name)
		if err := <-done; err != nil {
			env.fatalf(t, "browser login for %s: %v", name, err)
		}
	}

	wantBrowser := 2
	if oneLogin {
		// 1. One sign-in for both audiences, then each cluster by refresh.
		wantBrowser = 1
		args := append([]string{"login"}, execArgsOf(t, env, "a")[1:]...)
		args = append(args, "--oidc-login-audience=cluster-b", "--cluster-server="+env.proxy.URL)
		done := env.loginInBrowser(ctx, browser, alice)
		if r := env.kubectl.Plugin(ctx, args...); r.Err != nil {
			env.fatalf(t, "kubectl oidc login: %s\n--- chromium:\n%s", r, browser.Output())
		}
		if err := <-done; err != nil {
			env.fatalf(t, "browser login: %v", err)
		}
		get("a")
		get("b")
	} else {
		// 1. Cluster a: a browser login for cluster-a, narrowed by one refresh.
		loginAndGet("a")
		// 2. Cluster b, not yet granted: one browser login for both audiences.
		loginAndGet("b")
	}
	if urls := env.handoff.URLs(); len(urls) != wantBrowser {
		t.Fatalf("the browser was opened %d times, want %d: %v", len(urls), wantBrowser, urls)
	}
	tokenA, tokenB := tokenOf(t, ctx, env, "a", env.proxy.URL), tokenOf(t, ctx, env, "b", proxyB.URL)
	for name, tok := range map[string]string{"cluster-a": tokenA, "cluster-b": tokenB} {
		if aud := jwtAudience(t, tok); !slices.Contains(aud, name) || len(aud) != 2 {
			t.Fatalf("token for %s has aud %v, want it and the kubectl client", name, aud)
		}
	}

	// 3. Each proxy refuses the other cluster's token.
	for _, c := range []struct {
		p     *harness.Proxy
		token string
		want  int
	}{{env.proxy, tokenA, 200}, {env.proxy, tokenB, 401}, {proxyB, tokenB, 200}, {proxyB, tokenA, 401}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.p.URL+"/api/v1/namespaces/team-a/configmaps", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.p.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			env.fatalf(t, "%s with a token of aud %v: %d, want %d", c.p.URL, jwtAudience(t, c.token), resp.StatusCode, c.want)
		}
	}

	// 4. Again through each: from the cache, no request to Dex.
	tokenBefore, authBefore := env.dexCounts(t, ctx)
	get("a")
	get("b")
	if tok, auth := env.dexCounts(t, ctx); tok != tokenBefore || auth != authBefore {
		env.fatalf(t, "cached calls made %d token and %d auth requests at Dex, want none", tok-tokenBefore, auth-authBefore)
	}

	// 5. After expiry: one narrowing refresh per cluster, no login.
	waitUntil(t, ctx, time.Now().Add(idTokenTTL))
	get("a")
	get("b")
	if tok, auth := env.dexCounts(t, ctx); tok != tokenBefore+2 || auth != authBefore {
		env.fatalf(t, "after expiry Dex counted %d token and %d auth requests, want 2 refreshes and no login", tok-tokenBefore, auth-authBefore)
	}
	if urls := env.handoff.URLs(); len(urls) != wantBrowser {
		t.Fatalf("the browser was opened %d times, want %d: %v", len(urls), wantBrowser, urls)
	}
}

// tokenOf runs get-token with the exec arguments of kubeconfig user name
// for the cluster server (a cache hit after kubectl ran) and returns its token.
func tokenOf(t *testing.T, ctx context.Context, e *clientEnv, name, server string) string {
	t.Helper()
	args := append(execArgsOf(t, e, name), "--cluster-server="+server)
	r := e.kubectl.Plugin(ctx, args...)
	if r.Err != nil {
		e.fatalf(t, "kubectl oidc %s: %s", strings.Join(args, " "), r)
	}
	var cred struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &cred); err != nil || cred.Status.Token == "" {
		t.Fatalf("get-token printed no token (%v): %s", err, r)
	}
	return cred.Status.Token
}

// execArgsOf are the exec stanza's args of kubeconfig user name
// ([get-token ...]), with the client secret from its env as a flag.
func execArgsOf(t *testing.T, e *clientEnv, name string) []string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.AuthInfos[name]
	if u == nil || u.Exec == nil {
		t.Fatalf("kubeconfig has no exec user %s", name)
	}
	args := slices.Clone(u.Exec.Args)
	for _, v := range u.Exec.Env {
		if v.Name == "KUBECTL_OIDC_CLIENT_SECRET" {
			args = append(args, "--oidc-client-secret="+v.Value)
		}
	}
	return args
}

// jwtAudience returns a JWT's aud, a string or a list, as a list.
func jwtAudience(t *testing.T, token string) []string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(claims.Aud, &many); err != nil {
		t.Fatalf("JWT aud: %v", err)
	}
	return many
}
