package authn

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/prometheus/client_golang/prometheus"
)

func TestAuthenticateToken_RefusesEveryHostileToken(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	user := p.User
	user.Extra = map[string]any{"hd": "example.com"}
	o := legacyOptions(t, p)
	o.RequiredClaims = map[string]string{"hd": "example.com"}
	a, _ := newTestAuthenticator(t, o, true)

	tokens := map[string]string{"empty": ""}
	for kind, tok := range p.HostileTokens(t, user) {
		tokens[string(kind)] = tok
	}
	tokens["required claim missing"] = p.IDToken(user, func(c map[string]any) { c["hd"] = nil })
	tokens["required claim with another value"] = p.IDToken(user, func(c map[string]any) { c["hd"] = "evil.example.com" })
	tokens["required claim not a string"] = p.IDToken(user, func(c map[string]any) { c["hd"] = []string{"example.com"} })

	// The good token with the same options is accepted: each refusal is due to
	// the one thing wrong with its token.
	if name, _, _, _ := mustAuthenticate(t, a, p.IDToken(user)); name != p.Issuer+"#"+user.Subject {
		t.Fatalf("good token: username %q", name)
	}

	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			err := mustRefuse(t, a, tok)
			if _, ok := isForbidden(err); ok {
				t.Errorf("refused as forbidden identity, want invalid token: %v", err)
			}
			if nr := (*IssuerNotReadyError)(nil); errors.As(err, &nr) {
				t.Errorf("refused as not ready, want invalid token: %v", err)
			}
		})
	}
	if got := counter(t, a, "results", resultSuccess); got != 1 {
		t.Errorf("success count = %v, want 1 (only the good token)", got)
	}
}

func TestAuthenticateToken_EmailUsernameRequiresVerifiedEmail(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	o := legacyOptions(t, p)
	o.UsernameClaim = "email"
	a, _ := newTestAuthenticator(t, o, true)
	if name, _, _, _ := mustAuthenticate(t, a, p.IDToken(p.User)); name != p.User.Email {
		t.Errorf("username %q, want %q", name, p.User.Email)
	}
	mustRefuse(t, a, p.IDToken(p.User, func(c map[string]any) { c["email_verified"] = false }))
}

func TestAuthenticateToken_LegacyFlagPrefixes(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	tests := []struct {
		name                      string
		usernameClaim, userPrefix string
		groupsClaim, groupsPrefix string
		wantUsername              string
		wantGroups                []string
	}{
		{name: "sub claim defaults to issuer# prefix", usernameClaim: "sub", groupsClaim: "groups",
			wantUsername: p.Issuer + "#user-1", wantGroups: []string{"developers"}},
		{name: "email claim has no default prefix", usernameClaim: "email", groupsClaim: "groups",
			wantUsername: "alice@example.com", wantGroups: []string{"developers"}},
		{name: "dash means no prefix", usernameClaim: "sub", userPrefix: "-", groupsClaim: "groups",
			wantUsername: "user-1", wantGroups: []string{"developers"}},
		{name: "custom prefixes", usernameClaim: "sub", userPrefix: "oidc:", groupsClaim: "groups", groupsPrefix: "oidc:",
			wantUsername: "oidc:user-1", wantGroups: []string{"oidc:developers"}},
		{name: "custom prefix on email claim", usernameClaim: "email", userPrefix: "corp:", groupsClaim: "groups",
			wantUsername: "corp:alice@example.com", wantGroups: []string{"developers"}},
		{name: "no groups claim gives no groups", usernameClaim: "sub", userPrefix: "-",
			wantUsername: "user-1", wantGroups: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := legacyOptions(t, p)
			o.UsernameClaim, o.UsernamePrefix = tt.usernameClaim, tt.userPrefix
			o.GroupsClaim, o.GroupsPrefix = tt.groupsClaim, tt.groupsPrefix
			a, _ := newTestAuthenticator(t, o, true)
			name, groups, uid, extra := mustAuthenticate(t, a, p.IDToken(p.User))
			if name != tt.wantUsername {
				t.Errorf("username = %q, want %q", name, tt.wantUsername)
			}
			if !slices.Equal(groups, tt.wantGroups) {
				t.Errorf("groups = %q, want %q", groups, tt.wantGroups)
			}
			if uid != "" || len(extra) != 0 {
				t.Errorf("legacy flags gave uid %q extra %v, want none", uid, extra)
			}
		})
	}
}

