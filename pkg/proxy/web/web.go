// Package web is oidc-proxy's opt-in sign-in page: it signs a person in
// with the identity provider (authorization code + PKCE, the proxy as a
// confidential client), asks the API through the proxy's own handler chain
// who they are and what they may do, and hands out the plugin's install
// and setup commands and the kubeconfig `kubectl oidc setup` writes.
//
// No token reaches the browser: the ID token is used once, in the
// callback, and dropped; the session is a sealed cookie holding only the
// summary the page shows.
package web

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/kube-oidc/kube-oidc/internal/version"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
)

// Paths of the page besides "/" (CallbackPath included).
const (
	LoginPath      = "/web/login"
	LogoutPath     = "/web/logout"
	KubeconfigPath = "/web/kubeconfig"
	staticPrefix   = "/web/static/"
)

// Lifetimes: a sign-in must come back within loginTTL; a session lasts
// sessionTTL (and never past the ID token's expiry).
const (
	loginTTL   = 10 * time.Minute
	sessionTTL = 15 * time.Minute
	// apiTimeout bounds the token exchange and the API reviews of a sign-in.
	apiTimeout = 30 * time.Second
)

// releaseVersion is a release tag: vX.Y.Z, or a pre-release vX.Y.Z-rc.N
// (alpha, beta); not git describe's vX.Y.Z-N-gHASH of a later commit.
var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)(\.[0-9]+)?)?$`)

// KrewCommand installs the plugin with krew from the manifest published
// with the release of the proxy's own version v, so the plugin matches the
// proxy; a build that is not a release (a commit, "dev") points at the
// latest release. The plugin is not in krew's default index, so the
// command names the manifest.
func KrewCommand(v string) string {
	if releaseVersion.MatchString(v) {
		return "kubectl krew install --manifest-url=" + kubeconfig.Releases + "/download/" + v + "/oidc.yaml"
	}
	return kubeconfig.KrewInstallLatest
}

//go:embed assets
var assets embed.FS

// Config is what New needs.
type Config struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is --web-redirect-url; its origin is the proxy URL the
	// page hands out.
	RedirectURL *url.URL
	// ExtraScopes are requested besides openid (nil: Document.Scopes).
	ExtraScopes []string
	// Document is the proxy's discovery document: the issuer, its CA, and
	// what setup writes.
	Document *discovery.Document
	Log      *slog.Logger
	// ServingCertificate returns the PEM chain the proxy serves now (nil:
	// unknown; the document's CA stands in for it): the page's
	// --ca-fingerprint and kubeconfig follow it as setup would.
	ServingCertificate func() []byte
	// SystemRoots verify the proxy's certificate without a fingerprint
	// (nil: the system's).
	SystemRoots *x509.CertPool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Handler serves the page. Serves tells which requests are the page's.
type Handler struct {
	c        Config
	oauth    oauth2.Config
	issuer   *http.Client
	seal     *sealer
	proxyURL string
	handouts *handouts
	cluster  string
	kubeName string
	tmpl     *template.Template
	mux      *http.ServeMux
	// api is the proxy's complete handler chain (UseAPI); the page's API
	// requests go through it with the person's ID token.
	api http.Handler

	mu       sync.Mutex
	provider *oidc.Provider
	endSess  string
	used     map[string]time.Time // states of finished callbacks, until expiry
}

// New builds the page. The setup command and kubeconfig it hands out
// follow the served certificate (handouts); the identity provider is
// discovered at the first sign-in (and again after a failure).
func New(c Config) (*Handler, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Document == nil || c.RedirectURL == nil || c.Log == nil {
		return nil, errors.New("web: Document, RedirectURL and Log are required")
	}
	seal, err := newSealer(c.ClientSecret, c.Now)
	if err != nil {
		return nil, err
	}
	proxyURL := &url.URL{Scheme: c.RedirectURL.Scheme, Host: c.RedirectURL.Host}
	hs := &handouts{proxyURL: proxyURL, doc: c.Document, servedPEM: c.ServingCertificate, systemPool: c.SystemRoots}
	if _, err := hs.current(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	issuerClient, err := issuerHTTPClient(c.Document.IssuerCertificateAuthorityData)
	if err != nil {
		return nil, err
	}
	scopes := c.ExtraScopes
	if scopes == nil {
		scopes = c.Document.Scopes
	}
	tmpl, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	cluster, _, _ := kubeconfig.SetupNames(proxyURL.String(), c.Document.ClusterName, "", "")
	h := &Handler{
		c: c,
		oauth: oauth2.Config{
			ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURL.String(),
			Scopes: append([]string{oidc.ScopeOpenID}, withoutOpenID(scopes)...),
		},
		issuer: issuerClient, seal: seal, proxyURL: proxyURL.String(), handouts: hs,
		cluster: cluster, kubeName: fileName(cluster) + ".kubeconfig", tmpl: tmpl,
		used: map[string]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET "+LoginPath, h.login)
	mux.HandleFunc("GET "+CallbackPath, h.callback)
	mux.HandleFunc("POST "+LogoutPath, h.logout)
	mux.HandleFunc("GET "+KubeconfigPath, h.download)
	mux.HandleFunc("GET "+staticPrefix+"{file}", h.static)
	h.mux = mux
	return h, nil
}

// UseAPI gives h, before it serves, the proxy's complete handler chain
// and (when not nil) the certificate it serves, which then replaces
// Config.ServingCertificate.
func (h *Handler) UseAPI(api http.Handler, servingCert func() []byte) *Handler {
	h.api = api
	if servingCert != nil {
		h.handouts.servedPEM = servingCert
	}
	return h
}

// Serves reports whether r is the page's: "/" without credentials (an API
// client's GET / with a bearer token still reaches the API) and /web/.
func (h *Handler) Serves(r *http.Request) bool {
	if r.URL.Path == "/" {
		return r.Header.Get("Authorization") == "" && r.Header.Get("Impersonate-User") == ""
	}
	return strings.HasPrefix(r.URL.Path, "/web/")
}

// ServeHTTP serves the page's paths, every answer with the security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.securityHeaders(w.Header())
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.fail(w, r, http.StatusNotFound, "There is no page here.")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// securityHeaders: a strict Content-Security-Policy (this origin's
// stylesheet and script only, no inline code, forms only to this origin
// and the identity provider's logout, no framing), no framing for older
// browsers, no sniffing, no referrer (the callback URL carries the code),
// nothing cached.
func (h *Handler) securityHeaders(hd http.Header) {
	formAction := "'self'"
	if o := h.endSessionOrigin(); o != "" {
		formAction += " " + o
	}
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "+
		"form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

// loginState is sealed into the login cookie between /web/login and the callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

// session is sealed into the session cookies: the summary, never a token.
type session struct {
	// ID keys the logout form's CSRF token.
	ID          string       `json:"id"`
	Identity    *Identity    `json:"who"`
	Permissions *Permissions `json:"can"`
	SignedIn    time.Time    `json:"at"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	p, err := h.discover(r.Context())
	if err != nil {
		h.c.Log.Warn("web: identity provider discovery failed", "issuer", h.c.Document.IssuerURL, "err", err)
		h.fail(w, r, http.StatusBadGateway, "The identity provider cannot be reached right now. Try again in a moment.")
		return
	}
	st := loginState{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier()}
	sealed, err := h.seal.seal(loginCookie, st, loginTTL)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The sign-in could not be started.")
		return
	}
	http.SetCookie(w, cookie(loginCookie, sealed, int(loginTTL/time.Second)))
	cfg := h.oauth
	cfg.Endpoint = p.Endpoint()
	opts := []oauth2.AuthCodeOption{oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)}
	// The document's extra parameters (a connector, a hosted domain) are
	// the identity provider's for every client of this cluster.
	for _, k := range slices.Sorted(maps.Keys(h.c.Document.ExtraParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, h.c.Document.ExtraParams[k]))
	}
	http.Redirect(w, r, cfg.AuthCodeURL(st.State, opts...), http.StatusFound)
}

