package login

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

func TestCacheLifeCycle(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) { p.RotateRefreshTokens = true })
	o := f.passwordOptions()
	ui := UI{Err: &syncBuffer{}}

	// none -> login
	first := f.mustGet(o, ui)
	if first.Source != SourceLogin {
		t.Fatalf("first Get: source %q, want login", first.Source)
	}
	e1, err := f.entry(o)
	if err != nil || e1.RefreshToken == "" {
		t.Fatalf("after login: entry %v, refresh token saved %v", err, e1.RefreshToken != "")
	}

	// valid -> cache, with no request at all (not even discovery)
	before := f.counts()
	cachedTok := f.mustGet(o, ui)
	if cachedTok.Source != SourceCache || cachedTok.Token != first.Token || !cachedTok.Expiry.Equal(first.Expiry) {
		t.Fatalf("second Get: %+v", cachedTok)
	}
	if cachedTok.IDTokenClaims["email"] != f.p.User.Email {
		t.Fatalf("cached claims: %v", cachedTok.IDTokenClaims)
	}
	if after := f.counts(); !maps.Equal(before, after) {
		t.Fatalf("a cache hit made requests: before %v after %v", before, after)
	}

	// expiring within the skew -> refresh, rotated refresh token saved
	f.clock.Add(time.Hour - 10*time.Second) // 10s left, skew 30s
	refreshed := f.mustGet(o, ui)
	if refreshed.Source != SourceRefresh || refreshed.Token == first.Token {
		t.Fatalf("third Get: source %q (same token %v), want refresh", refreshed.Source, refreshed.Token == first.Token)
	}
	if n := f.p.Count("token:refresh_token"); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
	e2, err := f.entry(o)
	if err != nil || e2.RefreshToken == "" || e2.RefreshToken == e1.RefreshToken || e2.IDToken != refreshed.Token {
		t.Fatalf("after refresh: rotated refresh token not saved (err %v)", err)
	}

	// the rotated token works for the next refresh; no login happened
	f.clock.Add(2 * time.Hour)
	if tok := f.mustGet(o, ui); tok.Source != SourceRefresh {
		t.Fatalf("fourth Get: source %q, want refresh with the rotated token", tok.Source)
	}
	if n := f.p.Count("token:password"); n != 1 {
		t.Fatalf("password logins = %d, want 1", n)
	}
}

func TestFailedRefreshStartsALogin(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*oidctest.Provider)
		breakIt   func(*oidctest.Provider)
		wantLine  string
	}{
		{"refresh token revoked", nil, func(p *oidctest.Provider) { p.RevokeAllRefreshTokens() }, "invalid_grant"},
		{"refresh answer without ID token", func(p *oidctest.Provider) { p.RefreshWithoutIDToken = true }, nil, "no id_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conf []func(*oidctest.Provider)
			if tc.configure != nil {
				conf = append(conf, tc.configure)
			}
			f := newFixture(t, conf...)
			o := f.o
			o.GrantType = GrantAuthCode
			b := newBrowser(f.p, nil)
			f.mustGet(o, b.ui(&syncBuffer{}))
			if err := <-b.errs; err != nil {
				t.Fatal(err)
			}
			if tc.breakIt != nil {
				tc.breakIt(f.p)
			}
			f.clock.Add(2 * time.Hour)

			// Not interactive: no login, ErrInteractionRequired naming the refresh failure.
			_, err := f.get(o, UI{Err: &syncBuffer{}, Interactive: false})
			if !isErr(err, ErrInteractionRequired) {
				t.Fatalf("non-interactive Get: %v, want ErrInteractionRequired", err)
			}
			wantErr(t, err, tc.wantLine)
			if n := f.p.Count("authorize"); n != 1 {
				t.Fatalf("authorize requests = %d, want 1 (no new login when not interactive)", n)
			}

			// Interactive: a new login, announced on stderr.
			stderr := &syncBuffer{}
			tok := f.mustGet(o, b.ui(stderr))
			if err := <-b.errs; err != nil {
				t.Fatal(err)
			}
			if tok.Source != SourceLogin || f.p.Count("authorize") != 2 {
				t.Fatalf("source %q, authorize %d: want a second login", tok.Source, f.p.Count("authorize"))
			}
			if !strings.Contains(stderr.String(), "refreshing the cached token failed") {
				t.Fatalf("stderr does not say the refresh failed:\n%s", stderr)
			}
		})
	}
}

