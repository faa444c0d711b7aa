// Package oidctest is the one in-process OpenID Connect provider that proxy and
// client tests share: discovery, JWKS, authorize, token (authorization code with
// PKCE, refresh, password, device code, client credentials), device
// authorization and revocation, over TLS, plus minting of good and hostile tokens.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is an account the provider signs in.
type User struct {
	Subject  string
	Email    string
	Groups   []string
	Username string // for the password grant
	Password string // for the password grant
	// Extra claims merged into every ID token of this user.
	Extra map[string]any
}

// Provider is a running test OpenID Connect provider. Configure its exported
// fields before the first request; counters and switches are safe to use
// concurrently with requests.
type Provider struct {
	// Issuer is the issuer URL (https://127.0.0.1:PORT).
	Issuer string
	// ClientID and ClientSecret of the one registered client. A client secret
	// is accepted but not required (public client with PKCE).
	ClientID     string
	ClientSecret string
	// User is the account that the authorize, device and password endpoints sign in.
	User User
	// IDTokenTTL is the lifetime of minted ID and access tokens (default 1h).
	IDTokenTTL time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token and
	// invalidate the old one.
	RotateRefreshTokens bool
	// OpaqueAccessTokens makes the token endpoint return random access tokens
	// instead of JWTs.
	OpaqueAccessTokens bool
	// Now is the provider's clock (default time.Now).
	Now func() time.Time
	// RefreshWithoutIDToken makes refresh answers carry no id_token.
	RefreshWithoutIDToken bool
	// DeviceRequiresClientSecret makes the device authorization endpoint
	// refuse a confidential client that does not send client_secret in the
	// form (Dex does this).
	DeviceRequiresClientSecret bool
	// OmitExpiresIn leaves expires_in out of token answers.
	OmitExpiresIn bool
	// ExchangeAudiences are the audiences the token endpoint's RFC 8693
	// token exchange grant issues ID tokens for (from an ID token it issued
	// itself); empty refuses every exchange.
	ExchangeAudiences []string
	// CrossClientPeers are the clients that trust ClientID as Dex's
	// trustedPeers do: the scope audience:server:client_id:PEER adds PEER to
	// the ID token's aud (with ClientID, and azp ClientID), and a refresh may
	// name a subset of the scopes granted at login (a scope of an untrusted
	// peer, or one not granted, is invalid_scope).
	CrossClientPeers []string
	// Resources are the resource servers (RFC 8707 resource indicators)
	// the provider issues access tokens for. The resource values of an
	// authorization request (each one of Resources, else the redirect
	// carries error=invalid_target) are granted to the code and to its
	// refresh tokens; a token request may name a subset of them (else
	// invalid_target) and gets an access token in JWT form (RFC 9068, typ
	// at+jwt) whose aud is the resources named, or all granted when it
	// names none.
	Resources []string
	// AccessTokenClaims, when set, changes the claims of every access token
	// minted for resources (a provider that gets aud wrong, for instance).
	AccessTokenClaims func(claims map[string]any)

	server *httptest.Server
	key    *rsa.PrivateKey
	kid    string
	caPEM  []byte

	mu                 sync.Mutex
	down               bool
	discoveryOverrides map[string]any
	codes              map[string]codeGrant
	refreshTokens      map[string]User
	refreshScopes      map[string][]string
	refreshResources   map[string][]string
	idTokens           map[string]User // ID tokens issued, for token exchange
	revoked            map[string]bool
	devices            map[string]*deviceGrant // by device_code
	userCodes          map[string]string       // user_code -> device_code
	counts             map[string]int
	extraKeys          []jwk
	lastAuthorize      url.Values
	lastToken          url.Values
}

type codeGrant struct {
	clientID, redirectURI, nonce, challenge, method, scope string
	resources                                              []string
}

type deviceGrant struct {
	approved bool
	scope    string
}

// New starts a provider on 127.0.0.1 with TLS and stops it when the test ends.
func New(t testing.TB) *Provider {
	t.Helper()
	return newProvider(t, nil)
}

// NewWithClientCA is New with TLS client authentication required: every
// connection must present a client certificate signed by one of
// clientCAs. Count("client-cert:CN") counts the requests made with the
// client certificate whose common name is CN.
func NewWithClientCA(t testing.TB, clientCAs *x509.CertPool) *Provider {
	t.Helper()
	return newProvider(t, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs})
}

// CloseClientConnections closes every open connection to the provider, so
// that clients connect (and hand over their client certificate) again.
func (p *Provider) CloseClientConnections() { p.server.CloseClientConnections() }

