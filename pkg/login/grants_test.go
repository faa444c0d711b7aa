package login

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

func TestEveryGrantSignsInAndCachesAVerifiedToken(t *testing.T) {
	for _, tc := range []struct {
		name      string
		grant     string
		configure func(*oidctest.Provider)
		ui        func(f *fixture) (UI, func() error) // UI and a check of the person's side
		wantSub   func(f *fixture) string
		counter   string
		public    bool // a public client: no client secret
	}{
		{
			name: "authcode", grant: GrantAuthCode, counter: "token:authorization_code",
			ui: func(f *fixture) (UI, func() error) {
				b := newBrowser(f.p, nil)
				return b.ui(&syncBuffer{}), func() error { return <-b.errs }
			},
		},
		{
			name: "authcode-keyboard pasting the redirect URL", grant: GrantAuthCodeKeyboard, counter: "token:authorization_code",
			ui: func(f *fixture) (UI, func() error) {
				k := newKeyboardPerson(f.p, func(loc *url.URL) string { return loc.String() })
				return k.ui(), func() error { return <-k.errs }
			},
		},
		{
			name: "authcode-keyboard pasting the bare code", grant: GrantAuthCodeKeyboard, counter: "token:authorization_code",
			ui: func(f *fixture) (UI, func() error) {
				k := newKeyboardPerson(f.p, func(loc *url.URL) string {
					q, _ := url.ParseQuery(loc.RawQuery)
					if loc.RawQuery == "" { // opaque urn: the query is in Opaque
						q, _ = url.ParseQuery(loc.Opaque[strings.Index(loc.Opaque, "?")+1:])
					}
					return q.Get("code")
				})
				return k.ui(), func() error { return <-k.errs }
			},
		},
		{
			name: "device-code with a confidential client (secret in the device form, as Dex wants)", grant: GrantDeviceCode,
			counter:   "token:urn:ietf:params:oauth:grant-type:device_code",
			configure: func(p *oidctest.Provider) { p.DeviceRequiresClientSecret = true },
			ui: func(f *fixture) (UI, func() error) {
				b := newBrowser(f.p, nil)
				return b.ui(&syncBuffer{}), func() error { return <-b.errs }
			},
		},
		{
			name: "password", grant: GrantPassword, counter: "token:password",
			ui: func(f *fixture) (UI, func() error) {
				return UI{Err: &syncBuffer{}, Interactive: true}, func() error { return nil }
			},
		},
		{
			name:  "password with a public client (client ID in the form: one token request, not a refused basic-auth try first)",
			grant: GrantPassword, counter: "token:password", public: true,
			ui: func(f *fixture) (UI, func() error) {
				return UI{Err: &syncBuffer{}, Interactive: true}, func() error { return nil }
			},
		},
		{
			name: "authcode with a public client", grant: GrantAuthCode, counter: "token:authorization_code", public: true,
			ui: func(f *fixture) (UI, func() error) {
				b := newBrowser(f.p, nil)
				return b.ui(&syncBuffer{}), func() error { return <-b.errs }
			},
		},
		{
			name: "client-credentials", grant: GrantClientCredentials, counter: "token:client_credentials",
			ui: func(f *fixture) (UI, func() error) {
				return UI{Err: &syncBuffer{}}, func() error { return nil }
			},
			wantSub: func(f *fixture) string { return f.p.ClientID },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var configure []func(*oidctest.Provider)
			if tc.configure != nil {
				configure = append(configure, tc.configure)
			}
			f := newFixture(t, configure...)
			o := f.o
			o.GrantType = tc.grant
			if tc.grant == GrantPassword {
				o = f.passwordOptions()
			}
			if tc.public {
				o.ClientSecret = ""
			}
			ui, person := tc.ui(f)
			tok := f.mustGet(o, ui)
			if err := person(); err != nil {
				t.Fatalf("person: %v", err)
			}
			wantSub := f.p.User.Subject
			if tc.wantSub != nil {
				wantSub = tc.wantSub(f)
			}
			if tok.Source != SourceLogin || tok.IDTokenClaims["sub"] != wantSub {
				t.Fatalf("token source %q sub %v, want login %q", tok.Source, tok.IDTokenClaims["sub"], wantSub)
			}
			if n := f.p.Count(tc.counter); n != 1 {
				t.Fatalf("%s requests = %d, want 1", tc.counter, n)
			}
			e, err := f.entry(o)
			if err != nil || e.IDToken != tok.Token {
				t.Fatalf("cache entry %v, %v: does not hold the token", e.IDToken != "", err)
			}
			// The second Get is served by the cache.
			if again := f.mustGet(o, UI{Err: &syncBuffer{}}); again.Source != SourceCache || again.Token != tok.Token {
				t.Fatalf("second Get: source %q", again.Source)
			}
		})
	}
}

