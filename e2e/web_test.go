package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// updateScreenshot rewrites docs/web-signed-in.png from the signed-in page
// TestWebSignInThroughDex renders (`go test -run TestWebSignInThroughDex
// -update-screenshot`); without it the test only checks that the page renders.
var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/web-signed-in.png from TestWebSignInThroughDex")

const (
	webClientID     = "oidc-proxy-web"
	webScreenshot   = "docs/web-signed-in.png"
	webSignedInText = "Who the cluster sees"
)

// TestWebSignInThroughDex is the sign-in page with real Dex, kube-apiserver
// and Chromium: the proxy is Dex's confidential client (its ID tokens carry
// the proxy's audience through Dex's cross-client trust); alice clicks Sign
// in, fills in Dex's form and reads off the page who the API server sees
// and what she may do (team-a's configmaps), copies the setup command,
// downloads the kubeconfig (byte for byte what `kubectl oidc setup` writes)
// and uses it with kubectl through the proxy after a `kubectl oidc login`;
// she signs out. A second browser profile sees only the sign-in button; a
// tampered state and a replayed callback are refused; every page answer
// carries the security headers.
func TestWebSignInThroughDex(t *testing.T) {
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	proxyURL := fmt.Sprintf("https://127.0.0.1:%d", port)
	webSecret := "web-secret-" + strings.Repeat("x", 24)
	env := startClientEnv(t, harness.DexOptions{NoClientSecret: true, WebClient: &harness.DexClient{
		ID: webClientID, Secret: webSecret, RedirectURI: proxyURL + "/web/callback"}})
	alice := env.dex.Users[0]

	// The proxy again, on the port Dex knows, with a CA made first so that
	// the discovery document can publish it.
	ca, err := harness.NewCA("kube-oidc e2e web proxy CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, secretFile := filepath.Join(dir, "proxy-ca.crt"), filepath.Join(dir, "web-secret")
	for f, data := range map[string]string{caFile: string(ca.CertPEM), secretFile: webSecret + "\n"} {
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(env.proxy.Process.Stop)
	env.proxy.Process.Stop()
	env.proxy = harness.StartProxy(t, env.api, env.dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix, Port: port, CA: ca, ExtraArgs: []string{
		"--discovery-client-id=" + env.dex.ClientID,
		"--discovery-scopes=email,offline_access",
		"--discovery-extra-params=connector_id=" + harness.DexLocalConnector,
		"--discovery-grant-types=authcode",
		"--discovery-cluster-name=e2e-cluster",
		"--discovery-redirect-url-hostname=localhost",
		"--discovery-ca-file=" + caFile,
		"--web-client-id=" + webClientID,
		"--web-client-secret-file=" + secretFile,
		"--web-redirect-url=" + proxyURL + "/web/callback",
		"--web-extra-scopes=email,audience:server:client_id:" + env.dex.ClientID,
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")
	// alice may list namespaces, so the page reviews each one.
	if _, err := env.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "namespace-lister"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-lists-namespaces"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "namespace-lister"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: alice.Email}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// setup pins a certificate the proxy serves: here its leaf (the CA is
	// not in the served chain); the kubeconfig then trusts the published CA.
	fp, err := harness.Fingerprint(env.proxy.ServingCertFile())
	if err != nil {
		t.Fatal(err)
	}
	proxySPKI, err := harness.SPKIHash(env.proxy.ServingCertFile())
	if err != nil {
		t.Fatal(err)
	}
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI, proxySPKI}})
	// A second profile, made here: a subtest's temp dir is too long a path
	// for Chromium's socket.
	other := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI, proxySPKI}})
	wantSetup := "kubectl oidc setup " + proxyURL + " --ca-fingerprint " + fp

	var download []byte
	t.Run("sign in through Dex and read the page", func(t *testing.T) {
		tab, done := browserTab(ctx, browser)
		defer done()
		if err := chromedp.Do(tab,
			chromedp.EmulateViewport(1000, 900),
			chromedp.Navigate(proxyURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#sign-in")),
			chromedp.Click(chromedp.CSS("#sign-in")),
			chromedp.WaitVisible(chromedp.CSS(`input[name=login]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=login]`), alice.Email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alice.Password),
			chromedp.Submit(chromedp.CSS(`input[name=password]`)),
			chromedp.WaitVisible(chromedp.CSS("#username")),
		); err != nil {
			env.fatalf(t, "sign in: %v\n--- page: %s\n--- chromium:\n%s", err, pageText(tab), browser.Output())
		}
		loc, _ := chromedp.Run(tab, chromedp.Location())
		if loc != proxyURL+"/" {
			t.Errorf("signed in at %s, want %s/ (the code left out of the address bar)", loc, proxyURL)
		}
		text := func(sel string) string {
			t.Helper()
			s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
			if err != nil {
				t.Fatalf("read %s: %v", sel, err)
			}
			return strings.Join(strings.Fields(s), " ")
		}
		if got := text("#username"); got != alice.Email {
			t.Errorf("user name on the page %q, want %q (what the API server sees through the proxy)", got, alice.Email)
		}
		if got := text("#groups"); !strings.Contains(got, "system:authenticated") {
			t.Errorf("groups on the page %q lack system:authenticated", got)
		}
		perms := text("#permissions")
		for _, want := range []string{"Also in namespace team-a", "get, list, watch", "configmaps", "namespaces", "team-b"} {
			if !strings.Contains(perms, want) {
				t.Errorf("permissions on the page lack %q: %s", want, perms)
			}
		}
		if strings.Contains(perms, "Also in namespace team-b") {
			t.Errorf("the page grants alice something in team-b: %s", perms)
		}
		if got := text("#cmd-setup"); got != wantSetup {
			t.Errorf("setup command on the page %q, want %q", got, wantSetup)
		}
		if got := text("#cmd-krew"); got != "kubectl krew install --manifest-url=https://github.com/kube-oidc/kube-oidc/releases/latest/download/oidc.yaml" {
			t.Errorf("krew command on the page %q", got)
		}
		// The copy button (the page's only script) copies the command; the
		// clipboard permissions a person's click gives are granted here.
		for _, name := range []string{"clipboard-write", "clipboard-read"} {
			_, _ = chromedp.Run(tab, chromedp.Action[cdp.Empty](func(ctx context.Context, target *chromedp.Target) (cdp.Empty, error) {
				return cdp.Call(ctx, target, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: proxyURL})
			}))
		}
		copyButton := `button[data-copy="cmd-setup"]`
		if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS(copyButton)), chromedp.Click(chromedp.CSS(copyButton))); err != nil {
			t.Fatalf("copy button: %v", err)
		}
		if err := waitFor(ctx, func() bool { return text(copyButton) == "Copied" }); err != nil {
			t.Errorf("the copy button says %q after a click, want Copied", text(copyButton))
		}
		if clip, err := chromedp.Run(tab, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err == nil && clip != wantSetup {
			t.Errorf("clipboard holds %q, want the setup command", clip)
		}

		shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil || !bytes.HasPrefix(shot, []byte("\x89PNG")) {
			t.Fatalf("screenshot: %v", err)
		}
		if *updateScreenshot {
			path, err := harness.ShippedPath(webScreenshot)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(shot))
		} else if path, err := harness.ShippedPath(webScreenshot); err != nil {
			t.Fatal(err)
		} else if old, err := os.ReadFile(path); err != nil || !bytes.HasPrefix(old, []byte("\x89PNG")) {
			t.Errorf("%s is not the page's screenshot (%v): run this test with -update-screenshot", webScreenshot, err)
		}

		// The download, with the browser's session cookies.
		client := cookieClient(t, tab, ca, proxyURL)
		resp, err := client.Get(proxyURL + "/web/kubeconfig")
		if err != nil {
			t.Fatal(err)
		}
		download, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `attachment; filename="e2e-cluster.kubeconfig"` {
			t.Fatalf("download: %s %v", resp.Status, resp.Header)
		}
	})
	if download == nil {
		t.FailNow()
	}

	t.Run("the download is what setup writes, and works with kubectl", func(t *testing.T) {
		setupFile := filepath.Join(t.TempDir(), "setup-kubeconfig")
		args := append(strings.Fields(wantSetup)[2:], "--kubeconfig="+setupFile, "--yes", "--skip-validation")
		if r := env.kubectl.Plugin(ctx, args...); r.Err != nil {
			env.fatalf(t, "kubectl oidc %s: %s", strings.Join(args, " "), r)
		}
		written, err := os.ReadFile(setupFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(download, []byte(base64.StdEncoding.EncodeToString(ca.CertPEM))) {
			t.Errorf("the kubeconfig does not trust the published CA:\n%s", download)
		}
		if !bytes.Equal(written, download) {
			t.Fatalf("the download differs from what setup wrote\n--- download:\n%s\n--- setup:\n%s", download, written)
		}
		if bytes.Contains(download, []byte("token:")) || bytes.Contains(download, []byte(webSecret)) {
			t.Fatalf("the kubeconfig holds a token or secret:\n%s", download)
		}
		if err := os.WriteFile(env.kubeconfig, download, 0o600); err != nil {
			t.Fatal(err)
		}
		login := append([]string{"login"}, env.execArgs(t)[1:]...)
		login = append(login, "--cluster-server="+proxyURL)
		browserDone := env.loginInBrowser(ctx, browser, alice)
		if r := env.kubectl.Plugin(ctx, login...); r.Err != nil {
			env.fatalf(t, "kubectl oidc %s: %s\nbrowser: %v", strings.Join(login, " "), r, drain(browserDone))
		}
		if err := <-browserDone; err != nil {
			env.fatalf(t, "browser login for kubectl oidc login: %v", err)
		}
		if r := env.kubectl.Run(ctx, "get", "configmaps", "-n", "team-a", "-o", "name"); r.Err != nil || !strings.Contains(r.Stdout, "configmap/team-a-settings") {
			env.fatalf(t, "kubectl get with the downloaded kubeconfig: %s", r)
		}
		if r := env.kubectl.Run(ctx, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); r.Err != nil || r.Stdout != alice.Email {
			env.fatalf(t, "kubectl auth whoami with the downloaded kubeconfig: %s", r)
		}
	})

	t.Run("a browser without a session sees only the sign-in button", func(t *testing.T) {
		tab, done := browserTab(ctx, other)
		defer done()
		for _, path := range []string{"/", "/web/kubeconfig"} {
			if err := chromedp.Do(tab, chromedp.Navigate(proxyURL+path), chromedp.WaitVisible(chromedp.CSS("#sign-in"))); err != nil {
				t.Fatalf("%s: %v (page: %s)", path, err, pageText(tab))
			}
			if body := pageText(tab); strings.Contains(body, webSignedInText) || strings.Contains(body, alice.Email) || strings.Contains(body, "kubectl oidc setup") {
				t.Errorf("%s without a session shows more than the sign-in button: %s", path, body)
			}
		}
	})

	t.Run("tampered state and replayed callback are refused; headers on every answer", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.CertPEM)
		pool.AppendCertsFromPEM(env.dex.CA.CertPEM)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		defer tr.CloseIdleConnections()
		var answers []*http.Response
		client := &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
			CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				if strings.HasPrefix(req.URL.String(), proxyURL+"/web/callback") {
					return http.ErrUseLastResponse
				}
				return nil
			}}
		do := func(method, u string, form url.Values) (*http.Response, string) {
			t.Helper()
			var body io.Reader
			if form != nil {
				body = strings.NewReader(form.Encode())
			}
			req, _ := http.NewRequestWithContext(ctx, method, u, body)
			if form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if strings.HasPrefix(resp.Request.URL.String(), proxyURL) {
				answers = append(answers, resp)
			}
			return resp, string(b)
		}
		do(http.MethodGet, proxyURL+"/", nil)
		do(http.MethodGet, proxyURL+"/web/static/style.css", nil)
		do(http.MethodGet, proxyURL+"/web/static/copy.js", nil)
		// Sign in with Dex's form by hand, stopping at the callback.
		resp, _ := do(http.MethodGet, proxyURL+"/web/login", nil)
		resp, _ = do(http.MethodPost, resp.Request.URL.String(), url.Values{"login": {alice.Email}, "password": {alice.Password}})
		callback := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || !strings.HasPrefix(callback, proxyURL+"/web/callback?") {
			env.fatalf(t, "Dex's form did not send the browser back to the callback: %s %q", resp.Status, callback)
		}
		proxyU, _ := url.Parse(proxyURL)
		loginCookies := jar.Cookies(proxyU)

		cb, _ := url.Parse(callback)
		q := cb.Query()
		q.Set("state", q.Get("state")+"x")
		cb.RawQuery = q.Encode()
		if resp, body := do(http.MethodGet, cb.String(), nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "state mismatch") {
			t.Errorf("tampered state: %s\n%s", resp.Status, body)
		}
		jar.SetCookies(proxyU, loginCookies)
		if resp, body := do(http.MethodGet, callback, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, webSignedInText) {
			env.fatalf(t, "callback: %s\n%s", resp.Status, body)
		}
		jar.SetCookies(proxyU, loginCookies)
		if resp, body := do(http.MethodGet, callback, nil); resp.StatusCode != http.StatusBadRequest || strings.Contains(body, webSignedInText) {
			t.Errorf("replayed callback: %s\n%s", resp.Status, body)
		}
		do(http.MethodGet, proxyURL+"/web/kubeconfig", nil)
		if len(answers) < 7 {
			t.Fatalf("only %d answers of the page", len(answers))
		}
		for _, r := range answers {
			h := r.Header
			if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
				!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s %s (%s): security headers missing: %v", r.Request.Method, r.Request.URL.Path, r.Status, h)
			}
			for _, c := range r.Cookies() {
				if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !strings.HasPrefix(c.Name, "__Host-") {
					t.Errorf("%s: cookie %s is not __Host-, Secure, HttpOnly, SameSite=Lax", r.Request.URL.Path, c.Name)
				}
			}
		}
	})

	t.Run("sign out", func(t *testing.T) {
		tab, done := browserTab(ctx, browser)
		defer done()
		if err := chromedp.Do(tab,
			chromedp.Navigate(proxyURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.Click(chromedp.CSS("form.signout button")),
			chromedp.WaitVisible(chromedp.CSS("#sign-in")),
		); err != nil {
			t.Fatalf("sign out: %v (page: %s)", err, pageText(tab))
		}
		if body := pageText(tab); strings.Contains(body, webSignedInText) {
			t.Errorf("still signed in after signing out: %s", body)
		}
	})
}

