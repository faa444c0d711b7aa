package login

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

const (
	resourceA = "https://a.k8s.example.com"
	resourceB = "https://b.k8s.example.com"
)

// resourceFixture is a provider of RFC 8707 resources A and B and options
// for one cluster of each.
func resourceFixture(t *testing.T, configure ...func(*oidctest.Provider)) (f *fixture, a, b Options) {
	f = newFixture(t, append([]func(*oidctest.Provider){func(p *oidctest.Provider) {
		p.Resources = []string{resourceA, resourceB}
		p.RotateRefreshTokens = true
	}}, configure...)...)
	base := f.o
	base.GrantType = GrantAuthCode
	base.AudienceMethod = AudienceMethodResourceIndicator
	a, b = base, base
	a.Audience, a.Cluster = resourceA, "https://api.a.example.com"
	b.Audience, b.Cluster = resourceB, "https://api.b.example.com"
	return f, a, b
}

// getWithBrowser runs Get with a browser that signs in when asked.
func (f *fixture) getWithBrowser(o Options) (*Token, error) {
	f.t.Helper()
	stderr := &syncBuffer{}
	br := newBrowser(f.p, nil)
	tok, err := f.get(o, br.ui(stderr))
	if err != nil {
		return nil, err
	}
	select {
	case err := <-br.errs:
		if err != nil {
			f.t.Fatalf("browser: %v", err)
		}
	default: // no sign-in this time
	}
	return tok, nil
}

// audienceEntry reads the raw cache entry of o's cluster audience.
func (f *fixture) audienceEntry(o Options) (tokencache.Entry, error) {
	f.t.Helper()
	return f.load(o, (*Options).audienceKey)
}

