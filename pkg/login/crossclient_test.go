package login

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

func TestDexCrossClientGivesEachClusterItsOwnAudience(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) {
		p.CrossClientPeers = []string{"cluster-a", "cluster-b"}
		p.RotateRefreshTokens = true
	})
	base := f.passwordOptions()
	base.AudienceMethod = AudienceMethodDexCrossClient
	forCluster := func(aud, server string) Options {
		o := base
		o.Audience, o.Cluster = aud, server
		return o
	}
	a, b := forCluster("cluster-a", "https://a.example.com"), forCluster("cluster-b", "https://b.example.com")

	steps := []struct {
		name        string
		o           Options
		advance     time.Duration
		wantSource  string
		wantAud     string
		wantLogins  int
		wantRefresh int
		wantScope   []string // the last token request's scope holds these
	}{
		{"first cluster: login for it, then narrow", a, 0, SourceCrossClient, "cluster-a", 1, 1, []string{"audience:server:client_id:cluster-a"}},
		{"first cluster again: cached, no request", a, 0, SourceCache, "cluster-a", 1, 1, nil},
		{"second cluster, not granted: one login for both", b, 0, SourceCrossClient, "cluster-b", 2, 2, []string{"audience:server:client_id:cluster-b"}},
		{"second cluster again: cached", b, 0, SourceCache, "cluster-b", 2, 2, nil},
		{"first cluster expired: narrowed from the session, no login", a, 2 * time.Hour, SourceCrossClient, "cluster-a", 2, 3, []string{"audience:server:client_id:cluster-a"}},
		{"second cluster expired: narrowed with the rotated refresh token", b, 0, SourceCrossClient, "cluster-b", 2, 4, []string{"audience:server:client_id:cluster-b"}},
	}
	for _, s := range steps {
		f.clock.Add(s.advance)
		tok := f.mustGet(s.o, UI{Err: &syncBuffer{}})
		if tok.Source != s.wantSource {
			t.Fatalf("%s: source %q, want %q", s.name, tok.Source, s.wantSource)
		}
		claims, err := decodeClaims(tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		aud, _ := claims["aud"].([]any)
		if !slices.Equal(aud, []any{s.wantAud, f.p.ClientID}) || claims["azp"] != f.p.ClientID {
			t.Fatalf("%s: token aud %v azp %v, want aud [%s %s]", s.name, claims["aud"], claims["azp"], s.wantAud, f.p.ClientID)
		}
		if n, r := f.p.Count("token:password"), f.p.Count("token:refresh_token"); n != s.wantLogins || r != s.wantRefresh {
			t.Fatalf("%s: %d logins and %d refreshes, want %d and %d", s.name, n, r, s.wantLogins, s.wantRefresh)
		}
		if s.wantScope != nil {
			scope := strings.Fields(f.p.LastTokenRequest().Get("scope"))
			for _, w := range s.wantScope {
				if !slices.Contains(scope, w) {
					t.Fatalf("%s: last token request's scope %v lacks %s", s.name, scope, w)
				}
			}
			other := "audience:server:client_id:cluster-b"
			if s.wantAud == "cluster-b" {
				other = "audience:server:client_id:cluster-a"
			}
			if slices.Contains(scope, other) {
				t.Fatalf("%s: the narrowing refresh asked for %s as well", s.name, other)
			}
		}
	}

	// A peer that does not trust the client: the login is refused, nothing
	// is cached for it.
	c := forCluster("cluster-c", "https://c.example.com")
	_, err := f.get(c, UI{Err: &syncBuffer{}})
	wantErr(t, err, "invalid_scope")

	c.AudienceMethod = "resource"
	wantErr(t, c.Validate(), "--oidc-audience-method \"resource\" is not one of")
}

