package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// kubeloginTokens signs in once with o (password grant, in a cache of its
// own) and returns the ID and refresh token the provider gave.
func (f *fixture) kubeloginTokens(o Options) (idToken, refreshToken string) {
	f.t.Helper()
	o.TokenCacheDir = f.t.TempDir()
	f.mustGet(o, UI{Err: &syncBuffer{}})
	e, err := f.entry(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return e.IDToken, e.RefreshToken
}

// writeKubelogin writes data as kubelogin's cache file of o in dir.
func writeKubelogin(t *testing.T, o Options, dir string, data []byte) string {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	sums, err := o.kubeloginKey().Checksums()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sums[0])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func kubeloginJSON(t *testing.T, id, refresh string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"id_token": id, "refresh_token": refresh})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFirstGetImportsKubeloginsCache(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	o.ExtraScopes = []string{"email", "groups"}
	id, refresh := f.kubeloginTokens(o)
	writeKubelogin(t, o, o.TokenCacheDir, kubeloginJSON(t, id, refresh))
	before := f.counts()

	// No password: a sign-in would fail, so the token can only come from kubelogin's cache.
	o.Password = ""
	stderr := &syncBuffer{}
	tok, err := f.get(o, UI{Err: stderr})
	if err != nil {
		t.Fatalf("Get: %v\n%s", err, stderr)
	}
	if tok.Source != SourceCache || tok.Token != id {
		t.Fatalf("source %q, want kubelogin's ID token from the cache", tok.Source)
	}
	if !maps.Equal(f.counts(), before) {
		t.Errorf("requests to the provider: %v, want none (before %v)", f.counts(), before)
	}
	if !strings.Contains(stderr.String(), "Imported the tokens of kubelogin's cache") {
		t.Errorf("stderr %q", stderr)
	}
	e, err := f.entry(o)
	if err != nil || e.RefreshToken != refresh || e.IDToken != id {
		t.Fatalf("kube-oidc cache entry after import: %v", err)
	}

	// Expired: the imported refresh token works.
	f.clock.Add(2 * time.Hour)
	tok = f.mustGet(o, UI{Err: &syncBuffer{}})
	if tok.Source != SourceRefresh {
		t.Fatalf("source %q, want refresh", tok.Source)
	}
	if f.p.Count("token:refresh_token") != before["token:refresh_token"]+1 || f.p.Count("authorize") != 0 {
		t.Errorf("counts %v", f.counts())
	}
}

func TestExpiredKubeloginTokenIsRefreshed(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	id, refresh := f.kubeloginTokens(o)
	writeKubelogin(t, o, o.TokenCacheDir, kubeloginJSON(t, id, refresh))
	f.clock.Add(2 * time.Hour)
	o.Password = ""
	tok := f.mustGet(o, UI{Err: &syncBuffer{}})
	if tok.Source != SourceRefresh {
		t.Fatalf("source %q, want refresh with kubelogin's refresh token", tok.Source)
	}
}

func TestKubeloginCacheInTheKeyring(t *testing.T) {
	keyring.MockInit()
	f := newFixture(t)
	o := f.passwordOptions()
	id, refresh := f.kubeloginTokens(o)
	o.TokenCacheStorage = tokencache.KindKeyring
	o.Password = ""
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	sums, _ := o.kubeloginKey().Checksums()
	if err := keyring.Set("kubelogin", "kubelogin/tokencache/"+sums[0], string(kubeloginJSON(t, id, refresh))); err != nil {
		t.Fatal(err)
	}
	tok := f.mustGet(o, UI{Err: &syncBuffer{}})
	if tok.Source != SourceCache || tok.Token != id {
		t.Fatalf("source %q", tok.Source)
	}
}