func TestNonInteractiveSession(t *testing.T) {
	for _, tc := range []struct {
		name      string
		options   func(f *fixture) Options
		wantError bool
	}{
		{"authcode needs a person", func(f *fixture) Options { o := f.o; o.GrantType = GrantAuthCode; return o }, true},
		{"auto without username needs a person", func(f *fixture) Options { return f.o }, true},
		{"device-code needs a person", func(f *fixture) Options { o := f.o; o.GrantType = GrantDeviceCode; return o }, true},
		{"password without --password needs a person", func(f *fixture) Options { o := f.passwordOptions(); o.Password = ""; return o }, true},
		{"password with --password runs", func(f *fixture) Options { return f.passwordOptions() }, false},
		{"auto with username and password runs", func(f *fixture) Options {
			o := f.passwordOptions()
			o.GrantType = GrantAuto
			return o
		}, false},
		{"client-credentials runs", func(f *fixture) Options { o := f.o; o.GrantType = GrantClientCredentials; return o }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.get(tc.options(f), UI{Err: &syncBuffer{}, Interactive: false, OpenBrowser: func(context.Context, string) error {
				t.Error("browser opened in a non-interactive session")
				return nil
			}})
			if tc.wantError != isErr(err, ErrInteractionRequired) {
				t.Fatalf("err = %v, want ErrInteractionRequired: %v", err, tc.wantError)
			}
			if !tc.wantError && err != nil {
				t.Fatal(err)
			}
			if tc.wantError && (f.p.Count("discovery") != 0 || f.p.Count("authorize") != 0) {
				t.Fatalf("a refused non-interactive Get contacted the provider: %v", f.counts())
			}
		})
	}
}

func TestForceRefreshSkipsAValidCachedToken(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	first := f.mustGet(o, UI{Err: &syncBuffer{}})
	f.clock.Add(time.Second) // a different iat, so a different token
	o.ForceRefresh = true
	tok := f.mustGet(o, UI{Err: &syncBuffer{}})
	if tok.Source != SourceRefresh || f.p.Count("token:refresh_token") != 1 || tok.Token == first.Token {
		t.Fatalf("ForceRefresh: source %q, refreshes %d", tok.Source, f.p.Count("token:refresh_token"))
	}
	// Without a refresh token, ForceRefresh signs in again.
	f2 := newFixture(t)
	o2 := f2.o
	o2.GrantType = GrantClientCredentials
	f2.mustGet(o2, UI{Err: &syncBuffer{}})
	o2.ForceRefresh = true
	if tok := f2.mustGet(o2, UI{Err: &syncBuffer{}}); tok.Source != SourceLogin || f2.p.Count("token:client_credentials") != 2 {
		t.Fatalf("ForceRefresh without refresh token: source %q", tok.Source)
	}
}

func TestCorruptCacheEntryIsAMissWithOneWarning(t *testing.T) {
	for name, content := range map[string][]byte{
		"garbage":   []byte("\x00\x01not json"),
		"truncated": []byte(`{"version":1,"keyID":"`),
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			o := f.passwordOptions()
			f.mustGet(o, UI{Err: &syncBuffer{}})
			key := o
			_ = key.Validate()
			ca, _ := key.caBundle()
			path := filepath.Join(o.TokenCacheDir, key.cacheKey(ca).ID()+".json")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			stderr := &syncBuffer{}
			tok := f.mustGet(o, UI{Err: stderr})
			if tok.Source != SourceLogin {
				t.Fatalf("source %q, want a new login", tok.Source)
			}
			if n := strings.Count(stderr.String(), "warning: ignoring the cached token"); n != 1 {
				t.Fatalf("%d warnings, want 1:\n%s", n, stderr)
			}
			if _, err := f.entry(o); err != nil {
				t.Fatalf("the corrupt entry was not replaced: %v", err)
			}
		})
	}
}

func TestKeyringStorage(t *testing.T) {
	keyring.MockInit()
	f := newFixture(t)
	o := f.passwordOptions()
	o.TokenCacheStorage = tokencache.KindKeyring
	first := f.mustGet(o, UI{Err: &syncBuffer{}})
	before := f.counts()
	tok := f.mustGet(o, UI{Err: &syncBuffer{}})
	if tok.Source != SourceCache || tok.Token != first.Token || !maps.Equal(before, f.counts()) {
		t.Fatalf("keyring cache hit: source %q", tok.Source)
	}
	// The secret is in the keyring, not in a file.
	matches, _ := filepath.Glob(filepath.Join(o.TokenCacheDir, "*.json"))
	if len(matches) != 0 {
		t.Fatalf("entry files on disk with keyring storage: %v", matches)
	}
	n, err := Logout(context.Background(), o, UI{Err: &syncBuffer{}}, false)
	if err != nil || n != 1 {
		t.Fatalf("Logout = %d, %v", n, err)
	}
	if _, err := cached(context.Background(), o, UI{Err: &syncBuffer{}}, testEnv(f.clock)); !isErr(err, ErrNotLoggedIn) {
		t.Fatalf("after logout Cached: %v", err)
	}
}

