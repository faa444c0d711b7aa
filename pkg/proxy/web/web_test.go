package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/pflag"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/internal/version"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig/setupcmd"
)

// fakeAPI stands in for the proxy's chain: it verifies the bearer ID token
// of the provider and answers SelfSubjectReview, the namespace list and
// SelfSubjectRulesReviews; it records every token it saw.
type fakeAPI struct {
	verifier      *oidc.IDTokenVerifier
	namespaces    []string
	listForbidden bool
	rules         map[string][]authorizationv1.ResourceRule

	mu     sync.Mutex
	tokens []string
	paths  []string
}

func newFakeAPI(t *testing.T, p *oidctest.Provider) *fakeAPI {
	ctx := oidc.ClientContext(context.Background(), p.HTTPClient())
	prov, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeAPI{
		verifier:   prov.Verifier(&oidc.Config{ClientID: p.ClientID}),
		namespaces: []string{"team-a", "default"},
		rules: map[string][]authorizationv1.ResourceRule{
			"default": {{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"namespaces"}}},
			"team-a": {
				{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"namespaces"}},
				{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
			},
		},
	}
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	a.tokens = append(a.tokens, raw)
	a.paths = append(a.paths, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	tok, err := a.verifier.Verify(r.Context(), raw)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
		return
	}
	var claims struct {
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
	}
	_ = tok.Claims(&claims)
	switch r.Method + " " + r.URL.Path {
	case "POST /apis/authentication.k8s.io/v1/selfsubjectreviews":
		writeJSON(w, http.StatusCreated, map[string]any{"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
			"status": map[string]any{"userInfo": map[string]any{"username": "oidc:" + claims.Email, "groups": append(claims.Groups, "system:authenticated")}}})
	case "GET /api/v1/namespaces":
		if a.listForbidden {
			writeJSON(w, http.StatusForbidden, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "forbidden", "reason": "Forbidden", "code": 403})
			return
		}
		var items []map[string]any
		for _, n := range a.namespaces {
			items = append(items, map[string]any{"metadata": map[string]any{"name": n}})
		}
		writeJSON(w, http.StatusOK, map[string]any{"kind": "NamespaceList", "apiVersion": "v1", "items": items})
	case "POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews":
		var in authorizationv1.SelfSubjectRulesReview
		_ = json.NewDecoder(r.Body).Decode(&in)
		in.Status = authorizationv1.SubjectRulesReviewStatus{ResourceRules: a.rules[in.Spec.Namespace],
			NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/version"}}}}
		writeJSON(w, http.StatusCreated, in)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// recorded is one response of the page, as the browser got it.
type recorded struct {
	url    string
	status int
	header http.Header
	body   []byte
}

// env is a page in front of the fake API, the provider as the IdP, and a
// browser (a client with a cookie jar) that records the page's answers.
type env struct {
	p      *oidctest.Provider
	api    *fakeAPI
	h      *Handler
	srv    *httptest.Server
	doc    *discovery.Document
	caPEM  []byte
	client *http.Client

	mu        sync.Mutex
	responses []recorded
}

func newEnv(t *testing.T, mods ...func(*discovery.Document)) *env {
	t.Helper()
	p := oidctest.New(t)
	p.User.Groups = []string{"developers"}
	e := &env{p: p, api: newFakeAPI(t, p)}
	var handler http.Handler = http.NotFoundHandler()
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	e.doc = &discovery.Document{APIVersion: discovery.APIVersion, Kind: discovery.Kind, IssuerURL: p.Issuer,
		ClientID: "kubectl", Scopes: []string{"email", "groups"}, ClusterName: "prod", ExtraParams: map[string]string{"connector_id": "local"},
		CertificateAuthorityData: string(e.caPEM), IssuerCertificateAuthorityData: string(p.CAPEM())}
	for _, m := range mods {
		m(e.doc)
	}
	if err := e.doc.Validate(); err != nil {
		t.Fatal(err)
	}
	redirect, err := ParseRedirectURL(e.srv.URL + CallbackPath)
	if err != nil {
		t.Fatal(err)
	}
	e.h, err = New(Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret + "-long-enough", RedirectURL: redirect,
		Document: e.doc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ServingCertificate: func() []byte { return e.caPEM }, SystemRoots: x509.NewCertPool()})
	if err != nil {
		t.Fatal(err)
	}
	p.ClientSecret += "-long-enough"
	e.h.UseAPI(e.api, nil)
	docHandler, err := discovery.Handler(e.doc)
	if err != nil {
		t.Fatal(err)
	}
	handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == discovery.Path:
			docHandler.ServeHTTP(w, r)
		case e.h.Serves(r):
			e.h.ServeHTTP(w, r)
		default:
			http.Error(w, "API", http.StatusTeapot)
		}
	})
	e.client = e.newBrowser(t)
	return e
}

