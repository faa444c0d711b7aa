package main

import (
	"crypto/tls"
	"errors"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/kube-oidc/kube-oidc/pkg/login"
)

// newLoginFlags returns the login flags of get-token, login, logout, whoami
// and setup, bound to o. The same set is given to setup, which writes the
// ones the person set into the exec stanza.
func newLoginFlags(o *login.Options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("login", pflag.ContinueOnError)
	fs.SortFlags = true
	fs.StringVar(&o.IssuerURL, "oidc-issuer-url", "", "Issuer URL of the OpenID Connect provider (required)")
	fs.StringVar(&o.ClientID, "oidc-client-id", "", "Client ID registered at the provider (required)")
	fs.StringVar(&o.ClientSecret, "oidc-client-secret", "", "Client secret, for confidential clients and the client-credentials grant (default: $"+login.EnvClientSecret+", else the --oidc-client-secret-keyring item)")
	fs.StringVar(&o.ClientSecretKeyring, "oidc-client-secret-keyring", "", "OS keyring item (service \""+login.SecretKeyringService+"\") holding the client secret, read when neither --oidc-client-secret nor $"+login.EnvClientSecret+" gives it; setup and convert --secret-storage=keyring store it and write this flag")
	fs.StringSliceVar(&o.ExtraScopes, "oidc-extra-scope", nil, "Scope to request besides openid (repeatable, or comma-separated), e.g. email, groups, offline_access")
	redirectURL := newOverridable(&o.RedirectURL, "")
	fs.Var(redirectURL, "oidc-redirect-url", "Redirect URL registered at the provider; a loopback one (http://127.0.0.1:8000/callback) is served by the local server on its port and path (default: http://127.0.0.1:PORT/ of the local server)")
	fs.StringVar(&o.RedirectURLHostname, "oidc-redirect-url-hostname", login.DefaultRedirectURLHostname, "Host name of the redirect URL of the local server when --oidc-redirect-url is not given: 127.0.0.1, [::1], or localhost for providers that only accept http://localhost:PORT")
	fs.StringToStringVar(&o.AuthRequestExtraParams, "oidc-auth-request-extra-params", nil, "Extra parameter of the authorization request, as key=value (repeatable), e.g. connector_id=ldap")
	pkceMethod := newOverridable(&o.PKCEMethod, login.PKCEAuto)
	fs.Var(pkceMethod, "oidc-pkce-method", "PKCE method: auto (S256 when the provider's discovery lists it), S256 or no")
	fs.BoolVar(&o.UseAccessToken, "oidc-use-access-token", false, "Give kubectl the access token instead of the ID token (opaque access tokens work too)")
	fs.StringVar(&o.GrantType, "grant-type", "auto", "Sign-in flow: auto, authcode, authcode-keyboard, device-code, password or client-credentials (auto: password with --username; authcode-keyboard with a non-loopback --oidc-redirect-url; authcode when a browser can be opened; else device-code when the provider offers it)")
	fs.StringSliceVar(&o.ListenAddresses, "listen-address", append([]string(nil), login.DefaultListenAddresses...), "Address of the local server receiving the authorization code, tried in order")
	fs.BoolVar(&o.SkipOpenBrowser, "skip-open-browser", false, "Do not open a browser; only print the URL to open")
	fs.StringVar(&o.BrowserCommand, "browser-command", "", "Command that opens the login URL (it is the last argument; default: the system's browser)")
	fs.DurationVar(&o.AuthenticationTimeout, "authentication-timeout", login.DefaultAuthenticationTimeout, "How long to wait for a sign-in (browser, device, or another process holding the cache lock)")
	fs.DurationVar(&o.RequestTimeout, "oidc-request-timeout", login.DefaultRequestTimeout, "Give up on a request to the provider (discovery, token, keys, revocation) that is not answered within this time")
	fs.DurationVar(&o.RequestNotice, "oidc-request-notice", login.DefaultRequestNotice, "Say on stderr which provider is being waited for when a request is not answered within this time")
	fs.StringVar(&o.Username, "username", "", "Username for the password grant")
	fs.StringVar(&o.Password, "password", "", "Password for the password grant (default: $"+login.EnvPassword+", else the --password-keyring item; prompted on the terminal when missing)")
	fs.StringVar(&o.PasswordKeyring, "password-keyring", "", "OS keyring item (service \""+login.SecretKeyringService+"\") holding the password, read when neither --password nor $"+login.EnvPassword+" gives it; setup and convert --secret-storage=keyring store it and write this flag")
	fs.StringArrayVar(&o.CertificateAuthority, "certificate-authority", nil, "PEM file of a CA to trust for the provider (repeatable; default: system roots)")
	fs.StringArrayVar(&o.CertificateAuthorityData, "certificate-authority-data", nil, "Base64 PEM of a CA to trust for the provider (repeatable)")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "Do not verify the provider's certificate (insecure)")
	fs.StringVar(&o.TokenCacheDir, "token-cache-dir", "", "Directory of the token cache (default: ~/.kube/cache/oidc, or $KUBECACHEDIR/oidc)")
	fs.StringVar(&o.TokenCacheStorage, "token-cache-storage", "auto", "Where to keep tokens: auto (the OS keyring when one answers, else disk), keyring, disk or none")
	fs.BoolVar(&o.ForceRefresh, "force-refresh", false, "Refresh the token even when the cached one is still valid")
	fs.StringVar(&o.Audience, "oidc-audience", "", "Audience the cluster accepts, when not the client ID: get-token obtains a token of this audience only from the signed-in session (see --oidc-audience-method) and caches it per audience and cluster")
	fs.StringVar(&o.AudienceMethod, "oidc-audience-method", "", "How the token of --oidc-audience is obtained: token-exchange (OAuth 2.0 Token Exchange, RFC 8693: the session's ID token exchanged for one of the audience without a new login; the default), dex-cross-client (Dex's scope audience:server:client_id:AUDIENCE: one login for every audience granted so far, then a refresh narrowed to this audience per cluster; a new audience signs in once more) or resource-indicator (RFC 8707: one browser login with a resource parameter per audience granted so far, then a JWT access token (RFC 9068) whose aud is only this audience, an absolute URI, from the code exchange or a refresh; a new audience signs in once more)")
	fs.StringVar(&o.Cluster, "cluster-server", "", "Server URL of the cluster the cached token is bound to (get-token takes it from kubectl when the exec stanza sets provideClusterInfo, as setup writes it)")
	fs.DurationVar(&o.ExpirySkew, "token-expiry-skew", login.DefaultExpirySkew, "Treat a token as expired this long before its exp claim")
	fs.StringToStringVar(&o.RequestHeaders, "oidc-request-header", nil, "HTTP header to send with every request to the provider, as NAME=VALUE (repeatable), e.g. Origin=http://localhost:8000")
	fs.StringVar(&o.LocalServerCertFile, "local-server-cert", "", "Certificate (PEM file) for an HTTPS local server of the authcode flow; needs --local-server-key")
	fs.StringVar(&o.LocalServerKeyFile, "local-server-key", "", "Private key (PEM file) of --local-server-cert")
	fs.StringVar(&o.OpenURLAfterAuthentication, "open-url-after-authentication", "", "URL the browser is sent to after a successful authcode sign-in")
	fs.StringVar(&o.KubeloginTokenCacheDir, "kubelogin-token-cache-dir", "", "Directory of kubelogin's token cache, whose entry for these settings is imported when kube-oidc's cache has none (default: --token-cache-dir when given, else ~/.kube/cache/oidc-login, or $KUBECACHEDIR/oidc-login)")
	addKubeloginFlags(fs, o, pkceMethod, redirectURL)
	return fs
}

