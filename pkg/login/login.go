// Package login signs a person in at an OIDC provider (authorization code
// with PKCE, keyboard, device code, password, client credentials) and hands
// out tokens through the token cache: cache, then refresh, then login.
package login

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/login/secretname"
)

// Options are get-token's / login's flags (names in comments).
type Options struct {
	IssuerURL              string            // --oidc-issuer-url
	ClientID               string            // --oidc-client-id
	ClientSecret           string            // --oidc-client-secret
	ExtraScopes            []string          // --oidc-extra-scope (openid is always requested)
	RedirectURL            string            // --oidc-redirect-url
	RedirectURLHostname    string            // --oidc-redirect-url-hostname (default 127.0.0.1)
	AuthRequestExtraParams map[string]string // --oidc-auth-request-extra-params
	PKCEMethod             string            // --oidc-pkce-method: auto|S256|no
	UseAccessToken         bool              // --oidc-use-access-token
	GrantType              string            // --grant-type: auto|authcode|authcode-keyboard|device-code|password|client-credentials
	ListenAddresses        []string          // --listen-address
	SkipOpenBrowser        bool              // --skip-open-browser
	BrowserCommand         string            // --browser-command
	AuthenticationTimeout  time.Duration     // --authentication-timeout (default 3m)
	RequestTimeout         time.Duration     // --oidc-request-timeout: bound of each request to the provider (default 20s)
	RequestNotice          time.Duration     // --oidc-request-notice: a request unanswered this long is reported on stderr (default 3s)
	Username               string            // --username
	Password               string            // --password
	// ClientSecretKeyring (--oidc-client-secret-keyring) and
	// PasswordKeyring (--password-keyring) name the OS keyring items
	// (service SecretKeyringService) that hold the client secret and the
	// password when ClientSecret and Password are empty. They are read
	// before the first request to the provider, never on a cache hit.
	ClientSecretKeyring, PasswordKeyring string
	CertificateAuthority                 []string      // --certificate-authority (files)
	CertificateAuthorityData             []string      // --certificate-authority-data (base64 PEM)
	InsecureSkipTLSVerify                bool          // --insecure-skip-tls-verify
	TokenCacheDir                        string        // --token-cache-dir ("" = default: $KUBECACHEDIR/oidc or ~/.kube/cache/oidc)
	TokenCacheStorage                    string        // --token-cache-storage: auto|keyring|disk|none
	ForceRefresh                         bool          // --force-refresh
	ExpirySkew                           time.Duration // --token-expiry-skew (default 30s)
	// Cluster is the server URL of the cluster the token is for: part of
	// the cache key, so that a cluster's cached token is never handed to
	// another. get-token takes it from KUBERNETES_EXEC_INFO (provideClusterInfo);
	// --cluster-server sets it for login, logout and whoami.
	Cluster string
	// Audience (--oidc-audience) is the audience the cluster accepts, when
	// it is not ClientID: get-token obtains a token of this audience from
	// the session (by AudienceMethod), cached per audience and cluster.
	Audience string
	// AudienceMethod (--oidc-audience-method) is how the token of Audience
	// is obtained: AudienceMethodTokenExchange (the default),
	// AudienceMethodDexCrossClient or AudienceMethodResourceIndicator.
	AudienceMethod string
	// LoginAudiences (kubectl oidc login --oidc-login-audience) are more
	// audiences a dex-cross-client or resource-indicator login authorizes
	// with Audience, so that one sign-in serves several clusters.
	LoginAudiences []string
	Verbosity      int // -v: >=1 logs HTTP exchanges, never a token
	// RequestHeaders (--oidc-request-header) are set on every request to
	// the provider (e.g. Origin for Entra ID single-page applications).
	RequestHeaders map[string]string
	// TLSRenegotiation (--tls-renegotiation-once, --tls-renegotiation-freely)
	// is whether the provider may ask for TLS renegotiation.
	TLSRenegotiation tls.RenegotiationSupport
	// LocalServerCertFile and LocalServerKeyFile (--local-server-cert,
	// --local-server-key) make the authcode local server serve HTTPS.
	LocalServerCertFile, LocalServerKeyFile string
	// OpenURLAfterAuthentication (--open-url-after-authentication) is where
	// the browser is sent after a successful authcode sign-in.
	OpenURLAfterAuthentication string
	// KubeloginTokenCacheDir (--kubelogin-token-cache-dir) is where
	// kubelogin's token cache is looked for when this cache has no entry
	// ("": --token-cache-dir when given, else kubelogin's default).
	KubeloginTokenCacheDir string
}

