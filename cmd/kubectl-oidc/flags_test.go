package main

import (
	"crypto/tls"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/login"
)

// kubeloginGetTokenFlags are the flags of `kubelogin get-token` v1.34.0
// (pkg/cmd/get_token.go, authentication.go, tls.go, tokencache.go, pkce.go,
// and klog's flags added by its logger).
var kubeloginGetTokenFlags = []string{
	"oidc-issuer-url", "oidc-client-id", "oidc-client-secret", "oidc-redirect-url",
	"oidc-extra-scope", "oidc-use-access-token", "oidc-request-header", "force-refresh",
	"token-cache-dir", "token-cache-storage",
	"certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
	"tls-renegotiation-once", "tls-renegotiation-freely",
	"oidc-use-pkce", "oidc-pkce-method",
	"grant-type", "listen-address", "skip-open-browser", "browser-command",
	"authentication-timeout-sec", "local-server-cert", "local-server-key",
	"open-url-after-authentication", "oidc-redirect-url-hostname",
	"oidc-redirect-url-authcode-keyboard", "oidc-auth-request-extra-params",
	"username", "password",
	"add_dir_header", "alsologtostderr", "log_backtrace_at", "log_dir", "log_file",
	"log_file_max_size", "logtostderr", "one_output", "skip_headers", "skip_log_headers",
	"stderrthreshold", "vmodule",
}

func TestEveryKubeloginGetTokenFlagExists(t *testing.T) {
	fs := newLoginFlags(&login.Options{})
	for _, name := range kubeloginGetTokenFlags {
		if fs.Lookup(name) == nil {
			t.Errorf("--%s of kubelogin get-token is not a get-token flag", name)
		}
	}
}