func newProvider(t testing.TB, tlsConfig *tls.Config) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: generate key: %v", err)
	}
	p := &Provider{
		ClientID:         "kube-oidc-test",
		ClientSecret:     "test-secret",
		User:             User{Subject: "user-1", Email: "alice@example.com", Groups: []string{"developers"}, Username: "alice", Password: "password"},
		IDTokenTTL:       time.Hour,
		Now:              time.Now,
		key:              key,
		kid:              "key-1",
		codes:            map[string]codeGrant{},
		refreshTokens:    map[string]User{},
		refreshScopes:    map[string][]string{},
		refreshResources: map[string][]string{},
		idTokens:         map[string]User{},
		revoked:          map[string]bool{},
		devices:          map[string]*deviceGrant{},
		userCodes:        map[string]string{},
		counts:           map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("/keys", p.jwks)
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	mux.HandleFunc("/device/code", p.deviceAuthorization)
	mux.HandleFunc("/device", p.deviceVerify)
	mux.HandleFunc("/revoke", p.revoke)
	mux.HandleFunc("/userinfo", p.userinfo)
	p.server = httptest.NewUnstartedServer(p.gate(mux))
	p.server.TLS = tlsConfig
	p.server.StartTLS()
	t.Cleanup(p.server.Close)
	p.Issuer = p.server.URL
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.server.Certificate().Raw})
	return p
}

// CAPEM is the PEM of the certificate that signs the provider's TLS certificate.
func (p *Provider) CAPEM() []byte { return p.caPEM }

// CAFile writes CAPEM into a file in the test's temp dir and returns its path.
func (p *Provider) CAFile(t testing.TB) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "oidc-ca.pem")
	if err := os.WriteFile(f, p.caPEM, 0o600); err != nil {
		t.Fatalf("oidctest: write CA file: %v", err)
	}
	return f
}

// HTTPClient returns a client that trusts the provider's certificate.
func (p *Provider) HTTPClient() *http.Client { return p.server.Client() }

// TLSConfig returns a TLS config that trusts the provider's certificate.
func (p *Provider) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.server.Certificate())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// SetDiscoveryOverrides replaces fields of the discovery document from now
// on; a nil value removes the field (e.g. "device_authorization_endpoint": nil
// for a provider without the device grant).
func (p *Provider) SetDiscoveryOverrides(overrides map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discoveryOverrides = overrides
}

// SetDown makes every endpoint answer 503 (true) or work again (false),
// simulating an outage of the identity provider.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Count returns how many requests an endpoint served. Keys: "discovery",
// "jwks", "authorize", "device_authorization", "revoke", "userinfo", and
// "token:" + grant_type ("token:authorization_code", "token:refresh_token",
// "token:password", "token:client_credentials",
// "token:urn:ietf:params:oauth:grant-type:device_code").
func (p *Provider) Count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[key]
}

// LastAuthorizeRequest returns the query of the last authorize request.
func (p *Provider) LastAuthorizeRequest() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuthorize
}

// LastTokenRequest returns the form of the last token request.
func (p *Provider) LastTokenRequest() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastToken
}

// IsRevoked reports whether a token was revoked at the revocation endpoint.
func (p *Provider) IsRevoked(token string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.revoked[token]
}

// RevokeAllRefreshTokens invalidates every refresh token issued so far.
func (p *Provider) RevokeAllRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rt := range p.refreshTokens {
		p.revoked[rt] = true
	}
}

// RotateSigningKey replaces the signing key by a new one with a new key ID;
// the old key is no longer published.
func (p *Provider) RotateSigningKey(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: generate key: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key = key
	p.kid = fmt.Sprintf("key-%d", time.Now().UnixNano())
}