func TestResourceIndicatorGivesEachClusterAnAccessTokenOfItsAudience(t *testing.T) {
	f, a, b := resourceFixture(t)
	steps := []struct {
		name          string
		o             Options
		advance       time.Duration
		wantSource    string
		wantAud       string
		wantLogins    int
		wantRefresh   int
		wantAuthorize []string // resource values of the last authorization request
		wantResource  []string // resource values of the last token request
	}{
		{"first cluster: one sign-in for it, its token from the code exchange", a, 0, SourceResourceIndicator, resourceA, 1, 0, []string{resourceA}, []string{resourceA}},
		{"first cluster again: cached", a, 0, SourceCache, resourceA, 1, 0, nil, nil},
		{"second cluster, not granted: one sign-in for both", b, 0, SourceResourceIndicator, resourceB, 2, 0, []string{resourceA, resourceB}, []string{resourceB}},
		{"second cluster again: cached", b, 0, SourceCache, resourceB, 2, 0, nil, nil},
		{"first cluster expired: refreshed for its resource, no sign-in", a, 2 * time.Hour, SourceResourceIndicator, resourceA, 2, 1, nil, []string{resourceA}},
		{"second cluster expired: refreshed with the rotated refresh token", b, 0, SourceResourceIndicator, resourceB, 2, 2, nil, []string{resourceB}},
		{"second cluster again: cached", b, 0, SourceCache, resourceB, 2, 2, nil, nil},
	}
	for _, s := range steps {
		f.clock.Add(s.advance)
		before := f.counts()
		tok, err := f.getWithBrowser(s.o)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if tok.Source != s.wantSource {
			t.Fatalf("%s: source %q, want %q", s.name, tok.Source, s.wantSource)
		}
		claims, err := decodeClaims(tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		if claims["aud"] != s.wantAud || claims["client_id"] != f.p.ClientID || claims["email"] != f.p.User.Email {
			t.Fatalf("%s: token aud %v client_id %v email %v, want aud %s only", s.name, claims["aud"], claims["client_id"], claims["email"], s.wantAud)
		}
		if tok.IDTokenClaims["aud"] != s.wantAud || !tok.Expiry.Equal(time.Unix(int64(claims["exp"].(float64)), 0)) {
			t.Fatalf("%s: Token claims aud %v expiry %v, want the access token's", s.name, tok.IDTokenClaims["aud"], tok.Expiry)
		}
		if n, r := f.p.Count("authorize"), f.p.Count("token:refresh_token"); n != s.wantLogins || r != s.wantRefresh {
			t.Fatalf("%s: %d sign-ins and %d refreshes, want %d and %d", s.name, n, r, s.wantLogins, s.wantRefresh)
		}
		if s.wantSource == SourceCache && !maps.Equal(before, f.counts()) {
			t.Fatalf("%s: a cache hit made requests: %v -> %v", s.name, before, f.counts())
		}
		if s.wantAuthorize != nil {
			q := f.p.LastAuthorizeRequest()
			if got := q["resource"]; !slices.Equal(got, s.wantAuthorize) || !slices.Contains(strings.Fields(q.Get("scope")), "offline_access") {
				t.Fatalf("%s: authorization request resources %v scope %q, want %v and offline_access", s.name, got, q.Get("scope"), s.wantAuthorize)
			}
		}
		if s.wantResource != nil {
			if got := f.p.LastTokenRequest()["resource"]; !slices.Equal(got, s.wantResource) {
				t.Fatalf("%s: token request resources %v, want %v", s.name, got, s.wantResource)
			}
		}
	}
	e, err := f.entry(a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Resources, []string{resourceA, resourceB}) {
		t.Fatalf("session entry records resources %v, want both", e.Resources)
	}
	if claims, _ := decodeClaims(e.IDToken); claims["aud"] != f.p.ClientID {
		t.Fatalf("session entry's ID token aud %v, want the client (it is never sent to a cluster)", claims["aud"])
	}
	cached, err := cached(t.Context(), b, UI{Err: &syncBuffer{}}, testEnv(f.clock))
	if err != nil || cached.IDTokenClaims["aud"] != resourceB {
		t.Fatalf("Cached for cluster b: %v, %v", cached, err)
	}
}

func TestResourceIndicatorLoginAuthorizesSeveralClustersAtOnce(t *testing.T) {
	f, a, b := resourceFixture(t)
	a.LoginAudiences = []string{resourceB}
	br := newBrowser(f.p, nil)
	tok, err := get(t.Context(), a, br.ui(&syncBuffer{}), testEnv(f.clock), modeLogin)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-br.errs; err != nil {
		t.Fatal(err)
	}
	if got := f.p.LastAuthorizeRequest()["resource"]; tok.Source != SourceResourceIndicator || !slices.Equal(got, []string{resourceA, resourceB}) {
		t.Fatalf("login: source %q, authorization request resources %v", tok.Source, got)
	}
	tok, err = f.getWithBrowser(b)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Source != SourceResourceIndicator || tok.IDTokenClaims["aud"] != resourceB || f.p.Count("authorize") != 1 || f.p.Count("token:refresh_token") != 1 {
		t.Fatalf("cluster b after the login: source %q aud %v, %d sign-ins, %d refreshes; want one refresh, no sign-in",
			tok.Source, tok.IDTokenClaims["aud"], f.p.Count("authorize"), f.p.Count("token:refresh_token"))
	}
}

func TestResourceIndicatorRefusesAWrongAccessTokenAndCachesNothing(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c map[string]any)
		wantErr string
	}{
		{"also for the other cluster", func(c map[string]any) { c["aud"] = []string{resourceA, resourceB} }, `also for audience "` + resourceB + `"`},
		{"also for the login client", func(c map[string]any) { c["aud"] = []string{resourceA, "kube-oidc-test"} }, `also for audience "kube-oidc-test"`},
		{"for the other cluster only", func(c map[string]any) { c["aud"] = resourceB }, "verify the access token"},
		{"of another client", func(c map[string]any) { c["client_id"] = "other" }, "client_id is other"},
		{"authorised by another client", func(c map[string]any) { c["azp"] = "other" }, "azp is other"},
		{"of another issuer", func(c map[string]any) { c["iss"] = "https://evil.example.com" }, "verify the access token"},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, "verify the access token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, _ := resourceFixture(t, func(p *oidctest.Provider) { p.AccessTokenClaims = tt.mod })
			_, err := f.getWithBrowser(a)
			wantErr(t, err, "sign-in for resource "+resourceA, tt.wantErr)
			if _, err := f.entry(a); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("session entry after a refused token: %v, want none", err)
			}
			if _, err := f.audienceEntry(a); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("cluster entry after a refused token: %v, want none", err)
			}
		})
	}

	// The same checks on the refresh path: a provider that starts getting
	// aud wrong after the sign-in.
	var wrong bool
	f, a, _ := resourceFixture(t, func(p *oidctest.Provider) {
		p.AccessTokenClaims = func(c map[string]any) {
			if wrong {
				c["aud"] = []string{resourceA, resourceB}
			}
		}
	})
	if _, err := f.getWithBrowser(a); err != nil {
		t.Fatal(err)
	}
	good, err := f.audienceEntry(a)
	if err != nil {
		t.Fatal(err)
	}
	wrong = true
	f.clock.Add(2 * time.Hour)
	_, err = f.get(a, UI{Err: &syncBuffer{}})
	wantErr(t, err, ErrInteractionRequired.Error(), "refresh for resource "+resourceA, `also for audience "`+resourceB+`"`)
	if e, err := f.audienceEntry(a); err != nil || e.AccessToken != good.AccessToken {
		t.Fatalf("cluster entry after a refused refresh: changed (%v)", err)
	}
}

