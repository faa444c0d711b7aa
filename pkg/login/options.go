package login

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// Grant types (--grant-type).
const (
	GrantAuto              = "auto"
	GrantAuthCode          = "authcode"
	GrantAuthCodeKeyboard  = "authcode-keyboard"
	GrantDeviceCode        = "device-code"
	GrantPassword          = "password"
	GrantClientCredentials = "client-credentials"
)

// PKCE methods (--oidc-pkce-method).
const (
	PKCEAuto = "auto"
	PKCES256 = "S256"
	PKCENo   = "no"
)

// Defaults filled by Validate for zero values.
const (
	DefaultAuthenticationTimeout = 3 * time.Minute
	DefaultExpirySkew            = 30 * time.Second
	// DefaultRequestTimeout bounds every request to the identity provider,
	// so that a provider that accepts connections and never answers ends a
	// get-token well within kubectl's patience.
	DefaultRequestTimeout = 20 * time.Second
	// DefaultRequestNotice is how long a request to the provider goes
	// unanswered before one line on stderr says what is being waited for.
	DefaultRequestNotice = 3 * time.Second
)

// DefaultListenAddresses are tried in order for the authcode local server
// (kubelogin's defaults, so redirect URIs registered for it keep working).
var DefaultListenAddresses = []string{"127.0.0.1:8000", "127.0.0.1:18000"}

// DefaultRedirectURLHostname is the host of the authcode redirect URI: the
// loopback IP literal, not localhost, which may resolve to ::1 where another
// process can listen on the same port (RFC 8252 section 8.3).
const DefaultRedirectURLHostname = "127.0.0.1"

// KeyboardRedirectURL is the redirect URI of authcode-keyboard when
// --oidc-redirect-url is not given: the provider shows the code to copy.
const KeyboardRedirectURL = "urn:ietf:wg:oauth:2.0:oob"

// reservedAuthParams are set by the flows themselves; an extra parameter
// with one of these names would break or weaken them.
var reservedAuthParams = map[string]bool{
	"client_id": true, "redirect_uri": true, "response_type": true, "scope": true,
	"state": true, "nonce": true, "code_challenge": true, "code_challenge_method": true,
}