func (p *Provider) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			http.Error(w, "provider is down", http.StatusServiceUnavailable)
			return
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			p.count("client-cert:" + r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Provider) count(key string) {
	p.mu.Lock()
	p.counts[key]++
	p.mu.Unlock()
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.count("discovery")
	doc := map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.Issuer + "/authorize",
		"token_endpoint":                        p.Issuer + "/token",
		"jwks_uri":                              p.Issuer + "/keys",
		"userinfo_endpoint":                     p.Issuer + "/userinfo",
		"device_authorization_endpoint":         p.Issuer + "/device/code",
		"revocation_endpoint":                   p.Issuer + "/revoke",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"scopes_supported":                      []string{"openid", "email", "groups", "profile", "offline_access"},
		"grant_types_supported": []string{"authorization_code", "refresh_token", "password", "client_credentials",
			"urn:ietf:params:oauth:grant-type:device_code"},
	}
	p.mu.Lock()
	overrides := p.discoveryOverrides
	p.mu.Unlock()
	for k, v := range overrides {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func publicJWK(kid string, pub *rsa.PublicKey) jwk {
	return jwk{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
		N: b64(pub.N.Bytes()), E: b64(bigEndian(pub.E))}
}

func bigEndian(e int) []byte {
	var out []byte
	for e > 0 {
		out = append([]byte{byte(e)}, out...)
		e >>= 8
	}
	return out
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.count("jwks")
	p.mu.Lock()
	keys := append([]jwk{publicJWK(p.kid, &p.key.PublicKey)}, p.extraKeys...)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	p.count("authorize")
	q := r.URL.Query()
	p.mu.Lock()
	p.lastAuthorize = q
	p.mu.Unlock()
	if q.Get("client_id") != p.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("response_type") != "code" {
		http.Error(w, "unsupported response_type", http.StatusBadRequest)
		return
	}
	rq := redirect.Query()
	for _, res := range q["resource"] {
		if !slices.Contains(p.Resources, res) {
			rq.Set("error", "invalid_target")
			rq.Set("state", q.Get("state"))
			redirect.RawQuery = rq.Encode()
			http.Redirect(w, r, redirect.String(), http.StatusFound)
			return
		}
	}
	code := randomString()
	p.mu.Lock()
	p.codes[code] = codeGrant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), scope: q.Get("scope"),
		resources: q["resource"]}
	p.mu.Unlock()
	rq.Set("code", code)
	if s := q.Get("state"); s != "" {
		rq.Set("state", s)
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	p.count("device_authorization")
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != p.ClientID && !p.basicAuthOK(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if p.DeviceRequiresClientSecret && !p.basicAuthOK(r) && r.PostForm.Get("client_secret") != p.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	device, userCode := randomString(), strings.ToUpper(randomString()[:8])
	p.mu.Lock()
	p.devices[device] = &deviceGrant{scope: r.PostForm.Get("scope")}
	p.userCodes[userCode] = device
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               device,
		"user_code":                 userCode,
		"verification_uri":          p.Issuer + "/device",
		"verification_uri_complete": p.Issuer + "/device?user_code=" + userCode,
		"expires_in":                300,
		"interval":                  1,
	})
}

// deviceVerify approves the device grant named by ?user_code=, as a person
// who signed in and confirmed would.
func (p *Provider) deviceVerify(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	p.mu.Lock()
	device, ok := p.userCodes[code]
	if ok {
		p.devices[device].approved = true
	}
	p.mu.Unlock()
	if !ok {
		http.Error(w, "unknown user code", http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "Device approved. You can close this window.")
}

// ApproveDevice approves a device grant by its user code, as a person would.
func (p *Provider) ApproveDevice(userCode string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	device, ok := p.userCodes[userCode]
	if ok {
		p.devices[device].approved = true
	}
	return ok
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	p.count("revoke")
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	p.mu.Lock()
	p.revoked[r.PostForm.Get("token")] = true
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	p.count("userinfo")
	writeJSON(w, http.StatusOK, map[string]any{"sub": p.User.Subject, "email": p.User.Email, "groups": p.User.Groups})
}

func (p *Provider) basicAuthOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	return ok && id == p.ClientID && secret == p.ClientSecret
}