// browserTab is the browser's tab bounded by ctx (cancelling the tab's
// own context would close it).
func browserTab(ctx context.Context, b *harness.Browser) (context.Context, func()) {
	tab, cancel := context.WithCancel(b.Context())
	stop := context.AfterFunc(ctx, cancel)
	return tab, func() { stop(); cancel() }
}

func pageText(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	return loc + " " + strings.Join(strings.Fields(text), " ")
}

// cookieClient is an HTTP client holding the tab's cookies for proxyURL.
func cookieClient(t *testing.T, tab context.Context, ca *harness.CA, proxyURL string) *http.Client {
	t.Helper()
	res, err := chromedp.Run(tab, chromedp.Action[*network.GetCookiesResult](func(ctx context.Context, target *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, target, network.GetCookies, network.GetCookiesParams{URLs: []string{proxyURL}})
		return &r, err
	}))
	if err != nil {
		t.Fatalf("browser cookies: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(proxyURL)
	var cookies []*http.Cookie
	for _, c := range res.Cookies {
		cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, Secure: c.Secure, HttpOnly: c.HTTPOnly})
	}
	jar.SetCookies(u, cookies)
	return &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: ca.TLSClientConfig()}, Timeout: 30 * time.Second}
}

func waitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-deadline.Done():
			return deadline.Err()
		case <-tick.C:
		}
	}
	return nil
}