// Validate checks the options (issuer https URL, client id, known enums, grant needs, ...)
// and fills defaults; returns one actionable error.
func (o *Options) Validate() error {
	if err := o.validateIssuer(); err != nil {
		return err
	}
	if o.ClientID == "" {
		return errors.New("--oidc-client-id is required: the client ID registered at the identity provider")
	}
	switch o.PKCEMethod {
	case "", PKCEAuto:
		o.PKCEMethod = PKCEAuto
	case PKCES256, "s256":
		o.PKCEMethod = PKCES256
	case PKCENo, "none", "plain":
		if o.PKCEMethod == "plain" {
			return errors.New("--oidc-pkce-method=plain is not supported (it protects nothing): use auto, S256 or no")
		}
		o.PKCEMethod = PKCENo
	default:
		return fmt.Errorf("unknown --oidc-pkce-method %q: use auto, S256 or no", o.PKCEMethod)
	}
	switch o.GrantType {
	case "":
		o.GrantType = GrantAuto
	case GrantAuto, GrantAuthCode, GrantAuthCodeKeyboard, GrantDeviceCode, GrantPassword, GrantClientCredentials:
	default:
		return fmt.Errorf("unknown --grant-type %q: use auto, authcode, authcode-keyboard, device-code, password or client-credentials", o.GrantType)
	}
	if o.GrantType == GrantClientCredentials && o.ClientSecret == "" && o.ClientSecretKeyring == "" {
		return errors.New("--grant-type=client-credentials needs --oidc-client-secret (or $" + EnvClientSecret + ", or --oidc-client-secret-keyring)")
	}
	if o.RedirectURL != "" {
		u, err := url.Parse(o.RedirectURL)
		hostPort := err == nil && u.Opaque != "" && strings.Trim(u.Opaque, "0123456789") == "" // "localhost:8000"
		web := err == nil && (u.Scheme == "http" || u.Scheme == "https")
		if err != nil || u.Scheme == "" || hostPort || (web && u.Host == "") {
			return fmt.Errorf("--oidc-redirect-url %q is not an absolute URL (e.g. http://localhost:8000 or %s)", o.RedirectURL, KeyboardRedirectURL)
		}
	}
	switch {
	case o.RedirectURLHostname == "":
		o.RedirectURLHostname = DefaultRedirectURLHostname
	case !isLoopback(strings.Trim(o.RedirectURLHostname, "[]")):
		return fmt.Errorf("--oidc-redirect-url-hostname %q is not a loopback name: use 127.0.0.1, [::1] or localhost (the local server listens only on this machine)", o.RedirectURLHostname)
	}
	for name := range o.AuthRequestExtraParams {
		if reservedAuthParams[name] {
			return fmt.Errorf("--oidc-auth-request-extra-params cannot set %q: kubectl oidc sets it itself", name)
		}
	}
	if len(o.ListenAddresses) == 0 {
		o.ListenAddresses = append([]string(nil), DefaultListenAddresses...)
	}
	for _, a := range o.ListenAddresses {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("--listen-address %q is not HOST:PORT (e.g. 127.0.0.1:8000; port 0 picks a free one)", a)
		}
	}
	switch {
	case o.AuthenticationTimeout < 0:
		return fmt.Errorf("--authentication-timeout %s is negative", o.AuthenticationTimeout)
	case o.AuthenticationTimeout == 0:
		o.AuthenticationTimeout = DefaultAuthenticationTimeout
	}
	switch {
	case o.RequestTimeout < 0:
		return fmt.Errorf("--oidc-request-timeout %s is negative", o.RequestTimeout)
	case o.RequestTimeout == 0:
		o.RequestTimeout = DefaultRequestTimeout
	}
	switch {
	case o.RequestNotice < 0:
		return fmt.Errorf("--oidc-request-notice %s is negative", o.RequestNotice)
	case o.RequestNotice == 0:
		o.RequestNotice = DefaultRequestNotice
	}
	switch {
	case o.ExpirySkew < 0:
		return fmt.Errorf("--token-expiry-skew %s is negative", o.ExpirySkew)
	case o.ExpirySkew == 0:
		o.ExpirySkew = DefaultExpirySkew
	}
	switch {
	case o.AudienceMethod == "":
		o.AudienceMethod = AudienceMethodTokenExchange
	case !slices.Contains(AudienceMethods, o.AudienceMethod):
		return fmt.Errorf("--oidc-audience-method %q is not one of %s", o.AudienceMethod, strings.Join(AudienceMethods, ", "))
	}
	if len(o.LoginAudiences) > 0 && (o.AudienceMethod == AudienceMethodTokenExchange || !o.exchanging()) {
		return fmt.Errorf("--oidc-login-audience needs --oidc-audience and --oidc-audience-method=%s or %s", AudienceMethodDexCrossClient, AudienceMethodResourceIndicator)
	}
	if o.exchanging() && o.UseAccessToken {
		return errors.New("--oidc-audience cannot be combined with --oidc-use-access-token: --oidc-audience-method decides which token the cluster gets")
	}
	if o.exchanging() && o.AudienceMethod == AudienceMethodResourceIndicator {
		if err := o.validateResources(); err != nil {
			return err
		}
	}
	if (o.LocalServerCertFile == "") != (o.LocalServerKeyFile == "") {
		return errors.New("--local-server-cert and --local-server-key go together: give both for an HTTPS local server, or neither")
	}
	if o.OpenURLAfterAuthentication != "" {
		u, err := url.Parse(o.OpenURLAfterAuthentication)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--open-url-after-authentication %q is not an http(s) URL", o.OpenURLAfterAuthentication)
		}
	}
	for name, value := range o.RequestHeaders {
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return fmt.Errorf("--oidc-request-header %q is not a valid HTTP header NAME=VALUE", name)
		}
	}
	switch o.TLSRenegotiation {
	case tls.RenegotiateNever, tls.RenegotiateOnceAsClient, tls.RenegotiateFreelyAsClient:
	default:
		return fmt.Errorf("unknown TLS renegotiation setting %d", o.TLSRenegotiation)
	}
	if o.InsecureSkipTLSVerify && (len(o.CertificateAuthority) > 0 || len(o.CertificateAuthorityData) > 0) {
		return errors.New("--insecure-skip-tls-verify cannot be combined with --certificate-authority or --certificate-authority-data: drop one")
	}
	for _, d := range o.CertificateAuthorityData {
		if _, err := base64.StdEncoding.DecodeString(strings.TrimSpace(d)); err != nil {
			return fmt.Errorf("--certificate-authority-data is not base64: %w", err)
		}
	}
	return o.validateCache()
}