// clientOK authenticates the client: basic auth or client_secret_post with the
// right secret, or a public client sending only its client_id.
func (p *Provider) clientOK(r *http.Request, requireSecret bool) bool {
	if p.basicAuthOK(r) {
		return true
	}
	if r.PostForm.Get("client_id") != p.ClientID {
		return false
	}
	if s := r.PostForm.Get("client_secret"); s != "" || requireSecret {
		return s == p.ClientSecret
	}
	return true
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	grant := r.PostForm.Get("grant_type")
	p.count("token:" + grant)
	p.mu.Lock()
	p.lastToken = r.PostForm
	p.mu.Unlock()
	if !p.clientOK(r, grant == "client_credentials") {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	switch grant {
	case "authorization_code":
		p.mu.Lock()
		g, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		if !pkceOK(g.challenge, g.method, r.PostForm.Get("code_verifier")) {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		res, ok := requestedResources(r.PostForm, g.resources)
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_target")
			return
		}
		p.issueScoped(w, p.User, g.nonce, true, true, strings.Fields(g.scope), strings.Fields(g.scope), res)
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		p.mu.Lock()
		u, ok := p.refreshTokens[rt]
		granted := p.refreshScopes[rt]
		grantedResources := p.refreshResources[rt]
		revoked := p.revoked[rt]
		if ok && p.RotateRefreshTokens {
			delete(p.refreshTokens, rt)
		}
		p.mu.Unlock()
		if !ok || revoked {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		scopes := granted
		if req := r.PostForm.Get("scope"); req != "" {
			scopes = strings.Fields(req)
			for _, sc := range scopes {
				if !slices.Contains(granted, sc) {
					oauthError(w, http.StatusBadRequest, "invalid_scope")
					return
				}
			}
		}
		res, ok := requestedResources(r.PostForm, grantedResources)
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_target")
			return
		}
		// Without rotation no new refresh token is sent: the client keeps its own.
		p.issueScoped(w, u, "", p.RotateRefreshTokens, !p.RefreshWithoutIDToken, scopes, granted, res)
	case "password":
		if r.PostForm.Get("username") != p.User.Username || r.PostForm.Get("password") != p.User.Password {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		scopes := strings.Fields(r.PostForm.Get("scope"))
		p.issueScoped(w, p.User, "", true, true, scopes, scopes, resourceGrant{})
	case "client_credentials":
		u := User{Subject: p.ClientID}
		p.issue(w, u, "", false)
	case TokenExchangeGrant:
		p.exchange(w, r)
	case "urn:ietf:params:oauth:grant-type:device_code":
		p.mu.Lock()
		d, ok := p.devices[r.PostForm.Get("device_code")]
		approved := ok && d.approved
		if approved {
			delete(p.devices, r.PostForm.Get("device_code"))
		}
		p.mu.Unlock()
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
		case !approved:
			oauthError(w, http.StatusBadRequest, "authorization_pending")
		default:
			p.issue(w, p.User, "", true)
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

// TokenExchangeGrant and IDTokenType are RFC 8693's grant type and the
// token type of an ID token.
const (
	TokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	IDTokenType        = "urn:ietf:params:oauth:token-type:id_token"
)

// exchange answers an RFC 8693 token exchange: an ID token this provider
// issued (subject_token) for an ID token whose aud is the requested audience
// (one of ExchangeAudiences) and whose azp is the client.
func (p *Provider) exchange(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	p.mu.Lock()
	u, ok := p.idTokens[f.Get("subject_token")]
	p.mu.Unlock()
	aud := f.Get("audience")
	switch {
	case f.Get("subject_token_type") != IDTokenType || (f.Get("requested_token_type") != "" && f.Get("requested_token_type") != IDTokenType):
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	case !ok:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	case !slices.Contains(p.ExchangeAudiences, aud):
		oauthError(w, http.StatusBadRequest, "invalid_target")
		return
	}
	idToken := p.IDToken(u, func(c map[string]any) { c["aud"] = aud; c["azp"] = p.ClientID })
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      idToken,
		"issued_token_type": IDTokenType,
		"token_type":        "N_A",
		"expires_in":        int(p.IDTokenTTL.Seconds()),
	})
}

func pkceOK(challenge, method, verifier string) bool {
	switch {
	case challenge == "":
		return verifier == ""
	case method == "S256":
		sum := sha256.Sum256([]byte(verifier))
		return b64(sum[:]) == challenge
	case method == "" || method == "plain":
		return verifier == challenge
	}
	return false
}

func (p *Provider) issue(w http.ResponseWriter, u User, nonce string, withRefresh bool) {
	p.issueWith(w, u, nonce, withRefresh, true)
}

func (p *Provider) issueWith(w http.ResponseWriter, u User, nonce string, withRefresh, withIDToken bool) {
	p.issueScoped(w, u, nonce, withRefresh, withIDToken, nil, nil, resourceGrant{})
}

// CrossClientScope is Dex's scope asking for an ID token of audience peer.
func CrossClientScope(peer string) string { return crossClientPrefix + peer }

const crossClientPrefix = "audience:server:client_id:"

// resourceGrant is what a token request gets of RFC 8707: the resources
// the access token is for, and those its grant (and a new refresh token)
// holds.
type resourceGrant struct {
	requested, granted []string
}

// requestedResources checks the resource values of a token request
// against those granted (RFC 8707 section 2.2: a subset, else
// invalid_target); none requested means all granted.
func requestedResources(form url.Values, granted []string) (resourceGrant, bool) {
	req := form["resource"]
	for _, res := range req {
		if !slices.Contains(granted, res) {
			return resourceGrant{}, false
		}
	}
	if len(req) == 0 {
		req = granted
	}
	return resourceGrant{requested: req, granted: granted}, true
}

// ResourceAccessToken mints the access token for resources: a JWT in the
// form of RFC 9068 (header typ at+jwt; iss, sub, aud, client_id, jti, iat,
// exp and the user's email and groups), changed by AccessTokenClaims.
func (p *Provider) ResourceAccessToken(u User, resources []string) string {
	c := p.Claims(u)
	delete(c, "email_verified")
	c["client_id"] = p.ClientID
	c["jti"] = randomString()
	c["aud"] = resources
	if len(resources) == 1 {
		c["aud"] = resources[0]
	}
	if p.AccessTokenClaims != nil {
		p.AccessTokenClaims(c)
	}
	p.mu.Lock()
	key, kid := p.key, p.kid
	p.mu.Unlock()
	return signRS256Typ(key, kid, "at+jwt", c)
}

// issueScoped issues tokens for scopes (Dex's cross-client audiences among
// them) and resources; a new refresh token is granted the scopes and the
// resources granted.
func (p *Provider) issueScoped(w http.ResponseWriter, u User, nonce string, withRefresh, withIDToken bool, scopes, granted []string, res resourceGrant) {
	var aud []string
	for _, sc := range scopes {
		peer, ok := strings.CutPrefix(sc, crossClientPrefix)
		if !ok {
			continue
		}
		if !slices.Contains(p.CrossClientPeers, peer) {
			oauthError(w, http.StatusBadRequest, "invalid_scope")
			return
		}
		aud = append(aud, peer)
	}
	if len(aud) > 0 && !slices.Contains(aud, p.ClientID) {
		aud = append(aud, p.ClientID)
	}
	idToken := p.IDToken(u, func(c map[string]any) {
		if nonce != "" {
			c["nonce"] = nonce
		}
		switch len(aud) {
		case 0:
		case 1:
			c["aud"] = aud[0]
		default:
			c["aud"] = aud
			c["azp"] = p.ClientID
		}
	})
	p.mu.Lock()
	p.idTokens[idToken] = u
	p.mu.Unlock()
	access := idToken
	switch {
	case p.OpaqueAccessTokens:
		access = randomString()
	case len(res.requested) > 0:
		access = p.ResourceAccessToken(u, res.requested)
	}
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(p.IDTokenTTL.Seconds()),
		"id_token":     idToken,
	}
	if !withIDToken {
		delete(resp, "id_token")
	}
	if p.OmitExpiresIn {
		delete(resp, "expires_in")
	}
	if withRefresh {
		rt := randomString()
		p.mu.Lock()
		p.refreshTokens[rt] = u
		p.refreshScopes[rt] = granted
		p.refreshResources[rt] = res.granted
		p.mu.Unlock()
		resp["refresh_token"] = rt
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// Claims returns the standard claims of a valid ID token for u: iss, aud
// (the client ID), sub, email, email_verified, groups, iat, nbf, exp and the
// user's extra claims.
func (p *Provider) Claims(u User) map[string]any {
	now := p.Now()
	c := map[string]any{
		"iss":            p.Issuer,
		"aud":            p.ClientID,
		"sub":            u.Subject,
		"iat":            now.Unix(),
		"nbf":            now.Add(-time.Minute).Unix(),
		"exp":            now.Add(p.IDTokenTTL).Unix(),
		"email_verified": true,
	}
	if u.Email != "" {
		c["email"] = u.Email
	}
	if u.Groups != nil {
		c["groups"] = u.Groups
	}
	for k, v := range u.Extra {
		c[k] = v
	}
	return c
}

// IDToken mints a valid RS256 ID token for u, after applying mods to its claims
// (set a key to nil to delete it).
func (p *Provider) IDToken(u User, mods ...func(map[string]any)) string {
	c := p.Claims(u)
	for _, m := range mods {
		m(c)
	}
	for k, v := range c {
		if v == nil {
			delete(c, k)
		}
	}
	return p.Sign(c)
}

// Sign signs claims with the provider's current key (RS256, published kid).
func (p *Provider) Sign(claims map[string]any) string {
	p.mu.Lock()
	key, kid := p.key, p.kid
	p.mu.Unlock()
	return SignRS256(key, kid, claims)
}

// PublicKeyPEM returns the provider's current public key in PEM, as an
// attacker who read the JWKS would have it.
func (p *Provider) PublicKeyPEM() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil {
		panic(err) // cannot happen for an RSA key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// KeyID returns the key ID of the current signing key.
func (p *Provider) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kid
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, code int, e string) {
	writeJSON(w, code, map[string]string{"error": e})
}

func randomString() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b64(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