// newBrowser is a client with its own cookie jar that trusts the page and
// the provider and records the page's answers.
func (e *env) newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(e.srv.Certificate())
	pool.AppendCertsFromPEM(e.p.CAPEM())
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: recordingTransport{e: e, next: base}}
}

type recordingTransport struct {
	e    *env
	next http.RoundTripper
}

func (rt recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil || req.URL.Host != strings.TrimPrefix(rt.e.srv.URL, "https://") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	rt.e.mu.Lock()
	rt.e.responses = append(rt.e.responses, recorded{url: req.URL.String(), status: resp.StatusCode, header: resp.Header.Clone(), body: body})
	rt.e.mu.Unlock()
	return resp, nil
}

func (e *env) recorded() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.responses)
}

// get fetches path of the page with c and returns the status and body.
func (e *env) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// noRedirects is c that stops at the first redirect.
func noRedirects(c *http.Client) *http.Client {
	n := *c
	n.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &n
}

// startLogin runs /web/login in c and returns the authorization URL.
func (e *env) startLogin(t *testing.T, c *http.Client) *url.URL {
	t.Helper()
	resp, err := noRedirects(c).Get(e.srv.URL + LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %s", resp.Status)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// authorize sends the authorization request to the provider and returns
// the callback URL it redirects to.
func (e *env) authorize(t *testing.T, c *http.Client, auth *url.URL) string {
	t.Helper()
	resp, err := noRedirects(c).Get(auth.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

func TestSignInRoundTripShowsIdentityPermissionsAndCommands(t *testing.T) {
	e := newEnv(t)
	code, body := e.get(t, e.client, "/")
	if code != http.StatusOK || !strings.Contains(body, `href="/web/login"`) || strings.Contains(body, "Who the cluster sees") {
		t.Fatalf("before sign-in: %d\n%s", code, body)
	}
	code, body = e.get(t, e.client, LoginPath) // follows the provider and the callback to /
	if code != http.StatusOK {
		t.Fatalf("sign-in ended with %d:\n%s", code, body)
	}
	for _, want := range []string{
		"oidc:alice@example.com", "developers", "system:authenticated",
		"Also in namespace <code>team-a</code>", "<code>deployments.apps</code>", "all verbs",
		"<code>namespaces</code>", "get, list",
		KrewCommand(version.Version),
		"kubectl oidc setup " + e.srv.URL + " --ca-fingerprint " + discovery.Fingerprint(e.srv.Certificate()),
		`href="/web/kubeconfig"`, `name="csrf"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("signed-in page lacks %q:\n%s", want, body)
		}
	}

	// The protocol: PKCE S256 with the verifier sent at the exchange, a
	// nonce and a state, the client secret.
	auth, tok := e.p.LastAuthorizeRequest(), e.p.LastTokenRequest()
	sum := sha256.Sum256([]byte(tok.Get("code_verifier")))
	if auth.Get("code_challenge_method") != "S256" || auth.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("PKCE: challenge %q (%s) does not match the verifier sent", auth.Get("code_challenge"), auth.Get("code_challenge_method"))
	}
	if auth.Get("nonce") == "" || auth.Get("state") == "" || auth.Get("state") == auth.Get("nonce") {
		t.Errorf("authorization request without distinct state and nonce: %v", auth)
	}
	if scope := auth.Get("scope"); scope != "openid email groups" {
		t.Errorf("scope = %q, want the document's scopes", scope)
	}
	if auth.Get("connector_id") != "local" {
		t.Errorf("the document's extra parameters are not sent: %v", auth)
	}

	// The API was asked with the ID token, which no answer of the page holds.
	e.api.mu.Lock()
	tokens, paths := slices.Clone(e.api.tokens), slices.Clone(e.api.paths)
	e.api.mu.Unlock()
	if len(tokens) == 0 || tokens[0] == "" {
		t.Fatalf("the API saw no token: %v", paths)
	}
	if !slices.Contains(paths, "POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews") {
		t.Errorf("no SelfSubjectRulesReview: %v", paths)
	}
	for _, r := range e.recorded() {
		for _, tk := range tokens {
			if bytes.Contains(r.body, []byte(tk)) {
				t.Errorf("%s: the response body holds the ID token", r.url)
			}
		}
		for _, c := range r.header.Values("Set-Cookie") {
			if strings.Contains(c, tokens[0]) {
				t.Errorf("%s: a cookie holds the ID token", r.url)
			}
		}
	}
}

func TestEveryPageAnswerCarriesSecurityHeadersAndSafeCookies(t *testing.T) {
	e := newEnv(t)
	e.get(t, e.client, LoginPath)
	e.get(t, e.client, KubeconfigPath)
	e.get(t, e.client, "/web/static/style.css")
	e.get(t, e.client, "/web/static/copy.js")
	e.get(t, e.client, "/web/nothing")
	e.get(t, e.client, CallbackPath+"?state=x&code=y")
	rs := e.recorded()
	if len(rs) < 8 {
		t.Fatalf("only %d answers recorded", len(rs))
	}
	cookies := 0
	for _, r := range rs {
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s (%d): Content-Security-Policy %q lacks %q", r.url, r.status, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy allows unsafe code: %q", r.url, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s (%d): %s = %q, want %q", r.url, r.status, k, got, want)
			}
		}
		if strings.HasSuffix(r.header.Get("Content-Type"), "html; charset=utf-8") {
			// What the CSP would block: inline scripts, styles and handlers;
			// and the copy buttons stay hidden until the script shows them.
			if inline.Match(r.body) {
				t.Errorf("%s: inline script, style or event handler: %s", r.url, inline.Find(r.body))
			}
			for _, b := range copyButton.FindAll(r.body, -1) {
				if !bytes.Contains(b, []byte(" hidden")) {
					t.Errorf("%s: a copy button shown without JavaScript: %s", r.url, b)
				}
			}
		}
		for _, c := range r.header.Values("Set-Cookie") {
			cookies++
			for _, want := range []string{"__Host-", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(c, want) {
					t.Errorf("%s: cookie %q lacks %s", r.url, c, want)
				}
			}
			if strings.Contains(strings.ToLower(c), "domain=") {
				t.Errorf("%s: cookie %q names a domain", r.url, c)
			}
		}
	}
	if cookies < 3 {
		t.Errorf("only %d cookies set: want the login cookie, its removal and the session", cookies)
	}
}

func TestCallbackRefusals(t *testing.T) {
	tests := []struct {
		name string
		// callback returns the callback URL the browser opens, given the
		// one the provider redirected to; other is a browser without the
		// login cookie when true.
		callback func(u *url.URL)
		other    bool
		auth     func(q url.Values)
		want     string
		code     int
	}{
		{name: "tampered state", callback: func(u *url.URL) {
			q := u.Query()
			q.Set("state", q.Get("state")+"x")
			u.RawQuery = q.Encode()
		}, want: "state mismatch", code: http.StatusBadRequest},
		{name: "no state", callback: func(u *url.URL) {
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
		}, want: "state mismatch", code: http.StatusBadRequest},
		{name: "another browser's callback", other: true, want: "not started in this browser", code: http.StatusBadRequest},
		{name: "nonce changed on the way to the provider", auth: func(q url.Values) { q.Set("nonce", "attacker") },
			want: "nonce mismatch", code: http.StatusBadRequest},
		{name: "PKCE challenge changed on the way to the provider", auth: func(q url.Values) {
			q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
		}, want: "refused the sign-in&#39;s code", code: http.StatusBadGateway},
		{name: "provider error", callback: func(u *url.URL) {
			u.RawQuery = "error=access_denied&error_description=Call+us&state=" + u.Query().Get("state")
		}, want: "did not sign you in (access_denied)", code: http.StatusForbidden},
		{name: "provider error not of this sign-in", callback: func(u *url.URL) { u.RawQuery = "error=access_denied&state=other" },
			want: "state mismatch", code: http.StatusBadRequest},
		{name: "provider error that is not an error code", callback: func(u *url.URL) {
			u.RawQuery = "error=Call+0800+now&state=" + u.Query().Get("state")
		}, want: "did not sign you in (unknown error)", code: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			auth := e.startLogin(t, e.client)
			if tt.auth != nil {
				q := auth.Query()
				tt.auth(q)
				auth.RawQuery = q.Encode()
			}
			cb, err := url.Parse(e.authorize(t, e.client, auth))
			if err != nil {
				t.Fatal(err)
			}
			if tt.callback != nil {
				tt.callback(cb)
			}
			c := e.client
			if tt.other {
				c = e.newBrowser(t)
			}
			code, body := e.get(t, c, cb.RequestURI())
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("callback: %d, want %d with %q:\n%s", code, tt.code, tt.want, body)
			}
			if strings.Contains(body, "Call") {
				t.Errorf("the page shows text from the callback's query:\n%s", body)
			}
			if _, body := e.get(t, e.client, "/"); strings.Contains(body, "Who the cluster sees") {
				t.Fatal("signed in after a refused callback")
			}
		})
	}
}

func TestReplayedCallbackIsRefused(t *testing.T) {
	e := newEnv(t)
	auth := e.startLogin(t, e.client)
	srvURL, _ := url.Parse(e.srv.URL)
	loginCookies := e.client.Jar.Cookies(srvURL)
	cb := e.authorize(t, e.client, auth)
	if code, body := e.get(t, e.client, strings.TrimPrefix(cb, e.srv.URL)); code != http.StatusOK || !strings.Contains(body, "Who the cluster sees") {
		t.Fatalf("first callback: %d\n%s", code, body)
	}
	// The same answer again, in a browser that still has the login cookie
	// (copied before the callback removed it).
	replay := e.newBrowser(t)
	replay.Jar.SetCookies(srvURL, loginCookies)
	code, body := e.get(t, replay, strings.TrimPrefix(cb, e.srv.URL))
	if code != http.StatusBadRequest || !strings.Contains(body, "used already") {
		t.Fatalf("replayed callback: %d\n%s", code, body)
	}
	// And in the browser that signed in, whose login cookie is gone.
	code, body = e.get(t, e.client, strings.TrimPrefix(cb, e.srv.URL))
	if code != http.StatusBadRequest {
		t.Fatalf("replayed callback in the same browser: %d\n%s", code, body)
	}
}

func TestTamperedSessionCookieIsNoSession(t *testing.T) {
	e := newEnv(t)
	e.get(t, e.client, LoginPath)
	srvURL, _ := url.Parse(e.srv.URL)
	var tampered []*http.Cookie
	for _, c := range e.client.Jar.Cookies(srvURL) {
		if c.Name == sessionCookie {
			b := []byte(c.Value)
			b[len(b)/2] ^= 1
			c.Value = string(b)
		}
		tampered = append(tampered, c)
	}
	other := e.newBrowser(t)
	other.Jar.SetCookies(srvURL, tampered)
	if _, body := e.get(t, other, "/"); strings.Contains(body, "Who the cluster sees") || !strings.Contains(body, "/web/login") {
		t.Fatalf("a tampered session cookie shows a session:\n%s", body)
	}
	if code, _ := e.get(t, noRedirects(other), KubeconfigPath); code != http.StatusSeeOther {
		t.Fatalf("kubeconfig without a session: %d, want a redirect to the sign-in page", code)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	_, page := e.get(t, e.client, LoginPath)
	csrf := between(page, `name="csrf" value="`, `"`)
	if csrf == "" {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	post := func(c *http.Client, form url.Values, site string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+LogoutPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := post(e.client, url.Values{"csrf": {"forged"}}, ""); code != http.StatusForbidden {
		t.Errorf("logout with a forged CSRF token: %d, want 403", code)
	}
	if code, _ := post(e.client, url.Values{"csrf": {csrf}}, "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site logout: %d, want 403", code)
	}
	if _, body := e.get(t, e.client, "/"); !strings.Contains(body, "Who the cluster sees") {
		t.Fatal("a refused logout ended the session")
	}
	code, body := post(e.client, url.Values{"csrf": {csrf}}, "same-origin")
	if code != http.StatusOK || strings.Contains(body, "Who the cluster sees") || !strings.Contains(body, `href="/web/login"`) {
		t.Fatalf("after logout: %d\n%s", code, body)
	}
}

func TestLogoutEndsTheProviderSession(t *testing.T) {
	e := newEnv(t)
	end := e.p.Issuer + "/logout"
	e.p.SetDiscoveryOverrides(map[string]any{"end_session_endpoint": end})
	_, page := e.get(t, e.client, LoginPath)
	form := url.Values{"csrf": {between(page, `name="csrf" value="`, `"`)}}
	resp, err := noRedirects(e.client).PostForm(e.srv.URL+LogoutPath, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != end || q.Get("client_id") != e.p.ClientID || q.Get("post_logout_redirect_uri") != e.srv.URL+"/" {
		t.Errorf("logout went to %s, want %s with client_id and post_logout_redirect_uri", loc, end)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+e.p.Issuer) {
		t.Errorf("the CSP does not let the logout form go to the provider: %q", csp)
	}
	if _, body := e.get(t, e.client, "/"); strings.Contains(body, "Who the cluster sees") {
		t.Fatal("still signed in after logout")
	}
}

func TestPageWithoutNamespaceListShowsDefault(t *testing.T) {
	e := newEnv(t)
	e.api.listForbidden = true
	_, body := e.get(t, e.client, LoginPath)
	if !strings.Contains(body, "You may not list namespaces") || !strings.Contains(body, "<code>namespaces</code>") {
		t.Fatalf("page:\n%s", body)
	}
}

func TestRefusedIdentityIsShownNotSignedIn(t *testing.T) {
	e := newEnv(t)
	e.h.UseAPI(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusForbidden, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
			"message": "the identity's groups start with system:", "reason": "Forbidden", "code": 403})
	}), nil)
	code, body := e.get(t, e.client, LoginPath)
	if code != http.StatusForbidden || !strings.Contains(body, "does not accept this sign-in: the identity&#39;s groups start with system:") {
		t.Fatalf("%d\n%s", code, body)
	}
}

// TestKubeconfigIsWhatSetupWrites runs `kubectl oidc setup PROXY_URL
// --ca-fingerprint ...` (the command the page shows) against the page's
// server and compares the file it writes with the download, byte for byte.
func TestKubeconfigIsWhatSetupWrites(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*discovery.Document)
	}{
		{name: "the document publishes the proxy's CA", mod: func(*discovery.Document) {}},
		{name: "no CA published: setup pins the served certificate", mod: func(d *discovery.Document) { d.CertificateAuthorityData = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { kubeconfigIsWhatSetupWrites(t, newEnv(t, tt.mod)) })
	}
}

func kubeconfigIsWhatSetupWrites(t *testing.T, e *env) {
	e.get(t, e.client, LoginPath)
	code, download := e.get(t, e.client, KubeconfigPath)
	if code != http.StatusOK {
		t.Fatalf("download: %d", code)
	}
	var disposition string
	for _, r := range e.recorded() {
		if strings.HasSuffix(r.url, KubeconfigPath) {
			disposition = r.header.Get("Content-Disposition")
		}
	}
	if disposition != `attachment; filename="prod.kubeconfig"` {
		t.Errorf("Content-Disposition = %q", disposition)
	}

	path := filepath.Join(t.TempDir(), "config")
	args := append(strings.Fields(e.setupCommand(t))[3:], "--kubeconfig="+path, "--yes", "--skip-validation")
	cmd := setupcmd.NewSetup(pflag.NewFlagSet("login", pflag.ContinueOnError))
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetContext(context.Background())
	if err := cmd.Execute(); err != nil {
		t.Fatalf("setup %v: %v\n%s", args, err, out.String())
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if download != string(written) {
		t.Fatalf("download differs from what setup wrote\n--- download:\n%s\n--- setup:\n%s", download, written)
	}
	for _, secret := range []string{"token:", "client-secret", e.p.ClientSecret, "id-token"} {
		if strings.Contains(download, secret) {
			t.Errorf("the kubeconfig holds %q", secret)
		}
	}
	if !strings.Contains(download, "certificate-authority-data: "+base64.StdEncoding.EncodeToString(e.caPEM)) {
		t.Errorf("the kubeconfig does not trust the proxy's certificate:\n%s", download)
	}
	if !strings.Contains(download, "command: kubectl-oidc") {
		t.Errorf("no exec stanza:\n%s", download)
	}
}

func TestServesOnlyThePagesPaths(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path, auth string
		want               bool
	}{
		{"GET", "/", "", true},
		{"GET", "/", "Bearer x", false},
		{"GET", "/web/login", "", true},
		{"GET", "/web/static/style.css", "", true},
		{"GET", "/api/v1/pods", "", false},
		{"GET", "/apis", "", false},
		{"GET", "/webhooks", "", false},
		{"GET", "/.well-known/kube-oidc-configuration", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if got := e.h.Serves(r); got != tt.want {
			t.Errorf("Serves(%s %s, auth %q) = %v, want %v", tt.method, tt.path, tt.auth, got, tt.want)
		}
	}
}

func (e *env) setupCommand(t *testing.T) string {
	t.Helper()
	h, err := e.h.handouts.current()
	if err != nil {
		t.Fatal(err)
	}
	return h.setup
}

var (
	inline     = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	copyButton = regexp.MustCompile(`<button[^>]*data-copy[^>]*>`)
)

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

// TestLargeSummaryKeepsTheSessionWithinTheCookies: when the summary of
// every namespace does not fit the session cookies, namespaces are dropped
// from the end and counted, and the person is still signed in.
func TestLargeSummaryKeepsTheSessionWithinTheCookies(t *testing.T) {
	e := newEnv(t)
	e.api.namespaces = nil
	for i := range maxNamespaces {
		ns := fmt.Sprintf("ns-%02d", i)
		e.api.namespaces = append(e.api.namespaces, ns)
		var rules []authorizationv1.ResourceRule
		for range 40 {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			rules = append(rules, authorizationv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{"x.example.com"}, Resources: []string{hex.EncodeToString(b)}})
		}
		e.api.rules[ns] = rules
	}
	code, body := e.get(t, e.client, LoginPath)
	if code != http.StatusOK || !strings.Contains(body, "Who the cluster sees") {
		t.Fatalf("sign-in: %d\n%s", code, body)
	}
	if !strings.Contains(body, "more namespaces are not shown") || !strings.Contains(body, "Also in namespace <code>ns-00</code>") {
		t.Errorf("the page does not say namespaces were left out, or shows none:\n%s", body)
	}
	for _, r := range e.recorded() {
		for _, c := range r.header.Values("Set-Cookie") {
			if len(c) > 4096 {
				t.Errorf("a cookie of %d bytes", len(c))
			}
		}
	}
}

func TestKrewCommandNamesTheReleaseManifest(t *testing.T) {
	const latest = "kubectl krew install --manifest-url=https://github.com/kube-oidc/kube-oidc/releases/latest/download/oidc.yaml"
	for _, tt := range []struct{ version, want string }{
		{"v0.1.0", "kubectl krew install --manifest-url=https://github.com/kube-oidc/kube-oidc/releases/download/v0.1.0/oidc.yaml"},
		{"v1.2.3-rc.1", "kubectl krew install --manifest-url=https://github.com/kube-oidc/kube-oidc/releases/download/v1.2.3-rc.1/oidc.yaml"},
		{"v0.1.0-5-g0a9f171", latest},
		{"v0.1.0-dirty", latest},
		{"0a9f171", latest},
		{"dev", latest},
		{"v0.1.0/../../evil", latest},
	} {
		if got := KrewCommand(tt.version); got != tt.want {
			t.Errorf("KrewCommand(%q) = %q, want %q", tt.version, got, tt.want)
		}
	}
}