func TestDexCrossClientRefusesATokenOtherClustersAccept(t *testing.T) {
	f := newFixture(t)
	o := f.passwordOptions()
	o.AudienceMethod, o.Audience, o.Cluster = AudienceMethodDexCrossClient, "cluster-a", "https://a.example.com"
	s, err := newSession(t.Context(), o, UI{Err: &syncBuffer{}}, testEnv(f.clock), true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.provider(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		aud     any
		azp     any
		wantErr string
	}{
		{"also for another cluster", []string{"cluster-a", "cluster-b", f.p.ClientID}, f.p.ClientID, `also for audience "cluster-b"`},
		{"authorised by another client", []string{"cluster-a", "other"}, "other", `also for audience "other"`},
		{"azp of another client", "cluster-a", "other", "azp is other"},
		{"not for this cluster", []string{"cluster-b", f.p.ClientID}, f.p.ClientID, "verify the ID token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := f.p.IDToken(f.p.User, func(c map[string]any) { c["aud"], c["azp"] = tt.aud, tt.azp })
			_, _, err := s.verifyAudience(t.Context(), p, raw)
			wantErr(t, err, tt.wantErr)
		})
	}
	raw := f.p.IDToken(f.p.User, func(c map[string]any) { c["aud"], c["azp"] = []string{"cluster-a", f.p.ClientID}, f.p.ClientID })
	if _, _, err := s.verifyAudience(t.Context(), p, raw); err != nil {
		t.Fatalf("the token Dex issues for cluster-a: %v", err)
	}
}

func TestDexCrossClientLoginAuthorizesSeveralClustersAtOnce(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) { p.CrossClientPeers = []string{"cluster-a", "cluster-b"} })
	o := f.passwordOptions()
	o.AudienceMethod, o.Audience, o.LoginAudiences = AudienceMethodDexCrossClient, "cluster-a", []string{"cluster-b"}
	tok, err := get(t.Context(), o, UI{Err: &syncBuffer{}}, testEnv(f.clock), modeLogin)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Source != SourceCrossClient || f.p.Count("token:password") != 1 {
		t.Fatalf("login: source %q, %d logins; want one login, narrowed", tok.Source, f.p.Count("token:password"))
	}
	b := o
	b.Audience, b.LoginAudiences, b.Cluster = "cluster-b", nil, "https://b.example.com"
	tok = f.mustGet(b, UI{Err: &syncBuffer{}})
	claims, err := decodeClaims(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if aud, _ := claims["aud"].([]any); tok.Source != SourceCrossClient || !slices.Equal(aud, []any{"cluster-b", f.p.ClientID}) {
		t.Fatalf("cluster b after the login: source %q aud %v", tok.Source, claims["aud"])
	}
	if n := f.p.Count("token:password"); n != 1 {
		t.Fatalf("cluster b after the login: %d logins, want the one of the login", n)
	}

	bad := o
	bad.AudienceMethod = AudienceMethodTokenExchange
	wantErr(t, bad.Validate(), "--oidc-login-audience needs --oidc-audience and --oidc-audience-method=dex-cross-client or resource-indicator")
}

func TestSessionKeepsGrantedAudiencesWhenAnotherMethodRefreshesIt(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) {
		p.CrossClientPeers = []string{"cluster-a"}
		p.ExchangeAudiences = []string{"cluster-x"}
		p.RotateRefreshTokens = true
	})
	dex := f.passwordOptions()
	dex.AudienceMethod, dex.Audience, dex.Cluster = AudienceMethodDexCrossClient, "cluster-a", "https://a.example.com"
	exchange := f.passwordOptions()
	exchange.AudienceMethod, exchange.Audience, exchange.Cluster = AudienceMethodTokenExchange, "cluster-x", "https://x.example.com"

	f.mustGet(dex, UI{Err: &syncBuffer{}})
	f.clock.Add(2 * time.Hour)
	// The session's ID token has expired: the exchange path refreshes the
	// shared session entry (and the provider rotates its refresh token).
	if tok := f.mustGet(exchange, UI{Err: &syncBuffer{}}); tok.Source != SourceExchange || f.p.Count("token:refresh_token") != 2 {
		t.Fatalf("exchange: source %q, %d refreshes; want the session refreshed, then exchanged", tok.Source, f.p.Count("token:refresh_token"))
	}
	e, err := f.entry(dex)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Audiences, []string{"cluster-a"}) {
		t.Fatalf("after the exchange path's refresh the session entry records audiences %v, want [cluster-a]", e.Audiences)
	}
	tok := f.mustGet(dex, UI{Err: &syncBuffer{}})
	if tok.Source != SourceCrossClient || f.p.Count("token:password") != 1 {
		t.Fatalf("cross-client again: source %q, %d logins; want narrowed by refresh from the one login", tok.Source, f.p.Count("token:password"))
	}
}