func TestAuthCodePrintsShortURLAndShowsClosePage(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(f.p, nil)
	stderr := &syncBuffer{}
	o := f.o
	o.GrantType = GrantAuthCode
	f.mustGet(o, b.ui(stderr))
	if err := <-b.errs; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "http://127.0.0.1:") {
		t.Fatalf("stderr does not print the local URL:\n%s", stderr)
	}
	if len(b.pages) != 1 || !strings.Contains(b.pages[0], "You can close this tab") {
		t.Fatalf("final page: %q", b.pages)
	}
}

func TestAuthCodeURLIsPrintedWhenTheBrowserIsSkipped(t *testing.T) {
	f := newFixture(t)
	stderr := &syncBuffer{}
	b := newBrowser(f.p, nil)
	o := f.o
	o.GrantType = GrantAuthCode
	o.SkipOpenBrowser = true
	// The person copies the printed URL by hand.
	w := &urlWatcher{w: stderr, re: `http://127\.0\.0\.1:\d+/`, found: func(u string) { _ = b.open(context.Background(), u) }}
	f.mustGet(o, UI{Err: w, Interactive: true, OpenBrowser: func(context.Context, string) error {
		t.Error("browser opened despite --skip-open-browser")
		return nil
	}})
	if err := <-b.errs; err != nil {
		t.Fatal(err)
	}
}

func TestPKCEMethod(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string
		advertised bool
		wantS256   bool
	}{
		{"auto, provider lists S256", PKCEAuto, true, true},
		{"auto, provider lists nothing", PKCEAuto, false, false},
		{"S256 forced", PKCES256, false, true},
		{"no", PKCENo, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(p *oidctest.Provider) {
				if !tc.advertised {
					p.SetDiscoveryOverrides(map[string]any{"code_challenge_methods_supported": nil})
				}
			})
			o := f.o
			o.GrantType = GrantAuthCode
			o.PKCEMethod = tc.method
			b := newBrowser(f.p, nil)
			f.mustGet(o, b.ui(&syncBuffer{}))
			if err := <-b.errs; err != nil {
				t.Fatal(err)
			}
			auth, tokenReq := f.p.LastAuthorizeRequest(), f.p.LastTokenRequest()
			gotS256 := auth.Get("code_challenge_method") == "S256" && auth.Get("code_challenge") != "" && tokenReq.Get("code_verifier") != ""
			if gotS256 != tc.wantS256 {
				t.Fatalf("PKCE S256 used = %v, want %v (authorize %v)", gotS256, tc.wantS256, auth)
			}
			if !tc.wantS256 && (auth.Has("code_challenge") || tokenReq.Has("code_verifier")) {
				t.Fatalf("PKCE parameters sent with PKCE off")
			}
		})
	}
}

func TestTamperedStateOrNonceIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		grant   string
		mutate  func(url.Values)
		wantErr string
	}{
		{"state", GrantAuthCode, func(q url.Values) { q.Set("state", "forged") }, "state does not match"},
		{"nonce", GrantAuthCode, func(q url.Values) { q.Set("nonce", "forged") }, "nonce does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			o := f.o
			o.GrantType = tc.grant
			b := newBrowser(f.p, tc.mutate)
			_, err := f.get(o, b.ui(&syncBuffer{}))
			wantErr(t, err, tc.wantErr)
			<-b.errs
			if _, err := f.entry(o); err == nil {
				t.Fatal("a refused token was cached")
			}
		})
	}
	t.Run("keyboard state", func(t *testing.T) {
		f := newFixture(t)
		o := f.o
		o.GrantType = GrantAuthCodeKeyboard
		k := newKeyboardPerson(f.p, func(loc *url.URL) string {
			return strings.Replace(loc.String(), "state=", "state=forged", 1)
		})
		_, err := f.get(o, k.ui())
		wantErr(t, err, "state in the pasted URL does not match")
	})
	t.Run("keyboard nonce", func(t *testing.T) {
		f := newFixture(t)
		o := f.o
		o.GrantType = GrantAuthCodeKeyboard
		k := newKeyboardPerson(f.p, func(loc *url.URL) string { return loc.String() })
		// Sign in at a tampered URL: the provider binds the forged nonce to the code.
		k.once.Do(func() {}) // disable the automatic sign-in
		stderr := &urlWatcher{w: k, re: authorizeURL.String(), found: func(u string) {
			go func() { k.errs <- k.signIn(strings.Replace(u, "nonce=", "nonce=forged", 1)) }()
		}}
		ui := k.ui()
		ui.Err = stderr
		_, err := f.get(o, ui)
		wantErr(t, err, "nonce does not match")
	})
}

func TestListenAddressFallsBackWhenThePortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	f := newFixture(t)
	o := f.o
	o.GrantType = GrantAuthCode
	o.ListenAddresses = []string{taken.Addr().String(), "127.0.0.1:0"}
	b := newBrowser(f.p, nil)
	stderr := &syncBuffer{}
	f.mustGet(o, b.ui(stderr))
	if err := <-b.errs; err != nil {
		t.Fatal(err)
	}
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())
	redirect, _ := url.Parse(f.p.LastAuthorizeRequest().Get("redirect_uri"))
	if redirect.Port() == takenPort || redirect.Port() == "" {
		t.Fatalf("redirect_uri %s uses the taken port %s", redirect, takenPort)
	}
	if strings.Contains(stderr.String(), ":"+takenPort+"/") {
		t.Fatalf("printed URL uses the taken port:\n%s", stderr)
	}

	// Every candidate taken: one clear error naming the addresses.
	o.ListenAddresses = []string{taken.Addr().String()}
	o.TokenCacheStorage = "none"
	_, err = f.get(o, b.ui(&syncBuffer{}))
	wantErr(t, err, "cannot listen on any --listen-address", taken.Addr().String())
}

func TestUseAccessTokenWithOpaqueAccessTokens(t *testing.T) {
	for _, tc := range []struct {
		name        string
		omitExpires bool
		wantLife    float64 // hours, roughly
	}{
		{"expiry from expires_in", false, 1},
		{"no expires_in: five minutes", true, 5.0 / 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(p *oidctest.Provider) {
				p.OpaqueAccessTokens = true
				p.OmitExpiresIn = tc.omitExpires
			})
			o := f.passwordOptions()
			o.UseAccessToken = true
			tok := f.mustGet(o, UI{Err: &syncBuffer{}})
			if strings.Count(tok.Token, ".") == 2 || tok.Token == "" {
				t.Fatalf("token %q is not the opaque access token", tok.Token)
			}
			life := tok.Expiry.Sub(f.clock.Now()).Hours()
			if life < tc.wantLife*0.9 || life > tc.wantLife*1.1 {
				t.Fatalf("token lives %.3fh, want about %.3fh", life, tc.wantLife)
			}
			if again := f.mustGet(o, UI{Err: &syncBuffer{}}); again.Source != SourceCache || again.Token != tok.Token {
				t.Fatalf("second Get: %q", again.Source)
			}
		})
	}
}

func TestDeviceCodeWithoutDeviceEndpointIsAClearError(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) {
		p.SetDiscoveryOverrides(map[string]any{"device_authorization_endpoint": nil})
	})
	o := f.o
	o.GrantType = GrantDeviceCode
	_, err := f.get(o, UI{Err: &syncBuffer{}, Interactive: true})
	wantErr(t, err, "no device_authorization_endpoint", "--grant-type")
}