// validateResources checks the audiences of the resource-indicator method:
// RFC 8707 resources are absolute URIs without a fragment, and the method
// sets the resource parameters itself.
func (o *Options) validateResources() error {
	if _, ok := o.AuthRequestExtraParams["resource"]; ok {
		return fmt.Errorf("--oidc-auth-request-extra-params cannot set \"resource\" with --oidc-audience-method=%s: it asks for --oidc-audience (and --oidc-login-audience) itself", AudienceMethodResourceIndicator)
	}
	for _, a := range append([]string{o.Audience}, o.LoginAudiences...) {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(a, "#") {
			return fmt.Errorf("audience %q is not a resource indicator: --oidc-audience-method=%s needs absolute URIs without a fragment (RFC 8707), e.g. https://prod.k8s.example.com", a, AudienceMethodResourceIndicator)
		}
	}
	return nil
}

func (o *Options) validateIssuer() error {
	if o.IssuerURL == "" {
		return errors.New("--oidc-issuer-url is required: the issuer of the identity provider, e.g. https://dex.example.com")
	}
	u, err := url.Parse(o.IssuerURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--oidc-issuer-url %q is not an absolute URL such as https://dex.example.com", o.IssuerURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		// A provider on this machine (development); nothing travels the network.
	default:
		return fmt.Errorf("--oidc-issuer-url %q must use https (http only for localhost)", o.IssuerURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--oidc-issuer-url %q must not have a query or fragment", o.IssuerURL)
	}
	return nil
}

func (o *Options) validateCache() error {
	switch o.TokenCacheStorage {
	case "":
		o.TokenCacheStorage = tokencache.KindAuto
	case tokencache.KindAuto, tokencache.KindKeyring, tokencache.KindDisk, tokencache.KindNone:
	default:
		return fmt.Errorf("unknown --token-cache-storage %q: use auto, keyring, disk or none", o.TokenCacheStorage)
	}
	if o.AuthenticationTimeout == 0 {
		o.AuthenticationTimeout = DefaultAuthenticationTimeout
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scopes returns openid followed by the extra scopes, without duplicates.
func (o *Options) scopes() []string {
	out := []string{"openid"}
	for _, s := range o.ExtraScopes {
		if s == "" || s == "openid" {
			continue
		}
		dup := false
		for _, have := range out {
			dup = dup || have == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// caBundle returns the PEM bytes of --certificate-authority files and
// --certificate-authority-data, in that order.
func (o *Options) caBundle() ([]byte, error) {
	var out []byte
	for _, f := range o.CertificateAuthority {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read --certificate-authority: %w", err)
		}
		out = append(out, b...)
		out = append(out, '\n')
	}
	for _, d := range o.CertificateAuthorityData {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("--certificate-authority-data is not base64: %w", err)
		}
		out = append(out, b...)
		out = append(out, '\n')
	}
	return out, nil
}

// CacheKey returns the token cache key Get uses for these options: it
// validates them (filling defaults, such as --grant-type=auto) and reads
// the CA bundle exactly as Get does. Other packages that put tokens into the
// cache (convert) call it instead of deriving the key themselves.
func (o Options) CacheKey() (tokencache.Key, error) {
	if err := o.Validate(); err != nil {
		return tokencache.Key{}, err
	}
	ca, err := o.caBundle()
	if err != nil {
		return tokencache.Key{}, err
	}
	return o.cacheKey(ca), nil
}

// exchanging reports whether get-token exchanges the session's token for
// one of another audience.
func (o *Options) exchanging() bool { return o.Audience != "" && o.Audience != o.ClientID }

// audienceKey is the cache key of the exchanged token: the session's key
// with the audience (and the cluster).
func (o *Options) audienceKey(ca []byte) tokencache.Key {
	k := o.cacheKey(ca)
	k.Cluster = o.Cluster
	k.Audience = o.Audience
	return k
}

// cacheKey is the token cache key for these options (see docs/tokencache.md).
// With an audience to exchange for, the session's own tokens are never sent
// to a cluster, so their key is not bound to one: one login serves every
// cluster of the issuer.
func (o *Options) cacheKey(ca []byte) tokencache.Key {
	cluster := o.Cluster
	if o.exchanging() {
		cluster = ""
	}
	return tokencache.Key{
		IssuerURL:             o.IssuerURL,
		ClientID:              o.ClientID,
		Scopes:                o.ExtraScopes,
		ExtraParams:           o.AuthRequestExtraParams,
		GrantType:             o.GrantType,
		Username:              o.Username,
		CACertHash:            tokencache.CAHash(ca),
		InsecureSkipTLSVerify: o.InsecureSkipTLSVerify,
		UseAccessToken:        o.UseAccessToken,
		Cluster:               cluster,
	}
}