// callback finishes a sign-in: the state must be the one this browser's
// login cookie holds (and not used before), the code is exchanged with the
// PKCE verifier and the client secret, the ID token verified (issuer,
// audience, expiry, signature, nonce), and the API asked through the proxy
// who it is and what it may do. The token is then dropped.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(loginCookie)
	http.SetCookie(w, cookie(loginCookie, "", -1))
	var st loginState
	if err != nil || h.seal.open(loginCookie, c.Value, &st) != nil {
		h.fail(w, r, http.StatusBadRequest, "This sign-in was not started in this browser, or it took too long. Sign in again.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		h.fail(w, r, http.StatusBadRequest, "The sign-in answer does not belong to this sign-in (state mismatch). Sign in again.")
		return
	}
	// The provider's error, only for this browser's own sign-in (else the
	// page would show any text a link puts there), and only its code.
	if e := q.Get("error"); e != "" {
		h.c.Log.Info("web: the identity provider refused a sign-in", "error", e, "description", q.Get("error_description"))
		if !errorCode.MatchString(e) {
			e = "unknown error"
		}
		h.fail(w, r, http.StatusForbidden, "The identity provider did not sign you in ("+e+"). Sign in again.")
		return
	}
	if !h.markUsed(st.State) {
		h.fail(w, r, http.StatusBadRequest, "This sign-in answer was used already. Sign in again.")
		return
	}
	code := q.Get("code")
	if code == "" {
		h.fail(w, r, http.StatusBadRequest, "The identity provider sent no authorization code. Sign in again.")
		return
	}
	ctx, cancel := detached(r.Context(), apiTimeout)
	defer cancel()
	p, err := h.discover(ctx)
	if err != nil {
		h.fail(w, r, http.StatusBadGateway, "The identity provider cannot be reached right now. Try again in a moment.")
		return
	}
	cfg := h.oauth
	cfg.Endpoint = p.Endpoint()
	tok, err := cfg.Exchange(oidc.ClientContext(ctx, h.issuer), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		h.c.Log.Warn("web: code exchange failed", "err", err)
		h.fail(w, r, http.StatusBadGateway, "The identity provider refused the sign-in's code. Sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		h.fail(w, r, http.StatusBadGateway, "The identity provider returned no ID token.")
		return
	}
	idt, err := p.VerifierContext(oidc.ClientContext(ctx, h.issuer), &oidc.Config{ClientID: h.c.ClientID, Now: h.c.Now}).Verify(ctx, raw)
	if err != nil {
		h.c.Log.Warn("web: ID token refused", "err", err)
		h.fail(w, r, http.StatusBadGateway, "The identity provider's ID token did not verify.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		h.fail(w, r, http.StatusBadRequest, "The ID token does not belong to this sign-in (nonce mismatch). Sign in again.")
		return
	}

	s, err := h.review(ctx, r, raw)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			h.fail(w, r, http.StatusForbidden, "The cluster does not accept this sign-in: "+ae.Message)
			return
		}
		h.c.Log.Warn("web: API review failed", "err", err)
		h.fail(w, r, http.StatusBadGateway, "The cluster could not be asked who you are. Try again in a moment.")
		return
	}
	ttl := min(sessionTTL, idt.Expiry.Sub(h.c.Now()))
	if err := h.setSession(w, r, s, ttl); err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The session could not be stored.")
		return
	}
	h.c.Log.Info("web: signed in", "user", s.Identity.Username)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// review asks the API, through the proxy's chain with the ID token, who the