// celJWT is a CEL mapping: username from a verified email, groups with a
// prefix, uid from sub, an extra from a custom claim, a claim validation rule
// and a user validation rule.
func celJWT(p *oidctest.Provider) jwtConfig {
	return jwtConfig{
		"issuer": map[string]any{
			"url":                  p.Issuer,
			"audiences":            []string{p.ClientID, "another-client"},
			"audienceMatchPolicy":  "MatchAny",
			"certificateAuthority": string(p.CAPEM()),
		},
		"claimValidationRules": []map[string]any{
			{"expression": "claims.email_verified == true", "message": "email must be verified"},
		},
		"claimMappings": map[string]any{
			"username": map[string]any{"expression": `"cel:" + claims.email`},
			"groups":   map[string]any{"expression": `dyn(claims.groups).map(g, "cel:" + g)`},
			"uid":      map[string]any{"expression": "claims.sub"},
			"extra": []map[string]any{
				{"key": "example.com/tenant", "valueExpression": "claims.tenant"},
			},
		},
		"userValidationRules": []map[string]any{
			{"expression": `!user.username.startsWith("cel:blocked")`, "message": "blocked users are refused"},
		},
	}
}

func TestAuthenticateToken_ConfigFileWithTwoIssuersAndCEL(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			p1, p2 := oidctest.New(t), oidctest.New(t)
			path := filepath.Join(t.TempDir(), "authn.yaml")
			writeConfig(t, path, authConfig(version, celJWT(p1), simpleJWT(p2, "p2:")))
			o := NewOptions()
			o.AuthenticationConfigFile = path
			a, _ := newTestAuthenticator(t, o, true)

			u1 := p1.User
			u1.Extra = map[string]any{"tenant": "blue"}
			name, groups, uid, extra := mustAuthenticate(t, a, p1.IDToken(u1))
			if name != "cel:alice@example.com" || !slices.Equal(groups, []string{"cel:developers"}) || uid != "user-1" ||
				!slices.Equal(extra["example.com/tenant"], []string{"blue"}) {
				t.Errorf("issuer 1: got %q %q uid %q extra %v", name, groups, uid, extra)
			}
			// The second audience is accepted too.
			if name, _, _, _ := mustAuthenticate(t, a, p1.IDToken(u1, func(c map[string]any) { c["aud"] = "another-client" })); name != "cel:alice@example.com" {
				t.Errorf("second audience: username %q", name)
			}

			u2 := oidctest.User{Subject: "bob", Groups: []string{"ops"}}
			name, groups, uid, extra = mustAuthenticate(t, a, p2.IDToken(u2))
			if name != "p2:bob" || !slices.Equal(groups, []string{"p2:ops"}) || uid != "" || len(extra) != 0 {
				t.Errorf("issuer 2: got %q %q uid %q extra %v", name, groups, uid, extra)
			}

			refusals := map[string]string{
				"claim validation rule fails":                p1.IDToken(u1, func(c map[string]any) { c["email_verified"] = false }),
				"user validation rule fails":                 p1.IDToken(u1, func(c map[string]any) { c["email"] = "blocked@example.com" }),
				"token of issuer 1 signed by issuer 2's key": p2.Sign(p1.Claims(u1)),
				"audience of issuer 2 at issuer 1":           p1.IDToken(u1, func(c map[string]any) { c["aud"] = p2.ClientID + "-other" }),
			}
			for what, tok := range refusals {
				t.Run(what, func(t *testing.T) { mustRefuse(t, a, tok) })
			}
		})
	}
}