func TestKubeloginFlagsParseToTheirOptions(t *testing.T) {
	base := []string{"--oidc-issuer-url=https://idp.example.com", "--oidc-client-id=kubectl"}
	tests := []struct {
		name    string
		args    []string
		check   func(o login.Options) bool
		wantErr string
	}{
		{name: "issuer and client", check: func(o login.Options) bool {
			return o.IssuerURL == "https://idp.example.com" && o.ClientID == "kubectl"
		}},
		{name: "client secret", args: []string{"--oidc-client-secret=s"}, check: func(o login.Options) bool { return o.ClientSecret == "s" }},
		{name: "redirect url", args: []string{"--oidc-redirect-url=http://localhost:8000"}, check: func(o login.Options) bool { return o.RedirectURL == "http://localhost:8000" }},
		{name: "extra scopes, comma and repeated", args: []string{"--oidc-extra-scope=email,profile", "--oidc-extra-scope=groups"}, check: func(o login.Options) bool {
			return slices.Equal(o.ExtraScopes, []string{"email", "profile", "groups"})
		}},
		{name: "use access token", args: []string{"--oidc-use-access-token"}, check: func(o login.Options) bool { return o.UseAccessToken }},
		{name: "request headers", args: []string{"--oidc-request-header=Origin=http://localhost:8000", "--oidc-request-header=X-A=b"}, check: func(o login.Options) bool {
			return maps.Equal(o.RequestHeaders, map[string]string{"Origin": "http://localhost:8000", "X-A": "b"})
		}},
		{name: "request header not a header name", args: []string{"--oidc-request-header=Bad Name=x"}, wantErr: "--oidc-request-header"},
		{name: "force refresh", args: []string{"--force-refresh"}, check: func(o login.Options) bool { return o.ForceRefresh }},
		{name: "token cache dir with ~", args: []string{"--token-cache-dir=~/.kube/cache/oidc-login"}, check: func(o login.Options) bool {
			return o.TokenCacheDir == "/home/u/.kube/cache/oidc-login"
		}},
		{name: "token cache storage disk", args: []string{"--token-cache-storage=disk"}, check: func(o login.Options) bool { return o.TokenCacheStorage == "disk" }},
		{name: "token cache storage keyring", args: []string{"--token-cache-storage=keyring"}, check: func(o login.Options) bool { return o.TokenCacheStorage == "keyring" }},
		{name: "token cache storage none", args: []string{"--token-cache-storage=none"}, check: func(o login.Options) bool { return o.TokenCacheStorage == "none" }},
		{name: "certificate authority, repeated, ~", args: []string{"--certificate-authority=~/ca.pem", "--certificate-authority=/etc/ca2.pem"}, check: func(o login.Options) bool {
			return slices.Equal(o.CertificateAuthority, []string{"/home/u/ca.pem", "/etc/ca2.pem"})
		}},
		{name: "certificate authority data", args: []string{"--certificate-authority-data=Zm9v"}, check: func(o login.Options) bool {
			return slices.Equal(o.CertificateAuthorityData, []string{"Zm9v"})
		}},
		{name: "insecure skip tls verify", args: []string{"--insecure-skip-tls-verify"}, check: func(o login.Options) bool { return o.InsecureSkipTLSVerify }},
		{name: "tls renegotiation once", args: []string{"--tls-renegotiation-once"}, check: func(o login.Options) bool { return o.TLSRenegotiation == tls.RenegotiateOnceAsClient }},
		{name: "tls renegotiation freely", args: []string{"--tls-renegotiation-freely"}, check: func(o login.Options) bool { return o.TLSRenegotiation == tls.RenegotiateFreelyAsClient }},
		{name: "tls renegotiation both: once wins", args: []string{"--tls-renegotiation-once", "--tls-renegotiation-freely"}, check: func(o login.Options) bool {
			return o.TLSRenegotiation == tls.RenegotiateOnceAsClient
		}},
		{name: "tls renegotiation false", args: []string{"--tls-renegotiation-once=false"}, check: func(o login.Options) bool { return o.TLSRenegotiation == tls.RenegotiateNever }},
		{name: "use pkce", args: []string{"--oidc-use-pkce"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCES256 }},
		{name: "use pkce overrides pkce method given after it", args: []string{"--oidc-use-pkce", "--oidc-pkce-method=no"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCES256 }},
		{name: "use pkce overrides pkce method given before it", args: []string{"--oidc-pkce-method=no", "--oidc-use-pkce"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCES256 }},
		{name: "use pkce false leaves pkce method", args: []string{"--oidc-use-pkce=false", "--oidc-pkce-method=no"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCENo }},
		{name: "pkce method no", args: []string{"--oidc-pkce-method=no"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCENo }},
		{name: "pkce method S256", args: []string{"--oidc-pkce-method=S256"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCES256 }},
		{name: "pkce method auto", args: []string{"--oidc-pkce-method=auto"}, check: func(o login.Options) bool { return o.PKCEMethod == login.PKCEAuto }},
		{name: "grant type authcode", args: []string{"--grant-type=authcode"}, check: func(o login.Options) bool { return o.GrantType == login.GrantAuthCode }},
		{name: "grant type authcode-keyboard", args: []string{"--grant-type=authcode-keyboard"}, check: func(o login.Options) bool { return o.GrantType == login.GrantAuthCodeKeyboard }},
		{name: "grant type password", args: []string{"--grant-type=password"}, check: func(o login.Options) bool { return o.GrantType == login.GrantPassword }},
		{name: "grant type device-code", args: []string{"--grant-type=device-code"}, check: func(o login.Options) bool { return o.GrantType == login.GrantDeviceCode }},
		{name: "grant type client-credentials", args: []string{"--grant-type=client-credentials", "--oidc-client-secret=s"}, check: func(o login.Options) bool {
			return o.GrantType == login.GrantClientCredentials
		}},
		{name: "listen address", args: []string{"--listen-address=127.0.0.1:9000,127.0.0.1:19000"}, check: func(o login.Options) bool {
			return slices.Equal(o.ListenAddresses, []string{"127.0.0.1:9000", "127.0.0.1:19000"})
		}},
		{name: "listen address default is kubelogin's", check: func(o login.Options) bool {
			return slices.Equal(o.ListenAddresses, []string{"127.0.0.1:8000", "127.0.0.1:18000"})
		}},
		{name: "skip open browser", args: []string{"--skip-open-browser"}, check: func(o login.Options) bool { return o.SkipOpenBrowser }},
		{name: "browser command", args: []string{"--browser-command=firefox"}, check: func(o login.Options) bool { return o.BrowserCommand == "firefox" }},
		{name: "authentication timeout sec", args: []string{"--authentication-timeout-sec=60"}, check: func(o login.Options) bool { return o.AuthenticationTimeout == time.Minute }},
		{name: "authentication timeout sec not a number", args: []string{"--authentication-timeout-sec=1m"}, wantErr: "not a whole number of seconds"},
		{name: "local server cert and key, ~", args: []string{"--local-server-cert=~/tls.crt", "--local-server-key=~/tls.key"}, check: func(o login.Options) bool {
			return o.LocalServerCertFile == "/home/u/tls.crt" && o.LocalServerKeyFile == "/home/u/tls.key"
		}},
		{name: "local server cert without key", args: []string{"--local-server-cert=tls.crt"}, wantErr: "--local-server-cert and --local-server-key go together"},
		{name: "open url after authentication", args: []string{"--open-url-after-authentication=https://example.com/done"}, check: func(o login.Options) bool {
			return o.OpenURLAfterAuthentication == "https://example.com/done"
		}},
		{name: "open url after authentication not a URL", args: []string{"--open-url-after-authentication=done.html"}, wantErr: "not an http(s) URL"},
		{name: "redirect url hostname", args: []string{"--oidc-redirect-url-hostname=localhost"}, check: func(o login.Options) bool { return o.RedirectURLHostname == "localhost" }},
		{name: "redirect url authcode keyboard", args: []string{"--oidc-redirect-url-authcode-keyboard=urn:ietf:wg:oauth:2.0:oob"}, check: func(o login.Options) bool {
			return o.RedirectURL == login.KeyboardRedirectURL
		}},
		{name: "redirect url authcode keyboard overrides redirect url given after it", args: []string{"--oidc-redirect-url-authcode-keyboard=urn:ietf:wg:oauth:2.0:oob", "--oidc-redirect-url=http://localhost:8000"}, check: func(o login.Options) bool {
			return o.RedirectURL == login.KeyboardRedirectURL
		}},
		{name: "auth request extra params", args: []string{"--oidc-auth-request-extra-params=prompt=consent,connector_id=ldap"}, check: func(o login.Options) bool {
			return maps.Equal(o.AuthRequestExtraParams, map[string]string{"prompt": "consent", "connector_id": "ldap"})
		}},
		{name: "username and password", args: []string{"--username=alice", "--password=pw"}, check: func(o login.Options) bool {
			return o.Username == "alice" && o.Password == "pw"
		}},
		{name: "kubelogin token cache dir, ~", args: []string{"--kubelogin-token-cache-dir=~/kl"}, check: func(o login.Options) bool {
			return o.KubeloginTokenCacheDir == "/home/u/kl"
		}},
		{name: "klog flag", args: []string{"--logtostderr"}, wantErr: "use -v=1"},
		{name: "klog flag with value", args: []string{"--log_dir=/tmp"}, wantErr: "use -v=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{getenv: func(k string) string {
				if k == "HOME" {
					return "/home/u"
				}
				return ""
			}}
			a.loginFlags = newLoginFlags(&a.opts)
			err := a.loginFlags.Parse(append(append([]string(nil), base...), tt.args...))
			var o login.Options
			if err == nil {
				o, err = a.options()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

func TestKubeloginFlagsGiveOneLineErrors(t *testing.T) {
	r := runBin(t, nil, "", "get-token", "--oidc-issuer-url=https://idp.example.com", "--oidc-client-id=kubectl", "--logtostderr")
	line := oneErrorLine(t, r)
	if !strings.Contains(line, "--logtostderr") || !strings.Contains(line, "use -v=1") {
		t.Errorf("error %q, want the flag and its replacement", line)
	}
}