// person is and what they may do.
func (h *Handler) review(ctx context.Context, r *http.Request, token string) (*session, error) {
	client, err := apiClient(inProcess{api: h.api, remoteAddr: r.RemoteAddr,
		forwardedFor: r.Header.Values("X-Forwarded-For"), tls: r.TLS}, token)
	if err != nil {
		return nil, err
	}
	who, err := whoAmI(ctx, client)
	if err != nil {
		return nil, err
	}
	can, err := permissions(ctx, client)
	if err != nil {
		return nil, err
	}
	return &session{ID: randomString(), Identity: who, Permissions: can, SignedIn: h.c.Now().UTC().Truncate(time.Second)}, nil
}

// setSession seals s into the session cookies; a summary too large for
// them loses namespaces from its end (counted in More) until it fits.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, s *session, ttl time.Duration) error {
	for {
		sealed, err := h.seal.seal(sessionCookie, s, ttl)
		if err != nil {
			return err
		}
		err = setChunked(w, r, sessionCookie, sealed, int(ttl/time.Second))
		if !errors.Is(err, errTooLarge) || len(s.Permissions.Namespaces) == 0 {
			return err
		}
		drop := (len(s.Permissions.Namespaces) + 1) / 2
		s.Permissions.More += drop
		s.Permissions.Namespaces = s.Permissions.Namespaces[:len(s.Permissions.Namespaces)-drop]
	}
}

// currentSession is the request's valid session, nil without one.
func (h *Handler) currentSession(r *http.Request) *session {
	v := readChunked(r, sessionCookie)
	if v == "" {
		return nil
	}
	var s session
	if h.seal.open(sessionCookie, v, &s) != nil || s.Identity == nil || s.Permissions == nil {
		return nil
	}
	return &s
}

// pageData is what the templates render.
type pageData struct {
	ProxyURL    string
	ClusterName string
	Session     *session
	CSRF        string
	Krew        string
	Setup       string
	Fingerprint string
	Kubeconfig  string
	FileName    string
	// Error page fields.
	Code    int
	Message string
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	d, err := h.data()
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The page could not be prepared.")
		return
	}
	if s := h.currentSession(r); s != nil {
		d.Session = s
		d.CSRF = h.seal.tag("logout", s.ID)
	}
	h.render(w, http.StatusOK, "page.html", d)
}

func (h *Handler) data() (pageData, error) {
	d := pageData{ProxyURL: h.proxyURL, ClusterName: h.cluster, Krew: KrewCommand(version.Version),
		Kubeconfig: KubeconfigPath, FileName: h.kubeName}
	ho, err := h.handouts.current()
	if err != nil {
		h.c.Log.Error("web: setup command and kubeconfig", "err", err)
		return d, err
	}
	d.Setup, d.Fingerprint = ho.setup, ho.fingerprint
	return d, nil
}

