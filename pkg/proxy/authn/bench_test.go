package authn

import (
	"context"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// BenchmarkAuthenticateToken compares a token-cache hit with a miss (a full
// verification: JWT parse, RS256 signature check with cached keys, claim
// mapping; no network call).
func BenchmarkAuthenticateToken(b *testing.B) {
	p := oidctest.New(b)
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{
		{name: "cache_hit", ttl: time.Minute},
		{name: "cache_miss", ttl: 0}, // cache off: every call verifies
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := legacyOptions(b, p)
			o.TokenCacheTTL = bc.ttl
			a, _ := newTestAuthenticator(b, o, true)
			tok := p.IDToken(p.User)
			ctx := context.Background()
			if _, ok, err := a.AuthenticateToken(ctx, tok); !ok {
				b.Fatalf("warm-up: %v", err)
			}
			discoveries := p.Count("discovery") + p.Count("jwks")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, ok, err := a.AuthenticateToken(ctx, tok); !ok {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n := p.Count("discovery") + p.Count("jwks"); n != discoveries {
				b.Fatalf("%d network calls to the issuer during the benchmark, want 0", n-discoveries)
			}
		})
	}
}