// Environment variables that hold the client secret and the password when
// --oidc-client-secret and --password are not given (kubectl oidc setup
// writes them into the exec stanza's env, never into its args).
const (
	EnvClientSecret = secretname.EnvClientSecret
	EnvPassword     = secretname.EnvPassword
)

// UI is how the flows talk to the person. Everything goes to Err (stderr); stdout is the cmd's.
type UI struct {
	In          io.Reader // pasted codes, prompted password
	Err         io.Writer
	Interactive bool // false: no flow that needs the person (kubectl's spec.interactive=false)
	// OpenBrowser opens url; nil means the default (BrowserCommand, else xdg-open/open/rundll32).
	OpenBrowser func(ctx context.Context, url string) error
	// ReadPassword reads a password without echo; nil means the terminal's.
	ReadPassword func(prompt string) (string, error)
}

// Token is what Get, Login and Cached hand out.
type Token struct {
	Token  string    // the ID token; the access token with UseAccessToken or AudienceMethodResourceIndicator
	Expiry time.Time // zero when unknown
	// IDTokenClaims are the verified claims of the ID token (nil when the
	// provider gave none); with AudienceMethodResourceIndicator, of the JWT
	// access token handed out.
	IDTokenClaims map[string]any
	Source        string // "cache", "refresh" or "login"
}

// ErrInteractionRequired: login needs the person but UI.Interactive is false.
var ErrInteractionRequired = errors.New("signing in needs a person at the terminal, but this session is not interactive")

// ErrNotLoggedIn: Cached found nothing valid cached.
var ErrNotLoggedIn = errors.New("not logged in: no token in the cache")

// Validate is in options.go.

// Get returns a valid token: cache, then refresh, then login (see issue 3).
//
// The per-key lock of the token cache is held across read, refresh, login
// and save, so concurrent callers cause one refresh and at most one login.
// A valid cached token (expiry minus ExpirySkew still ahead) is returned
// without any network call. Otherwise the refresh token is used; when that
// fails (or gives no ID token where one is needed) a login starts, or, when
// ui.Interactive is false and the grant needs a person, ErrInteractionRequired
// is returned. ForceRefresh skips the cached token but still tries the
// refresh token first.
func Get(ctx context.Context, o Options, ui UI) (*Token, error) {
	return get(ctx, o, ui, systemEnv(), modeGet)
}

// Login always signs in interactively (ignores the cache's tokens), then saves.
func Login(ctx context.Context, o Options, ui UI) (*Token, error) {
	return get(ctx, o, ui, systemEnv(), modeLogin)
}

// Cached returns the cached token without any network call (expired allowed: check Expiry), or ErrNotLoggedIn.
func Cached(ctx context.Context, o Options, ui UI) (*Token, error) {
	return cached(ctx, o, ui, systemEnv())
}

// Logout removes the cached entry for these options (all entries in the cache dir when all),
// revoking each refresh token at the provider's revocation_endpoint when it has one (RFC 7009);
// returns how many entries were removed. A revocation failure is reported but the entry is still removed.
func Logout(ctx context.Context, o Options, ui UI, all bool) (int, error) {
	return logout(ctx, o, ui, systemEnv(), all)
}