// logout ends the session (a form POST with the session's CSRF token, from
// this origin) and, when the identity provider offers an
// end_session_endpoint, the provider's session too.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		h.fail(w, r, http.StatusForbidden, "Sign out from this page's own button.")
		return
	}
	s := h.currentSession(r)
	if s != nil && !tagEqual(r.PostFormValue("csrf"), h.seal.tag("logout", s.ID)) {
		h.fail(w, r, http.StatusForbidden, "Sign out from this page's own button.")
		return
	}
	clearChunked(w, r, sessionCookie)
	if s != nil {
		h.c.Log.Info("web: signed out", "user", s.Identity.Username)
	}
	if end := h.endSessionURL(); end != "" && s != nil {
		http.Redirect(w, r, end, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func tagEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// download serves the kubeconfig setup writes, to a signed-in person.
func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	if h.currentSession(r) == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	ho, err := h.handouts.current()
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The kubeconfig could not be prepared.")
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Disposition", `attachment; filename="`+h.kubeName+`"`)
	_, _ = w.Write(ho.kubeconfig)
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{"style.css": "text/css; charset=utf-8", "copy.js": "text/javascript; charset=utf-8"}
	ct, ok := types[name]
	if !ok {
		h.fail(w, r, http.StatusNotFound, "There is no page here.")
		return
	}
	data, err := assets.ReadFile("assets/" + name)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "There is no page here.")
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(data)
}

// fail renders the error page.
func (h *Handler) fail(w http.ResponseWriter, _ *http.Request, code int, message string) {
	d, _ := h.data()
	d.Code, d.Message = code, message
	h.render(w, code, "error.html", d)
}

func (h *Handler) render(w http.ResponseWriter, code int, name string, d pageData) {
	var b strings.Builder
	if err := h.tmpl.ExecuteTemplate(&b, name, d); err != nil {
		h.c.Log.Error("web: render page", "template", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// discover returns the identity provider, discovering it on first use.
func (h *Handler) discover(ctx context.Context) (*oidc.Provider, error) {
	h.mu.Lock()
	p := h.provider
	h.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, h.issuer), apiTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, h.c.Document.IssuerURL)
	if err != nil {
		return nil, err
	}
	var claims struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&claims)
	end := ""
	if u, err := url.Parse(claims.EndSession); err == nil && u.Scheme == "https" && u.Host != "" {
		end = u.String()
	}
	h.mu.Lock()
	h.provider, h.endSess = p, end
	h.mu.Unlock()
	return p, nil
}

// endSession is the provider's end_session_endpoint, nil when it offers none.
func (h *Handler) endSession() *url.URL {
	h.mu.Lock()
	end := h.endSess
	h.mu.Unlock()
	if end == "" {
		return nil
	}
	u, _ := url.Parse(end)
	return u
}

// endSessionURL is the provider's logout (RP-initiated logout with
// client_id, back to this page), "" when it offers none.
func (h *Handler) endSessionURL() string {
	u := h.endSession()
	if u == nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", h.c.ClientID)
	q.Set("post_logout_redirect_uri", h.proxyURL+"/")
	u.RawQuery = q.Encode()
	return u.String()
}

func (h *Handler) endSessionOrigin() string {
	if u := h.endSession(); u != nil {
		return u.Scheme + "://" + u.Host
	}
	return ""
}

// markUsed records a callback's state until its login could have expired;
// false when it was recorded already (a replayed callback). Past maxUsed
// states it records no more until some expire: a replay is then refused by
// the provider, which redeems a code once.
func (h *Handler) markUsed(state string) bool {
	now := h.c.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if exp, ok := h.used[state]; ok && now.Before(exp) {
		return false
	}
	if len(h.used) >= maxUsed/2 {
		for s, exp := range h.used {
			if !now.Before(exp) {
				delete(h.used, s)
			}
		}
	}
	if len(h.used) < maxUsed {
		h.used[state] = now.Add(loginTTL)
	}
	return true
}

// maxUsed bounds the states markUsed remembers.
const maxUsed = 100000

// errorCode is an OAuth 2.0 error code (RFC 6749 section 4.1.2.1).
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// detached is a context without the request's values (the chain's
// per-request state) that ends with the request or after d.
func detached(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	stop := context.AfterFunc(parent, cancel)
	return ctx, func() { stop(); cancel() }
}

func issuerHTTPClient(caPEM string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("web: the issuer CA bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return &http.Client{Timeout: apiTimeout, Transport: &http.Transport{
		TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 10 * time.Second,
	}}, nil
}

func withoutOpenID(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if s != oidc.ScopeOpenID && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// fileName keeps the letters, digits, dots and dashes of a cluster name.
func fileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "cluster"
	}
	return b.String()
}