func TestAuthenticateToken_RefusesSystemIdentitiesUnlessAllowed(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	tests := []struct {
		name   string
		prefix string
		user   oidctest.User
	}{
		{name: "system: group", prefix: "-", user: oidctest.User{Subject: "mallory", Groups: []string{"developers", "system:masters"}}},
		{name: "system: username", prefix: "-", user: oidctest.User{Subject: "system:admin"}},
		{name: "system: username through the prefix", prefix: "system:", user: oidctest.User{Subject: "node"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := legacyOptions(t, p)
			o.UsernamePrefix = tt.prefix
			a, _ := newTestAuthenticator(t, o, true)
			err := mustRefuse(t, a, p.IDToken(tt.user))
			f, ok := isForbidden(err)
			if !ok || !strings.Contains(f.Reason, "system:") {
				t.Fatalf("err = %v, want ForbiddenIdentityError naming the system: name", err)
			}
			if got := counter(t, a, "results", resultForbiddenIdentity); got != 1 {
				t.Errorf("forbidden_identity count = %v, want 1", got)
			}
			// Not cached: refused again.
			mustRefuse(t, a, p.IDToken(tt.user))

			o.AllowSystemIdentities = true
			allowed, _ := newTestAuthenticator(t, o, true)
			mustAuthenticate(t, allowed, p.IDToken(tt.user))
		})
	}
}

func TestAuthenticateToken_CacheHitSkipsVerification(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	o := legacyOptions(t, p)
	a, _ := newTestAuthenticator(t, o, true)
	tok := p.IDToken(p.User)
	for range 3 {
		mustAuthenticate(t, a, tok)
	}
	if hits, misses := counter(t, a, "cache", "hit"), counter(t, a, "cache", "miss"); hits != 2 || misses != 1 {
		t.Fatalf("cache hits/misses = %v/%v, want 2/1", hits, misses)
	}
	// A cached success is served without the verifier: it still answers while
	// the provider is down and has rotated its key, when a verification of a
	// token with the new key fails.
	p.SetDown(true)
	p.RotateSigningKey(t)
	mustAuthenticate(t, a, tok)
	if hits := counter(t, a, "cache", "hit"); hits != 3 {
		t.Fatalf("hits = %v, want 3", hits)
	}
	// Another token of the same user is a miss and is verified.
	mustRefuse(t, a, p.IDToken(p.User))
	if misses := counter(t, a, "cache", "miss"); misses != 2 {
		t.Fatalf("misses = %v, want 2", misses)
	}
}

func TestAuthenticateToken_CacheNeverPastTokenExpiryOrTTL(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	start := time.Now()
	clock := &fakeClock{now: start}
	o := legacyOptions(t, p)
	o.TokenCacheTTL = time.Hour
	o.now = clock.Now
	a, _ := newTestAuthenticator(t, o, true)

	p.IDTokenTTL = 10 * time.Minute
	tok := p.IDToken(p.User)
	exp, ok := tokenExpiry(tok)
	if !ok {
		t.Fatal("cannot read exp of the test token")
	}
	steps := []struct {
		at       time.Time
		wantHits float64
		wantMiss float64
	}{
		{at: start, wantHits: 0, wantMiss: 1},
		{at: exp.Add(-time.Second), wantHits: 1, wantMiss: 1}, // still before exp: hit
		{at: exp, wantHits: 1, wantMiss: 2},                   // at exp: not served from cache
	}
	for i, s := range steps {
		clock.Set(s.at)
		mustAuthenticate(t, a, tok) // the verifier uses the real clock: the token is still valid
		if h, m := counter(t, a, "cache", "hit"), counter(t, a, "cache", "miss"); h != s.wantHits || m != s.wantMiss {
			t.Fatalf("step %d: hits/misses = %v/%v, want %v/%v", i, h, m, s.wantHits, s.wantMiss)
		}
	}

	// A TTL shorter than the token's lifetime bounds the entry.
	o2 := legacyOptions(t, p)
	o2.TokenCacheTTL = 10 * time.Second
	clock2 := &fakeClock{now: start}
	o2.now = clock2.Now
	b, _ := newTestAuthenticator(t, o2, true)
	mustAuthenticate(t, b, tok)
	clock2.Set(start.Add(9 * time.Second))
	mustAuthenticate(t, b, tok)
	clock2.Set(start.Add(10 * time.Second))
	mustAuthenticate(t, b, tok)
	if h, m := counter(t, b, "cache", "hit"), counter(t, b, "cache", "miss"); h != 1 || m != 2 {
		t.Fatalf("ttl: hits/misses = %v/%v, want 1/2", h, m)
	}
}

