package login

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := func() Options {
		return Options{IssuerURL: "https://idp.example.com", ClientID: "kubectl"}
	}
	for _, tc := range []struct {
		name    string
		mod     func(*Options)
		wantErr string // "" = valid
	}{
		{"minimal", func(*Options) {}, ""},
		{"no issuer", func(o *Options) { o.IssuerURL = "" }, "--oidc-issuer-url is required"},
		{"http issuer", func(o *Options) { o.IssuerURL = "http://idp.example.com" }, "must use https"},
		{"http loopback issuer", func(o *Options) { o.IssuerURL = "http://127.0.0.1:5556/dex" }, ""},
		{"relative issuer", func(o *Options) { o.IssuerURL = "idp.example.com" }, "not an absolute URL"},
		{"issuer with query", func(o *Options) { o.IssuerURL = "https://idp.example.com/?a=b" }, "query"},
		{"no client", func(o *Options) { o.ClientID = "" }, "--oidc-client-id is required"},
		{"pkce s256", func(o *Options) { o.PKCEMethod = "S256" }, ""},
		{"pkce plain", func(o *Options) { o.PKCEMethod = "plain" }, "plain is not supported"},
		{"pkce unknown", func(o *Options) { o.PKCEMethod = "S512" }, "unknown --oidc-pkce-method"},
		{"grant unknown", func(o *Options) { o.GrantType = "implicit" }, "unknown --grant-type"},
		{"client credentials without secret", func(o *Options) { o.GrantType = GrantClientCredentials }, "needs --oidc-client-secret"},
		{"redirect not absolute", func(o *Options) { o.RedirectURL = "localhost:8000" }, "--oidc-redirect-url"},
		{"redirect hostname localhost", func(o *Options) { o.RedirectURLHostname = "localhost" }, ""},
		{"redirect hostname IPv6 loopback", func(o *Options) { o.RedirectURLHostname = "[::1]" }, ""},
		{"redirect hostname not loopback", func(o *Options) { o.RedirectURLHostname = "evil.example.com" }, "not a loopback name"},
		{"extra param state", func(o *Options) { o.AuthRequestExtraParams = map[string]string{"state": "x"} }, `cannot set "state"`},
		{"extra param prompt", func(o *Options) { o.AuthRequestExtraParams = map[string]string{"prompt": "consent"} }, ""},
		{"listen address without port", func(o *Options) { o.ListenAddresses = []string{"127.0.0.1"} }, "--listen-address"},
		{"negative timeout", func(o *Options) { o.AuthenticationTimeout = -time.Second }, "negative"},
		{"negative request timeout", func(o *Options) { o.RequestTimeout = -time.Second }, "--oidc-request-timeout"},
		{"negative request notice", func(o *Options) { o.RequestNotice = -time.Second }, "--oidc-request-notice"},
		{"negative skew", func(o *Options) { o.ExpirySkew = -time.Second }, "negative"},
		{"insecure with CA", func(o *Options) { o.InsecureSkipTLSVerify = true; o.CertificateAuthority = []string{"ca.pem"} }, "cannot be combined"},
		{"CA data not base64", func(o *Options) { o.CertificateAuthorityData = []string{"%%%"} }, "not base64"},
		{"local server cert without key", func(o *Options) { o.LocalServerCertFile = "tls.crt" }, "go together"},
		{"local server key without cert", func(o *Options) { o.LocalServerKeyFile = "tls.key" }, "go together"},
		{"local server cert and key", func(o *Options) { o.LocalServerCertFile, o.LocalServerKeyFile = "tls.crt", "tls.key" }, ""},
		{"open url relative", func(o *Options) { o.OpenURLAfterAuthentication = "/done" }, "not an http(s) URL"},
		{"open url javascript", func(o *Options) { o.OpenURLAfterAuthentication = "javascript:alert(1)" }, "not an http(s) URL"},
		{"open url https", func(o *Options) { o.OpenURLAfterAuthentication = "https://example.com/done" }, ""},
		{"request header bad name", func(o *Options) { o.RequestHeaders = map[string]string{"Bad Name": "x"} }, "--oidc-request-header"},
		{"request header newline", func(o *Options) { o.RequestHeaders = map[string]string{"X-A": "a\r\nHost: evil"} }, "--oidc-request-header"},
		{"request header origin", func(o *Options) { o.RequestHeaders = map[string]string{"Origin": "http://localhost:8000"} }, ""},
		{"storage unknown", func(o *Options) { o.TokenCacheStorage = "memory" }, "unknown --token-cache-storage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.mod(&o)
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}

func TestValidateFillsDefaults(t *testing.T) {
	o := Options{IssuerURL: "https://idp.example.com", ClientID: "kubectl"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.GrantType != GrantAuto || o.PKCEMethod != PKCEAuto || o.TokenCacheStorage != "auto" ||
		o.AuthenticationTimeout != 3*time.Minute || o.ExpirySkew != 30*time.Second ||
		o.RequestTimeout != 20*time.Second || o.RequestNotice != 3*time.Second ||
		strings.Join(o.ListenAddresses, ",") != "127.0.0.1:8000,127.0.0.1:18000" {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestAutoGrantChoice(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Options
		ui        UI
		env       map[string]string
		goos      string
		hasDevice bool
		want      string
	}{
		{"username given", Options{Username: "alice"}, UI{}, nil, "linux", true, GrantPassword},
		{"out-of-band redirect URL", Options{RedirectURL: KeyboardRedirectURL}, UI{}, map[string]string{"DISPLAY": ":0"}, "linux", true, GrantAuthCodeKeyboard},
		{"loopback redirect URL and a display", Options{RedirectURL: "http://localhost:8000"}, UI{}, map[string]string{"DISPLAY": ":0"}, "linux", true, GrantAuthCode},
		{"linux desktop", Options{}, UI{}, map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, "linux", true, GrantAuthCode},
		{"mac", Options{}, UI{}, nil, "darwin", true, GrantAuthCode},
		{"browser command", Options{BrowserCommand: "firefox"}, UI{}, nil, "linux", true, GrantAuthCode},
		{"ssh session with device grant", Options{}, UI{}, map[string]string{"SSH_CONNECTION": "1 2 3 4", "DISPLAY": "localhost:10"}, "darwin", true, GrantDeviceCode},
		{"headless linux with device grant", Options{}, UI{}, nil, "linux", true, GrantDeviceCode},
		{"skip browser with device grant", Options{SkipOpenBrowser: true}, UI{}, map[string]string{"DISPLAY": ":0"}, "linux", true, GrantDeviceCode},
		{"headless linux without device grant", Options{}, UI{}, nil, "linux", false, GrantAuthCode},
		{"explicit grant kept", Options{GrantType: GrantDeviceCode, Username: "alice"}, UI{}, nil, "linux", false, GrantDeviceCode},
		{"client secret never means client credentials", Options{ClientSecret: "s"}, UI{}, nil, "linux", false, GrantAuthCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			if o.GrantType == "" {
				o.GrantType = GrantAuto
			}
			e := env{getenv: func(k string) string { return tc.env[k] }, goos: tc.goos, now: time.Now}
			if got := chooseGrant(&o, tc.ui, tc.hasDevice, e); got != tc.want {
				t.Fatalf("chooseGrant = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPasswordPrompts(t *testing.T) {
	f := newFixture(t)
	o := f.o
	o.GrantType = GrantPassword
	var prompted string
	ui := UI{
		In:          strings.NewReader(f.p.User.Username + "\n"),
		Err:         &syncBuffer{},
		Interactive: true,
		ReadPassword: func(prompt string) (string, error) {
			prompted = prompt
			return f.p.User.Password, nil
		},
	}
	tok := f.mustGet(o, ui)
	host := strings.TrimPrefix(f.p.Issuer, "https://")
	if tok.Source != SourceLogin || prompted != "Password of "+f.p.User.Username+" at "+host+": " || !strings.Contains(ui.Err.(*syncBuffer).String(), "Username at "+host+": ") {
		t.Fatalf("source %q, password prompt %q, stderr %q", tok.Source, prompted, ui.Err)
	}
	if got := f.p.LastTokenRequest().Get("username"); got != f.p.User.Username {
		t.Fatalf("username sent %q", got)
	}

	// Without a terminal and without ReadPassword: one actionable error.
	o.Username = "alice"
	o.TokenCacheStorage = "none"
	_, err := f.get(o, UI{In: strings.NewReader(""), Err: &syncBuffer{}, Interactive: true})
	wantErr(t, err, "not a terminal", "--password")

	// A wrong password is refused by the provider and nothing is cached.
	o.Password = "wrong"
	o.TokenCacheStorage = "disk"
	_, err = f.get(o, UI{Err: &syncBuffer{}})
	wantErr(t, err, "password grant", "invalid_grant")
	if strings.Contains(err.Error(), "wrong") {
		t.Fatal("the error quotes the password")
	}
}

func TestAuthenticationTimeoutEndsAnUnfinishedLogin(t *testing.T) {
	f := newFixture(t)
	o := f.o
	o.GrantType = GrantAuthCode
	o.AuthenticationTimeout = 300 * time.Millisecond
	// The person never comes back from the browser.
	_, err := f.get(o, UI{Err: &syncBuffer{}, Interactive: true, OpenBrowser: func(context.Context, string) error { return nil }})
	wantErr(t, err, "no sign-in completed within 300ms", "--authentication-timeout")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error does not wrap DeadlineExceeded: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		secret                  string
	}{
		{"form", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=THECODE&code_verifier=V", "THECODE"},
		{"json", "application/json", `{"access_token":"AT-SECRET","id_token":"a.b.c","expires_in":3600}`, "AT-SECRET"},
		{"json refresh", "application/json;charset=UTF-8", `{"refresh_token":"RT-SECRET"}`, "RT-SECRET"},
		{"other", "text/plain", "whatever SECRET", "SECRET"},
		{"broken json", "application/json", `{"access_token":"AT-SECRET"`, "AT-SECRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactBody(tc.contentType, []byte(tc.body)); strings.Contains(got, tc.secret) {
				t.Fatalf("redactBody = %q", got)
			}
		})
	}
}
