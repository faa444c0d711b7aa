package web

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// CallbackPath is where the identity provider sends the browser back
// after sign-in; --web-redirect-url must end with it.
const CallbackPath = "/web/callback"

// Options are the --web-* flags. The page is off until --web-client-id is set.
type Options struct {
	ClientID         string
	ClientSecretFile string
	RedirectURL      string
	// ExtraScopes are requested in addition to openid (default: the
	// discovery document's scopes, the claims kubectl's tokens carry).
	ExtraScopes []string
}

// NewOptions returns the defaults: the page is off.
func NewOptions() *Options { return &Options{} }

// AddFlags registers the --web-* flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ClientID, "web-client-id", o.ClientID,
		"Serve the sign-in page at / (opt-in): the client ID the proxy signs people in with (authorization code + PKCE, a confidential client). Its ID tokens must be accepted by the proxy's own authentication (their audience one the proxy accepts). Needs --web-client-secret-file, --web-redirect-url and the discovery document (--discovery-client-id).")
	fs.StringVar(&o.ClientSecretFile, "web-client-secret-file", o.ClientSecretFile,
		"File holding the client secret of --web-client-id (never a flag value, so it stays out of ps). It also keys the page's sealed cookies: replicas sharing it share sessions.")
	fs.StringVar(&o.RedirectURL, "web-redirect-url", o.RedirectURL,
		"The page's redirect URI registered at the identity provider: https://PROXY-HOST[:PORT]"+CallbackPath+", with the host people use to reach the proxy. The page tells them to run `kubectl oidc setup https://PROXY-HOST[:PORT]`.")
	fs.StringSliceVar(&o.ExtraScopes, "web-extra-scopes", o.ExtraScopes,
		"Scopes the page requests in addition to openid (default: the discovery document's --discovery-scopes). For Dex, audience:server:client_id:CLIENT gives the page's ID tokens the audience the proxy accepts.")
}

// Enabled reports whether the page is served.
func (o *Options) Enabled() bool { return o.ClientID != "" }

// Validate reports every invalid value; nothing when the page is off.
func (o *Options) Validate() []error {
	if !o.Enabled() {
		if o.ClientSecretFile != "" || o.RedirectURL != "" || len(o.ExtraScopes) > 0 {
			return []error{errors.New("--web-client-secret-file, --web-redirect-url and --web-extra-scopes need --web-client-id")}
		}
		return nil
	}
	var errs []error
	if o.ClientSecretFile == "" {
		errs = append(errs, errors.New("--web-client-id needs --web-client-secret-file"))
	}
	if _, err := ParseRedirectURL(o.RedirectURL); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// ParseRedirectURL checks --web-redirect-url: https, a host, the path
// CallbackPath, nothing else.
func ParseRedirectURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != CallbackPath {
		return nil, fmt.Errorf("--web-redirect-url %q: want https://PROXY-HOST[:PORT]%s", s, CallbackPath)
	}
	return u, nil
}

// ClientSecret reads --web-client-secret-file (surrounding white space,
// such as a trailing newline, removed).
func (o *Options) ClientSecret() (string, error) {
	data, err := os.ReadFile(o.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("--web-client-secret-file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if len(s) < 16 {
		return "", fmt.Errorf("--web-client-secret-file %s: the secret has %d characters; use at least 16 (it also keys the page's cookies)", o.ClientSecretFile, len(s))
	}
	return s, nil
}