// addKubeloginFlags adds the flags kubelogin (int128/kubelogin) has under
// other names, with kubelogin's meaning, so that its exec stanzas run
// unchanged, and its logging flags, which fail with the replacement.
// --oidc-use-pkce and --oidc-redirect-url-authcode-keyboard override
// --oidc-pkce-method and --oidc-redirect-url whatever their order, as in
// kubelogin.
func addKubeloginFlags(fs *pflag.FlagSet, o *login.Options, pkceMethod, redirectURL *overridable) {
	fs.Var(&secondsValue{d: &o.AuthenticationTimeout}, "authentication-timeout-sec", "Same as --authentication-timeout, in seconds (kubelogin's flag)")
	fs.Var(&boolSetter{set: func() { pkceMethod.override(login.PKCES256) }}, "oidc-use-pkce", "Same as --oidc-pkce-method=S256, which it overrides (kubelogin's flag)")
	fs.Lookup("oidc-use-pkce").NoOptDefVal = "true"
	fs.Var(&aliasValue{set: redirectURL.override}, "oidc-redirect-url-authcode-keyboard", "Same as --oidc-redirect-url, which it overrides (kubelogin's flag)")
	fs.Var(&boolSetter{set: func() { o.TLSRenegotiation = tls.RenegotiateOnceAsClient }}, "tls-renegotiation-once", "Let the provider ask for TLS renegotiation once per connection")
	fs.Lookup("tls-renegotiation-once").NoOptDefVal = "true"
	fs.Var(&boolSetter{set: func() {
		if o.TLSRenegotiation != tls.RenegotiateOnceAsClient { // once wins, as in kubelogin
			o.TLSRenegotiation = tls.RenegotiateFreelyAsClient
		}
	}}, "tls-renegotiation-freely", "Let the provider ask for TLS renegotiation repeatedly (--tls-renegotiation-once wins when both are given)")
	fs.Lookup("tls-renegotiation-freely").NoOptDefVal = "true"
	// kubelogin's logging flags besides -v (klog's).
	klogFlags := []string{
		"add_dir_header", "alsologtostderr", "log_backtrace_at", "log_dir", "log_file",
		"log_file_max_size", "logtostderr", "one_output", "skip_headers", "skip_log_headers",
		"stderrthreshold", "vmodule",
	}
	for _, name := range klogFlags {
		fs.Var(replacedFlag{}, name, "")
		fs.Lookup(name).NoOptDefVal = "true"
		_ = fs.MarkHidden(name)
	}
}