// expireCachedToken leaves the refresh token but makes the token expired.
func (f *fixture) expireCachedToken(o Options) {
	f.t.Helper()
	e, err := f.entry(o)
	if err != nil {
		f.t.Fatal(err)
	}
	e.Expiry = time.Now().Add(-time.Minute)
	f.saveEntry(o, e)
}

func TestConcurrentGetsRefreshOnce(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	f.mustGet(o, UI{Err: &syncBuffer{}})
	f.expireCachedToken(o)
	f.clock.Add(time.Second)

	const n = 20
	var wg sync.WaitGroup
	sources := make(chan string, n)
	for range n {
		wg.Go(func() {
			tok, err := f.get(o, UI{Err: &syncBuffer{}})
			if err != nil {
				t.Error(err)
				return
			}
			sources <- tok.Source
		})
	}
	wg.Wait()
	close(sources)
	got := map[string]int{}
	for s := range sources {
		got[s]++
	}
	if f.p.Count("token:refresh_token") != 1 || got[SourceRefresh] != 1 || got[SourceCache] != n-1 {
		t.Fatalf("refreshes %d, sources %v: want one refresh and %d cache hits", f.p.Count("token:refresh_token"), got, n-1)
	}
}

func TestConcurrentProcessesRefreshOnce(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	f.mustGet(o, UI{Err: &syncBuffer{}})
	f.expireCachedToken(o)
	raw, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}

	const n = 20
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	errs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+string(raw))
		outs[i], errs[i] = &bytes.Buffer{}, &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], errs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, errs[i])
		}
		got[strings.TrimSpace(outs[i].String())]++
	}
	if f.p.Count("token:refresh_token") != 1 || f.p.Count("token:password") != 1 || got[SourceRefresh] != 1 || got[SourceCache] != n-1 {
		t.Fatalf("refreshes %d, logins %d, sources %v: want one refresh and %d cache hits",
			f.p.Count("token:refresh_token"), f.p.Count("token:password"), got, n-1)
	}
}

func TestBusyLockWaitsWithOneLineThenGivesUp(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	o.AuthenticationTimeout = 300 * time.Millisecond
	_ = o.Validate()
	ca, _ := o.caBundle()
	unlock, err := tokencache.Lock(context.Background(), o.TokenCacheDir, o.cacheKey(ca), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	stderr := &syncBuffer{}
	_, err = f.get(o, UI{Err: stderr})
	wantErr(t, err, "still holds the token cache lock", "finish or stop that process")
	if n := strings.Count(stderr.String(), "waiting for another kubectl oidc process"); n != 1 {
		t.Fatalf("%d waiting lines, want 1:\n%s", n, stderr)
	}
	if f.p.Count("token:password") != 0 {
		t.Fatal("signed in without the lock")
	}
}

func TestUntrustedProviderCertificateIsAClearError(t *testing.T) {
	f := newFixture(t)
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(otherCA, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Options)
	}{
		{"another CA", func(o *Options) { o.CertificateAuthority = []string{otherCA} }},
		{"system roots", func(o *Options) { o.CertificateAuthority = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := f.passwordOptions()
			tc.set(&o)
			_, err := f.get(o, UI{Err: &syncBuffer{}})
			wantErr(t, err, "TLS certificate is not trusted", "--certificate-authority")
		})
	}
	o := f.passwordOptions()
	o.CertificateAuthority = nil
	o.InsecureSkipTLSVerify = true
	if _, err := f.get(o, UI{Err: &syncBuffer{}}); err != nil {
		t.Fatalf("--insecure-skip-tls-verify: %v", err)
	}
}