func TestUnusableKubeloginCacheIsIgnoredWithOneLine(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	other := f.p.IDToken(f.p.User, func(c map[string]any) { c["iss"] = "https://elsewhere.example.com" })
	otherAud := f.p.IDToken(f.p.User, func(c map[string]any) { c["aud"] = "another-client" })
	tests := []struct {
		name, data, want string
	}{
		{name: "not JSON", data: `{"id_token": "secret-token`, want: "truncated JSON"},
		{name: "no tokens", data: `{}`, want: "holds no token"},
		{name: "id_token not a JWT", data: `{"id_token":"secret-token","refresh_token":"r"}`, want: "not a JWT"},
		{name: "another issuer", data: `{"id_token":"` + other + `"}`, want: "not from --oidc-issuer-url"},
		{name: "another client", data: `{"id_token":"` + otherAud + `"}`, want: "not for --oidc-client-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := o
			o.TokenCacheDir = t.TempDir()
			path := writeKubelogin(t, o, o.TokenCacheDir, []byte(tt.data))
			stderr := &syncBuffer{}
			tok := f.mustGet(o, UI{Err: stderr})
			if tok.Source != SourceLogin {
				t.Errorf("source %q, want a new login", tok.Source)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "warning: ignoring kubelogin's cached token: "+path) || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q, want one warning naming %s and %q", stderr, path, tt.want)
			}
			if strings.Contains(stderr.String(), "secret-token") {
				t.Errorf("stderr quotes the entry: %s", stderr)
			}
		})
	}
}

func TestNoImportWithoutCacheOrWithAnEntryOfOurOwn(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	id, refresh := f.kubeloginTokens(o)
	writeKubelogin(t, o, o.TokenCacheDir, kubeloginJSON(t, id, refresh))

	none := o
	none.TokenCacheStorage = tokencache.KindNone
	if tok := f.mustGet(none, UI{Err: &syncBuffer{}}); tok.Source != SourceLogin {
		t.Errorf("--token-cache-storage=none: source %q, want login", tok.Source)
	}

	own := f.mustGet(o, UI{Err: &syncBuffer{}}) // imports
	if own.Token != id {
		t.Fatal("not imported")
	}
	// kubelogin signs in again later; kube-oidc keeps its own entry.
	id2, refresh2 := f.kubeloginTokens(o)
	writeKubelogin(t, o, o.TokenCacheDir, kubeloginJSON(t, id2, refresh2))
	stderr := &syncBuffer{}
	if tok := f.mustGet(o, UI{Err: stderr}); tok.Token != id || strings.Contains(stderr.String(), "kubelogin") {
		t.Errorf("kube-oidc's own entry not used first; stderr %q", stderr)
	}
}