// replacedFlag is a kubelogin logging flag: giving it is an error naming the replacement.
type replacedFlag struct{}

func (replacedFlag) String() string { return "" }
func (replacedFlag) Type() string   { return "" }
func (replacedFlag) Set(string) error {
	return errors.New("kubectl oidc logs only to stderr; use -v=1 (HTTP exchanges) or -v=2 (with bodies) instead of klog's logging flags")
}

// secondsValue sets a duration from a whole number of seconds.
type secondsValue struct{ d *time.Duration }

func (v *secondsValue) String() string {
	if v.d == nil {
		return "0"
	}
	return strconv.Itoa(int(*v.d / time.Second))
}
func (v *secondsValue) Type() string { return "int" }
func (v *secondsValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("not a whole number of seconds")
	}
	*v.d = time.Duration(n) * time.Second
	return nil
}

// boolSetter is a boolean flag that calls set when given as true.
type boolSetter struct {
	value bool
	set   func()
}

func (v *boolSetter) String() string { return strconv.FormatBool(v.value) }
func (v *boolSetter) Type() string   { return "bool" }
func (v *boolSetter) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	v.value = b
	if b {
		v.set()
	}
	return nil
}

// aliasValue is a string flag handing its value to set.
type aliasValue struct {
	value string
	set   func(string)
}

func (v *aliasValue) String() string { return v.value }
func (v *aliasValue) Type() string   { return "string" }
func (v *aliasValue) Set(s string) error {
	v.value = s
	v.set(s)
	return nil
}

// overridable is a string flag whose option another flag can take over:
// once overridden, the flag's own value no longer reaches the option,
// whichever of the two came first.
type overridable struct {
	target     *string
	value      string
	overridden bool
}

func newOverridable(target *string, def string) *overridable {
	*target = def
	return &overridable{target: target, value: def}
}

func (v *overridable) String() string { return v.value }
func (v *overridable) Type() string   { return "string" }
func (v *overridable) Set(s string) error {
	v.value = s
	if !v.overridden {
		*v.target = s
	}
	return nil
}

func (v *overridable) override(s string) {
	v.overridden = true
	*v.target = s
}