func TestAuthenticateToken_CacheDisabledWithZeroTTL(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	o := legacyOptions(t, p)
	o.TokenCacheTTL = 0
	a, _ := newTestAuthenticator(t, o, true)
	tok := p.IDToken(p.User)
	mustAuthenticate(t, a, tok)
	p.RotateSigningKey(t) // the old key is no longer published
	p.SetDown(true)
	mustAuthenticate(t, a, tok) // the cached key set still verifies: no cache involved
	if h, m := counter(t, a, "cache", "hit"), counter(t, a, "cache", "miss"); h != 0 || m != 0 {
		t.Fatalf("hits/misses = %v/%v with the cache off, want 0/0", h, m)
	}
	if got := counter(t, a, "results", resultSuccess); got != 2 {
		t.Fatalf("success = %v, want 2", got)
	}
}

func TestAuthenticateToken_IssuerDownAtStartThenUp(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	p.SetDown(true)
	a, reg := newTestAuthenticator(t, legacyOptions(t, p), false)
	// Wait until a discovery attempt has failed (the health error changes from
	// "not initialized" to the failure), so that the issuer is seen coming back.
	waitFor(t, "a failed discovery attempt", func() bool {
		err := a.HealthCheck()
		return err != nil && !strings.Contains(err.Error(), "not initialized")
	})
	if err := a.HealthCheck(); err == nil {
		t.Fatal("HealthCheck = nil while the issuer is down")
	}
	if v := gauge(t, reg, "oidc_proxy_authentication_ready"); v != 0 {
		t.Fatalf("ready gauge = %v while the issuer is down, want 0", v)
	}
	tok := p.IDToken(p.User)
	err := mustRefuse(t, a, tok)
	if nr := (*IssuerNotReadyError)(nil); !errors.As(err, &nr) || nr.Issuer != p.Issuer {
		t.Fatalf("err = %v, want an IssuerNotReadyError naming %s", err, p.Issuer)
	}
	if got := counter(t, a, "results", resultNotReady); got != 1 {
		t.Errorf("not_ready count = %v, want 1", got)
	}

	p.SetDown(false)
	waitFor(t, "discovery after the issuer came back", func() bool { return a.HealthCheck() == nil })
	mustAuthenticate(t, a, tok) // the earlier failure was not cached
	if v := gauge(t, reg, "oidc_proxy_authentication_ready"); v != 1 {
		t.Fatalf("ready gauge = %v once discovered, want 1", v)
	}

	// A later outage keeps the fetched keys working for new tokens.
	p.SetDown(true)
	mustAuthenticate(t, a, p.IDToken(p.User, func(c map[string]any) { c["jti"] = "second" }))
	if err := a.HealthCheck(); err != nil {
		t.Errorf("HealthCheck = %v during a later outage, want nil (keys are cached)", err)
	}
}