func TestResourceIndicatorOptions(t *testing.T) {
	f, a, _ := resourceFixture(t)
	tests := []struct {
		name    string
		mod     func(o *Options)
		wantErr string
	}{
		{"absolute URI", func(o *Options) {}, ""},
		{"with login audiences", func(o *Options) { o.LoginAudiences = []string{resourceB} }, ""},
		{"not a URI", func(o *Options) { o.Audience = "cluster-a" }, `audience "cluster-a" is not a resource indicator`},
		{"login audience not a URI", func(o *Options) { o.LoginAudiences = []string{"cluster-b"} }, `audience "cluster-b" is not a resource indicator`},
		{"fragment", func(o *Options) { o.Audience = resourceA + "#x" }, "without a fragment"},
		{"resource by hand", func(o *Options) { o.AuthRequestExtraParams = map[string]string{"resource": resourceB} }, `cannot set "resource"`},
		{"access token flag", func(o *Options) { o.UseAccessToken = true }, "--oidc-audience cannot be combined with --oidc-use-access-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := a
			tt.mod(&o)
			err := o.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tt.wantErr)
		})
	}

	// The password grant sends no resource indicators: refused before any
	// credential is sent.
	o := f.passwordOptions()
	o.AudienceMethod, o.Audience, o.Cluster = AudienceMethodResourceIndicator, resourceA, a.Cluster
	_, err := f.get(o, UI{Err: &syncBuffer{}})
	wantErr(t, err, "--oidc-audience-method=resource-indicator signs in with the browser", "password")
	if n := f.p.Count("token:password"); n != 0 {
		t.Fatalf("%d password grants, want none", n)
	}
}

func TestResourceIndicatorWithTheKeyboardFlow(t *testing.T) {
	f, a, _ := resourceFixture(t)
	a.GrantType = GrantAuthCodeKeyboard
	a.LoginAudiences = []string{resourceB}
	k := newKeyboardPerson(f.p, func(loc *url.URL) string { return loc.String() })
	tok, err := get(t.Context(), a, k.ui(), testEnv(f.clock), modeLogin)
	if err != nil {
		t.Fatalf("%v\n%s", err, k)
	}
	if err := <-k.errs; err != nil {
		t.Fatal(err)
	}
	// The printed URL carries both resources; the code exchange asks for a.
	if !strings.Contains(k.String(), "resource="+url.QueryEscape(resourceA)) || !strings.Contains(k.String(), "resource="+url.QueryEscape(resourceB)) {
		t.Fatalf("the printed authorization URL lacks the resources:\n%s", k)
	}
	if got := f.p.LastTokenRequest()["resource"]; tok.Source != SourceResourceIndicator || tok.IDTokenClaims["aud"] != resourceA || !slices.Equal(got, []string{resourceA}) {
		t.Fatalf("source %q aud %v, code exchange resources %v", tok.Source, tok.IDTokenClaims["aud"], got)
	}
}

func TestResourceIndicatorSessionKeepsItsResourcesWhenTheExchangePathRefreshesIt(t *testing.T) {
	f, a, _ := resourceFixture(t, func(p *oidctest.Provider) { p.ExchangeAudiences = []string{"cluster-x"} })
	exchange := f.passwordOptions()
	exchange.GrantType = GrantAuthCode
	exchange.Username, exchange.Password = "", ""
	exchange.Audience, exchange.Cluster = "cluster-x", "https://x.example.com"
	if _, err := f.getWithBrowser(a); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Hour)
	if tok, err := f.getWithBrowser(exchange); err != nil || tok.Source != SourceExchange || f.p.Count("authorize") != 1 {
		t.Fatalf("exchange: %v, %v; want the session refreshed, then exchanged, no sign-in", tok, err)
	}
	if e, err := f.entry(a); err != nil || !slices.Equal(e.Resources, []string{resourceA}) {
		t.Fatalf("after the exchange path's refresh the session entry records resources %v (%v), want [%s]", e.Resources, err, resourceA)
	}
	if tok, err := f.getWithBrowser(a); err != nil || tok.Source != SourceResourceIndicator || f.p.Count("authorize") != 1 {
		t.Fatalf("resource again: %v, %v, %d sign-ins; want narrowed by refresh", tok, err, f.p.Count("authorize"))
	}
}
