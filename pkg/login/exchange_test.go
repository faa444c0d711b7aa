package login

import (
	"testing"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

func TestTokenExchangeGivesEachClusterItsOwnAudienceFromOneLogin(t *testing.T) {
	f := newFixture(t, func(p *oidctest.Provider) { p.ExchangeAudiences = []string{"cluster-a", "cluster-b"} })
	base := f.passwordOptions()
	forCluster := func(aud, server string) Options {
		o := base
		o.Audience, o.Cluster = aud, server
		return o
	}
	a, b := forCluster("cluster-a", "https://a.example.com"), forCluster("cluster-b", "https://b.example.com")
	const exchange = "token:" + oidctest.TokenExchangeGrant

	steps := []struct {
		name          string
		o             Options
		wantSource    string
		wantAud       string
		wantLogins    int
		wantExchanges int
	}{
		{"first cluster: login, then exchange", a, SourceExchange, "cluster-a", 1, 1},
		{"first cluster again: its cached token, no request", a, SourceCache, "cluster-a", 1, 1},
		{"second cluster: exchange from the same session, no login", b, SourceExchange, "cluster-b", 1, 2},
		{"second cluster again: cached", b, SourceCache, "cluster-b", 1, 2},
	}
	for _, s := range steps {
		tok := f.mustGet(s.o, UI{Err: &syncBuffer{}})
		if tok.Source != s.wantSource {
			t.Fatalf("%s: source %q, want %q", s.name, tok.Source, s.wantSource)
		}
		claims, err := decodeClaims(tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		if claims["aud"] != s.wantAud || claims["azp"] != f.p.ClientID || claims["email"] != f.p.User.Email {
			t.Fatalf("%s: token aud %v azp %v email %v, want aud %s", s.name, claims["aud"], claims["azp"], claims["email"], s.wantAud)
		}
		if n, x := f.p.Count("token:password"), f.p.Count(exchange); n != s.wantLogins || x != s.wantExchanges {
			t.Fatalf("%s: %d logins and %d exchanges, want %d and %d", s.name, n, x, s.wantLogins, s.wantExchanges)
		}
	}

	// Logout removes the session and this cluster's exchanged token: the
	// next Get signs in again.
	if _, err := logout(t.Context(), a, UI{Err: &syncBuffer{}}, testEnv(f.clock), false); err != nil {
		t.Fatal(err)
	}
	if tok := f.mustGet(a, UI{Err: &syncBuffer{}}); tok.Source != SourceExchange || f.p.Count("token:password") != 2 {
		t.Fatalf("after logout: source %q, %d logins; want a new login and exchange", tok.Source, f.p.Count("token:password"))
	}

	// An audience the provider does not allow: one clear error, nothing cached.
	c := forCluster("cluster-c", "https://c.example.com")
	_, err := f.get(c, UI{Err: &syncBuffer{}})
	wantErr(t, err, "token exchange for audience cluster-c", "invalid_target")

	// The audience token cannot be combined with handing out access tokens.
	c.UseAccessToken = true
	wantErr(t, c.Validate(), "--oidc-audience cannot be combined")
}