func TestNew_StartsWithUnreachableIssuer(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	o.IssuerURL = "https://127.0.0.1:1" // nothing listens there
	o.ClientID = "c"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, o, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if a.HealthCheck() == nil {
		t.Fatal("HealthCheck = nil for an unreachable issuer")
	}
}

func TestAuthenticateToken_UnknownIssuerAndGarbageAreInvalid(t *testing.T) {
	t.Parallel()
	p, other := oidctest.New(t), oidctest.New(t)
	a, _ := newTestAuthenticator(t, legacyOptions(t, p), true)
	mustRefuse(t, a, other.IDToken(other.User))
	if got := counter(t, a, "results", resultUnknownIssuer); got != 1 {
		t.Errorf("unknown_issuer = %v, want 1", got)
	}
	for _, tok := range []string{"a.b.c", "x", "..", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2ln"} {
		mustRefuse(t, a, tok)
	}
	if got := counter(t, a, "results", resultInvalidToken); got != 4 {
		t.Errorf("invalid_token = %v, want 4", got)
	}
	if err := mustRefuse(t, a, ""); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: err = %v, want ErrNoToken", err)
	}
}

func TestAuthenticateToken_CallersCannotChangeCachedIdentity(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	a, _ := newTestAuthenticator(t, legacyOptions(t, p), true)
	tok := p.IDToken(p.User)
	_, groups, _, _ := mustAuthenticate(t, a, tok)
	groups[0] = "changed-by-caller"
	_, groups, _, _ = mustAuthenticate(t, a, tok) // cache hit
	if !slices.Equal(groups, []string{"developers"}) {
		t.Fatalf("cached groups = %q after a caller modified its copy", groups)
	}
}

func TestNew_MetricsOnTheGivenRegistry(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	if _, err := New(ctx, legacyOptions(t, p), reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	for _, want := range []string{
		"oidc_proxy_authentication_attempts_total",
		"oidc_proxy_authentication_token_cache_requests_total",
		"oidc_proxy_authentication_config_reloads_total",
		"oidc_proxy_authentication_ready",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("metric %s not registered; have %v", want, names)
		}
	}
	// A second authenticator on the same registry is an error, not a panic.
	if _, err := New(ctx, legacyOptions(t, p), reg); err == nil {
		t.Error("New registered its metrics twice on one registry without error")
	}
}