func TestDeviceCodePrintsTheUserCode(t *testing.T) {
	f := newFixture(t)
	o := f.o
	o.GrantType = GrantDeviceCode
	o.SkipOpenBrowser = true
	stderr := &syncBuffer{}
	// The person reads the printed URL and approves on another device.
	w := &urlWatcher{w: stderr, re: `https://\S+/device\?user_code=\S+`, found: func(u string) {
		parsed, _ := url.Parse(u)
		go f.p.ApproveDevice(parsed.Query().Get("user_code"))
	}}
	f.mustGet(o, UI{Err: w, Interactive: true, OpenBrowser: func(context.Context, string) error {
		t.Error("browser opened despite --skip-open-browser")
		return nil
	}})
	if !strings.Contains(w.String(), "confirm the code ") {
		t.Fatalf("stderr does not show the user code:\n%s", w)
	}
}

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func TestRedirectURI(t *testing.T) {
	port := freePort(t)
	for _, tc := range []struct {
		name         string
		redirectURL  string
		hostname     string
		wantHost     string // host of the redirect_uri sent
		wantPath     string
		wantExactURI string
	}{
		{"default: the loopback IP literal", "", "", "127.0.0.1", "/", ""},
		{"hostname localhost for IdPs registered that way", "", "localhost", "localhost", "/", ""},
		{"redirect URL with a callback path", "http://127.0.0.1:" + port + "/callback", "", "127.0.0.1", "/callback", "http://127.0.0.1:" + port + "/callback"},
		{"localhost redirect URL with a path", "http://localhost:" + port + "/oauth2/cb", "", "localhost", "/oauth2/cb", "http://localhost:" + port + "/oauth2/cb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			o := f.o
			o.GrantType = GrantAuthCode
			o.RedirectURL = tc.redirectURL
			o.RedirectURLHostname = tc.hostname
			b := newBrowser(f.p, nil)
			stderr := &syncBuffer{}
			f.mustGet(o, b.ui(stderr))
			if err := <-b.errs; err != nil {
				t.Fatalf("browser: %v\nstderr:\n%s", err, stderr)
			}
			got := f.p.LastAuthorizeRequest().Get("redirect_uri")
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if u.Hostname() != tc.wantHost || u.Path != tc.wantPath || u.Port() == "" {
				t.Fatalf("redirect_uri %q, want host %s, path %s and a port", got, tc.wantHost, tc.wantPath)
			}
			if tc.wantExactURI != "" && got != tc.wantExactURI {
				t.Fatalf("redirect_uri %q, want %q", got, tc.wantExactURI)
			}
			if len(b.pages) != 1 || !strings.Contains(b.pages[0], "You can close this tab") {
				t.Fatalf("final page: %q", b.pages)
			}
		})
	}
}

func TestAuthCodeKubeloginLocalServerOptions(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	certFile, keyFile, certPEM := localServerCert(t, dir)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.p.CAPEM())
	pool.AppendCertsFromPEM(certPEM)
	b := newBrowser(f.p, nil)
	b.transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	o := f.o
	o.GrantType = GrantAuthCode
	o.LocalServerCertFile, o.LocalServerKeyFile = certFile, keyFile
	o.OpenURLAfterAuthentication = "https://example.com/done?a=1&b=2"
	stderr := &syncBuffer{}
	f.mustGet(o, b.ui(stderr))
	if err := <-b.errs; err != nil {
		t.Fatalf("browser: %v\nstderr:\n%s", err, stderr)
	}
	if got := f.p.LastAuthorizeRequest().Get("redirect_uri"); !strings.HasPrefix(got, "https://127.0.0.1:") {
		t.Errorf("redirect_uri %q, want https://127.0.0.1:PORT/ (--local-server-cert)", got)
	}
	if len(b.pages) != 1 || !strings.Contains(b.pages[0], `content="0;URL=https://example.com/done?a=1&amp;b=2"`) {
		t.Errorf("final page %q, want a redirect to --open-url-after-authentication", b.pages)
	}
}

// localServerCert writes a self-signed certificate for 127.0.0.1 and its key.
func localServerCert(t *testing.T, dir string) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM
}