func TestKubeloginKeyOfOptions(t *testing.T) {
	base := Options{IssuerURL: "https://i", ClientID: "c"}
	tests := []struct {
		name string
		mod  func(*Options)
		want tokencache.KubeloginKey
	}{
		{name: "minimal", mod: func(*Options) {}, want: tokencache.KubeloginKey{IssuerURL: "https://i", ClientID: "c"}},
		{name: "pkce S256", mod: func(o *Options) { o.PKCEMethod = PKCES256 }, want: tokencache.KubeloginKey{IssuerURL: "https://i", ClientID: "c", PKCEMethod: 2}},
		{name: "pkce no", mod: func(o *Options) { o.PKCEMethod = PKCENo }, want: tokencache.KubeloginKey{IssuerURL: "https://i", ClientID: "c", PKCEMethod: 1}},
		{name: "username with auto: password grant", mod: func(o *Options) { o.Username = "u" }, want: tokencache.KubeloginKey{IssuerURL: "https://i", ClientID: "c", Username: "u"}},
		{name: "username with authcode: not in the key", mod: func(o *Options) { o.Username = "u"; o.GrantType = GrantAuthCode }, want: tokencache.KubeloginKey{IssuerURL: "https://i", ClientID: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.mod(&o)
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			got := o.kubeloginKey()
			gs, _ := got.Checksums()
			ws, _ := tt.want.Checksums()
			if gs[0] != ws[0] {
				t.Errorf("key %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestKubeloginDir(t *testing.T) {
	s := &session{env: env{getenv: func(k string) string { return map[string]string{"HOME": "/home/u"}[k] }}}
	if got := s.kubeloginDir(); got != "/home/u/.kube/cache/oidc-login" {
		t.Errorf("default %s", got)
	}
	s.o.TokenCacheDir = "/d"
	if got := s.kubeloginDir(); got != "/d" {
		t.Errorf("--token-cache-dir %s", got)
	}
	s.o.KubeloginTokenCacheDir = "/k"
	if got := s.kubeloginDir(); got != "/k" {
		t.Errorf("--kubelogin-token-cache-dir %s", got)
	}
}

func TestKubeloginEntryIsNotImportedAgainAfterLogout(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	id, refresh := f.kubeloginTokens(o)
	path := writeKubelogin(t, o, o.TokenCacheDir, kubeloginJSON(t, id, refresh))
	if tok := f.mustGet(o, UI{Err: &syncBuffer{}}); tok.Token != id {
		t.Fatal("not imported")
	}
	if _, err := logout(context.Background(), o, UI{Err: &syncBuffer{}}, testEnv(f.clock), false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("kubelogin's entry removed: %v", err)
	}
	if tok := f.mustGet(o, UI{Err: &syncBuffer{}}); tok.Source != SourceLogin {
		t.Errorf("after logout: source %q, want a new login (not kubelogin's entry again)", tok.Source)
	}
}

func TestKubeloginEntryOfTheTokens(t *testing.T) {
	f := newFixture(t)
	id := f.p.IDToken(f.p.User)
	exp := jwtExp(t, id)
	tests := []struct {
		name           string
		useAccessToken bool
		id             string
		want           tokencache.Entry
		wantErr        string
	}{
		{name: "ID token", id: id, want: tokencache.Entry{IDToken: id, RefreshToken: "r", Expiry: exp}},
		{name: "refresh token only", want: tokencache.Entry{RefreshToken: "r"}},
		{name: "access token, opaque: refreshed on first use", useAccessToken: true, id: "opaque", want: tokencache.Entry{AccessToken: "opaque", RefreshToken: "r"}},
		{name: "access token, JWT: its exp", useAccessToken: true, id: id, want: tokencache.Entry{AccessToken: id, RefreshToken: "r", Expiry: exp}},
		{name: "ID token not a JWT", id: "opaque", wantErr: "not a JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{o: f.o}
			s.o.UseAccessToken = tt.useAccessToken
			got, err := s.kubeloginEntry(tt.id, "r")
			if tt.wantErr != "" {
				wantErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.TokenType, tt.want.IssuerURL, tt.want.ClientID = "Bearer", f.o.IssuerURL, f.o.ClientID
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entry %+v\nwant  %+v", got, tt.want)
			}
		})
	}
}

func jwtExp(t *testing.T, token string) time.Time {
	t.Helper()
	c, err := decodeClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	return claimTime(c, "exp")
}

// FuzzKubeloginEntry: whatever kubelogin's cache file holds as its
// id_token, kubeloginEntry never panics, and an ID token it imports names
// this issuer and client.
func FuzzKubeloginEntry(f *testing.F) {
	o := Options{IssuerURL: "https://issuer.example", ClientID: "kubectl"}
	jwt := func(claims string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
	}
	f.Add(jwt(`{"iss":"https://issuer.example","aud":"kubectl","exp":1}`), false)
	f.Add(jwt(`{"iss":"https://issuer.example","aud":["other","kubectl"],"exp":1e300}`), false)
	f.Add(jwt(`{"iss":"https://evil.example","aud":"kubectl"}`), false)
	f.Add(jwt(`{"iss":"https://issuer.example","aud":{"kubectl":1}}`), false)
	f.Add(jwt(`[]`), false)
	f.Add("opaque", true)
	f.Add("a.b.c.d", false)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, id string, useAccessToken bool) {
		s := &session{o: o}
		s.o.UseAccessToken = useAccessToken
		e, err := s.kubeloginEntry(id, "r")
		if err != nil || useAccessToken || id == "" {
			return
		}
		c, err := decodeClaims(e.IDToken)
		if err != nil {
			t.Fatalf("imported an ID token whose claims do not decode: %v", err)
		}
		if iss, _ := c["iss"].(string); iss != o.IssuerURL || !audienceHas(c["aud"], o.ClientID) {
			t.Fatalf("imported an ID token of issuer %v, audience %v", c["iss"], c["aud"])
		}
	})
}