// TestAuthenticateToken_RefusesNonCanonicalIdentityValues: a claim value
// that HTTP would alter on its way to kube-apiserver (padding, control
// characters) is refused with a ForbiddenIdentityError naming the identity
// field and the claim it came from, whatever AllowSystemIdentities says, and
// is never cached.
func TestAuthenticateToken_RefusesNonCanonicalIdentityValues(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	legacy := legacyOptions(t, p)
	legacy.UsernamePrefix = "-"
	path := filepath.Join(t.TempDir(), "authn.yaml")
	writeConfig(t, path, authConfig("apiserver.config.k8s.io/v1", celJWT(p)))
	cel := NewOptions()
	cel.AuthenticationConfigFile = path

	withUser := func(mod func(*oidctest.User)) oidctest.User {
		u := p.User
		u.Groups = []string{"developers"}
		u.Extra = map[string]any{"tenant": "blue"}
		mod(&u)
		return u
	}
	tests := []struct {
		name  string
		cel   bool
		user  oidctest.User
		wants []string // in the reason
	}{
		{name: "leading space before system:", user: withUser(func(u *oidctest.User) { u.Subject = " system:masters" }),
			wants: []string{`username`, `claim "sub"`, `" system:masters"`, "starts with white space"}},
		{name: "tab before system: in a group", user: withUser(func(u *oidctest.User) { u.Groups = []string{"dev", "\tsystem:nodes"} }),
			wants: []string{`group`, `claim "groups"`, `"\tsystem:nodes"`, "control character"}},
		{name: "trailing space", user: withUser(func(u *oidctest.User) { u.Subject = "admin " }),
			wants: []string{`claim "sub"`, "ends with white space"}},
		{name: "NUL", user: withUser(func(u *oidctest.User) { u.Subject = "adm\x00in" }),
			wants: []string{`claim "sub"`, "U+0000"}},
		{name: "CRLF header injection in a group", user: withUser(func(u *oidctest.User) { u.Groups = []string{"dev\r\nImpersonate-Group: system:masters"} }),
			wants: []string{`claim "groups"`, "U+000D"}},
		{name: "Unicode no-break space", user: withUser(func(u *oidctest.User) { u.Groups = []string{"\u00a0system:masters"} }),
			wants: []string{`claim "groups"`, "starts with white space"}},
		{name: "CEL username", cel: true, user: withUser(func(u *oidctest.User) { u.Email = "alice@example.com " }),
			wants: []string{`username`, `expression "\"cel:\" + claims.email"`, "ends with white space"}},
		{name: "CEL uid", cel: true, user: withUser(func(u *oidctest.User) { u.Subject = "u-1\n" }),
			wants: []string{`uid`, `expression "claims.sub"`, "U+000A"}},
		{name: "CEL extra value", cel: true, user: withUser(func(u *oidctest.User) { u.Extra = map[string]any{"tenant": " blue"} }),
			wants: []string{`extra value of "example.com/tenant"`, `expression "claims.tenant"`, "starts with white space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, allowSystem := range []bool{false, true} {
				o := *legacy
				if tt.cel {
					o = *cel
				}
				o.AllowSystemIdentities = allowSystem
				a, _ := newTestAuthenticator(t, &o, true)
				for range 2 { // refused again: never cached
					err := mustRefuse(t, a, p.IDToken(tt.user))
					f, ok := isForbidden(err)
					if !ok {
						t.Fatalf("allowSystem=%v: err = %v, want a ForbiddenIdentityError", allowSystem, err)
					}
					for _, w := range tt.wants {
						if !strings.Contains(f.Reason, w) {
							t.Errorf("allowSystem=%v: reason %q lacks %q", allowSystem, f.Reason, w)
						}
					}
				}
				if got := counter(t, a, "results", resultForbiddenIdentity); got != 2 {
					t.Errorf("forbidden_identity count = %v, want 2", got)
				}
			}
		})
	}
}

func TestClaimsIssuer(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	a, _ := newTestAuthenticator(t, legacyOptions(t, p), false)
	expired := p.IDToken(p.User, func(c map[string]any) { c["exp"] = 1 })
	other := p.IDToken(p.User, func(c map[string]any) { c["iss"] = "https://kubernetes.default.svc" })
	for token, want := range map[string]bool{
		p.IDToken(p.User): true,
		expired:           true, // still this issuer's to refuse
		other:             false,
		"opaque-token":    false,
		"a.b.c":           false,
		"":                false,
	} {
		if got := a.ClaimsIssuer(token); got != want {
			t.Errorf("ClaimsIssuer(%.40q) = %v, want %v", token, got, want)
		}
	}
}

// The resource-indicator audience method hands kubectl an RFC 9068 access
// token (typ at+jwt) whose aud is the cluster's resource URI: the proxy
// accepts it as kube-apiserver's JWT authenticator does, and refuses the
// other cluster's.
func TestAuthenticateToken_AcceptsJWTAccessTokensOfItsResource(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	const resource = "https://prod.k8s.example.com"
	o := legacyOptions(t, p)
	o.ClientID = resource
	o.UsernameClaim = "sub"
	a, _ := newTestAuthenticator(t, o, true)
	if name, _, _, _ := mustAuthenticate(t, a, p.ResourceAccessToken(p.User, []string{resource})); name != p.Issuer+"#"+p.User.Subject {
		t.Fatalf("access token of the resource: username %q", name)
	}
	mustRefuse(t, a, p.ResourceAccessToken(p.User, []string{"https://staging.k8s.example.com"}))
}