func TestVerboseLogNeverPrintsASecret(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) {
		p.RotateRefreshTokens = true
		p.User.Password = "pa55-w0rd-XYZ"
		p.ClientSecret = "client-s3cret-XYZ"
	})
	stderr := &syncBuffer{}
	o := f.o
	o.GrantType = GrantAuthCode
	o.Verbosity = 2
	b := newBrowser(f.p, nil)
	first := f.mustGet(o, b.ui(stderr))
	if err := <-b.errs; err != nil {
		t.Fatal(err)
	}
	e1, _ := f.entry(o)
	o.ForceRefresh = true
	second := f.mustGet(o, UI{Err: stderr})
	e2, _ := f.entry(o)
	po := f.passwordOptions()
	po.Verbosity = 2
	third := f.mustGet(po, UI{Err: stderr})

	log := stderr.String()
	if !strings.Contains(log, "POST "+f.p.Issuer+"/token") || !strings.Contains(log, "REDACTED") {
		t.Fatalf("the -v log does not show the token requests:\n%s", log)
	}
	secrets := map[string]string{
		"ID token": first.Token, "refreshed ID token": second.Token, "password-grant token": third.Token,
		"refresh token": e1.RefreshToken, "rotated refresh token": e2.RefreshToken,
		"client secret": f.p.ClientSecret, "password": f.p.User.Password,
	}
	for i, c := range b.codes {
		secrets[fmt.Sprintf("code %d", i)] = c
	}
	if len(b.codes) == 0 {
		t.Fatal("the browser saw no code")
	}
	for name, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(log, s) {
			t.Errorf("the -v log contains the %s", name)
		}
	}
	// The basic-auth header would carry the secret base64-encoded.
	if strings.Contains(log, "Basic ") {
		t.Error("the -v log contains a Basic authorization header")
	}
}

func TestLogout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		revocation bool
	}{
		{"revokes at the revocation endpoint", true},
		{"provider without revocation endpoint", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(p *oidctest.Provider) {
				if !tc.revocation {
					p.SetDiscoveryOverrides(map[string]any{"revocation_endpoint": nil})
				}
			})
			o := f.passwordOptions()
			f.mustGet(o, UI{Err: &syncBuffer{}})
			e, _ := f.entry(o)
			stderr := &syncBuffer{}
			n, err := logout(context.Background(), o, UI{Err: stderr}, testEnv(f.clock), false)
			if err != nil || n != 1 {
				t.Fatalf("Logout = %d, %v", n, err)
			}
			if got := f.p.IsRevoked(e.RefreshToken); got != tc.revocation {
				t.Fatalf("refresh token revoked = %v, want %v", got, tc.revocation)
			}
			if _, err := cached(context.Background(), o, UI{Err: stderr}, testEnv(f.clock)); !isErr(err, ErrNotLoggedIn) {
				t.Fatalf("Cached after logout: %v", err)
			}
			if n, err := logout(context.Background(), o, UI{Err: stderr}, testEnv(f.clock), false); n != 0 || err != nil {
				t.Fatalf("second Logout = %d, %v", n, err)
			}
		})
	}
	t.Run("all, with a provider that is down", func(t *testing.T) {
		f := newFixture(t)
		o := f.passwordOptions()
		f.mustGet(o, UI{Err: &syncBuffer{}})
		o2 := o
		o2.ExtraScopes = []string{"email"}
		f.mustGet(o2, UI{Err: &syncBuffer{}})
		f.p.SetDown(true)
		stderr := &syncBuffer{}
		all := Options{TokenCacheDir: o.TokenCacheDir, TokenCacheStorage: tokencache.KindDisk, CertificateAuthority: o.CertificateAuthority}
		n, err := logout(context.Background(), all, UI{Err: stderr}, testEnv(f.clock), true)
		if err != nil || n != 2 {
			t.Fatalf("Logout --all = %d, %v", n, err)
		}
		if c := strings.Count(stderr.String(), "could not revoke"); c != 2 {
			t.Fatalf("%d revocation warnings, want 2:\n%s", c, stderr)
		}
		if _, err := f.entry(o2); err == nil {
			t.Fatal("entry left after logout --all")
		}
	})
}

func TestCachedMakesNoRequest(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	if _, err := cached(context.Background(), o, UI{Err: &syncBuffer{}}, testEnv(f.clock)); !isErr(err, ErrNotLoggedIn) {
		t.Fatalf("Cached before login: %v", err)
	}
	first := f.mustGet(o, UI{Err: &syncBuffer{}})
	f.clock.Add(3 * time.Hour)
	before := f.counts()
	tok, err := cached(context.Background(), o, UI{Err: &syncBuffer{}}, testEnv(f.clock))
	if err != nil || tok.Token != first.Token || !tok.Expiry.Before(f.clock.Now()) {
		t.Fatalf("Cached of an expired token: %v, %v", tok, err)
	}
	if !maps.Equal(before, f.counts()) {
		t.Fatal("Cached made a request")
	}
}
