package login

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// env is what the package takes from the machine; tests replace it.
type env struct {
	now    func() time.Time
	getenv func(string) string
	goos   string
}

func systemEnv() env { return env{now: time.Now, getenv: os.Getenv, goos: runtime.GOOS} }

type mode int

const (
	modeGet   mode = iota // cache, refresh, login
	modeLogin             // login only
)

// Token sources.
const (
	SourceCache   = "cache"
	SourceRefresh = "refresh"
	SourceLogin   = "login"
)

// session is one Get, Login, Cached or Logout call.
type session struct {
	o   Options
	ui  UI
	env env
	ca  []byte
	key tokencache.Key
	// audKey is the cache key of the exchanged token (with o.exchanging()).
	audKey tokencache.Key
	dir    string
	store  tokencache.Storage
	// loadFailed: the cache entry exists but could not be read (so it is
	// not replaced by kubelogin's).
	loadFailed bool

	client *http.Client // nil until the first network call
	idp    *idp         // nil until discovery

	secretsOnce sync.Once // keyringSecrets
	secretsErr  error

	outMu  sync.Mutex
	inOnce sync.Once
	in     *bufio.Reader
}

// newSession validates o (fully, or only the cache options for logout
// --all) and opens the token cache. It makes no network call.
func newSession(ctx context.Context, o Options, ui UI, e env, full bool) (*session, error) {
	if full {
		if err := o.Validate(); err != nil {
			return nil, err
		}
	} else if err := o.validateCache(); err != nil {
		return nil, err
	}
	if ui.Err == nil {
		ui.Err = io.Discard
	}
	s := &session{o: o, ui: ui, env: e}
	ca, err := o.caBundle()
	if err != nil {
		return nil, err
	}
	s.ca = ca
	s.key = o.cacheKey(ca)
	s.audKey = o.audienceKey(ca)
	s.dir = o.TokenCacheDir
	if s.dir == "" && o.TokenCacheStorage != tokencache.KindNone {
		if s.dir, err = tokencache.DefaultDir(); err != nil {
			return nil, err
		}
	}
	if s.store, err = tokencache.New(ctx, o.TokenCacheStorage, s.dir, ui.Err); err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	return s, nil
}

// printf writes a message for the person to stderr. Every argument goes
// through termsafe: they carry the provider's strings (URLs, user codes,
// error messages), which must not reach the terminal as escape sequences.
// The format is the program's own.
func (s *session) printf(format string, args ...any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	termsafe.Fprintf(s.ui.Err, format, args...)
}

func (s *session) httpClient() (*http.Client, error) {
	if s.client == nil {
		c, err := newHTTPClient(httpClientOptions{
			ca: s.ca, insecure: s.o.InsecureSkipTLSVerify, verbosity: s.o.Verbosity, log: s.ui.Err,
			timeout: s.o.RequestTimeout, notice: s.o.RequestNotice,
			headers: s.o.RequestHeaders, renegotiation: s.o.TLSRenegotiation,
			onSlow: func(host string) {
				s.printf("waiting for the identity provider at %s: no answer for %s (giving up after %s, --oidc-request-timeout)\n", host, s.o.RequestNotice, s.o.RequestTimeout)
			},
		})
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

// provider discovers the identity provider on first use.
func (s *session) provider(ctx context.Context) (*idp, error) {
	if s.idp != nil {
		return s.idp, nil
	}
	if err := s.keyringSecrets(); err != nil {
		return nil, err
	}
	c, err := s.httpClient()
	if err != nil {
		return nil, err
	}
	p, err := discover(ctx, c, &s.o, s.env.now)
	if err != nil {
		return nil, err
	}
	s.idp = p
	return p, nil
}

// lock takes the per-key cache lock (no lock without a cache).
func (s *session) lock(ctx context.Context) (func(), error) {
	if s.store.Name() == tokencache.KindNone {
		return func() {}, nil
	}
	unlock, err := tokencache.Lock(ctx, s.dir, s.key, s.o.AuthenticationTimeout, func(line string) { s.printf("%s\n", line) })
	if err != nil {
		return nil, err
	}
	return func() {
		if err := unlock(); err != nil {
			s.printf("warning: %v\n", err)
		}
	}, nil
}

// load reads the cache entry; a damaged or unreadable one is a miss with a warning.
func (s *session) load(ctx context.Context) (tokencache.Entry, bool) {
	e, err := s.store.Load(ctx, s.key)
	switch {
	case err == nil:
		return e, true
	case errors.Is(err, tokencache.ErrNotFound):
		return tokencache.Entry{}, false
	default:
		s.loadFailed = true
		s.printf("warning: ignoring the cached token: %v\n", err)
		return tokencache.Entry{}, false
	}
}

func (s *session) tokenOf(e tokencache.Entry) string {
	if s.o.UseAccessToken {
		return e.AccessToken
	}
	return e.IDToken
}

// fresh: the entry's token is still valid for at least ExpirySkew.
func (s *session) fresh(e tokencache.Entry) bool {
	return s.tokenOf(e) != "" && !e.Expiry.IsZero() && s.env.now().Add(s.o.ExpirySkew).Before(e.Expiry)
}

// audienceTokenOf is the token of a cluster audience's entry: the JWT
// access token with the resource-indicator method, else the ID token.
func (s *session) audienceTokenOf(e tokencache.Entry) string {
	if s.o.AudienceMethod == AudienceMethodResourceIndicator {
		return e.AccessToken
	}
	return e.IDToken
}

// fromAudienceEntry builds the Token of a cluster audience's entry (expired
// allowed: check Expiry). Its token was verified before it was cached, so
// its claims are only decoded.
func (s *session) fromAudienceEntry(e tokencache.Entry) (*Token, error) {
	raw := s.audienceTokenOf(e)
	if raw == "" {
		return nil, ErrNotLoggedIn
	}
	c, err := decodeClaims(raw)
	if err != nil {
		return nil, fmt.Errorf("cached token of audience %s: %w", s.o.Audience, err)
	}
	return &Token{Token: raw, Expiry: e.Expiry, IDTokenClaims: c, Source: SourceCache}, nil
}

// saveAudience caches e, the verified token of the cluster's audience
// (claims are its claims), under the audience key and returns it.
func (s *session) saveAudience(ctx context.Context, e tokencache.Entry, claims map[string]any, source string) *Token {
	e.IssuerURL, e.ClientID = s.o.IssuerURL, s.o.Audience
	if err := s.store.Save(ctx, s.audKey, e); err != nil {
		s.printf("warning: could not cache the token for audience %s (%v)\n", s.o.Audience, err)
	}
	return &Token{Token: s.audienceTokenOf(e), Expiry: e.Expiry, IDTokenClaims: claims, Source: source}
}

// fromEntry builds the Token of a cache entry. The ID token was verified
// before it was cached, so its claims are only decoded.
func (s *session) fromEntry(e tokencache.Entry) (*Token, error) {
	t := &Token{Token: s.tokenOf(e), Expiry: e.Expiry, Source: SourceCache}
	if e.IDToken != "" {
		c, err := decodeClaims(e.IDToken)
		if err != nil {
			return nil, fmt.Errorf("cached ID token: %w", err)
		}
		t.IDTokenClaims = c
	}
	return t, nil
}

func get(ctx context.Context, o Options, ui UI, e env, m mode) (*Token, error) {
	s, err := newSession(ctx, o, ui, e, true)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, m)
}

// SourceExchange: the token was obtained by token exchange.
const SourceExchange = "exchange"

// get returns a token: the session's own (getSession), or with an audience
// to exchange for, a cached token of that audience, else one exchanged from
// the session's own token (which may refresh or log in first).
func (s *session) get(ctx context.Context, m mode) (*Token, error) {
	if !s.o.exchanging() {
		return s.getSession(ctx, m)
	}
	if m == modeGet && !s.o.ForceRefresh {
		if e, err := s.store.Load(ctx, s.audKey); err == nil {
			t, err := s.fromAudienceEntry(e)
			if err == nil && !t.Expiry.IsZero() && s.env.now().Add(s.o.ExpirySkew).Before(t.Expiry) {
				return t, nil
			}
		}
	}
	switch s.o.AudienceMethod {
	case AudienceMethodDexCrossClient:
		return s.crossClient(ctx, m)
	case AudienceMethodResourceIndicator:
		return s.resourceIndicator(ctx, m)
	}
	base, err := s.getSession(ctx, m)
	if err != nil {
		return nil, err
	}
	return s.exchange(ctx, base)
}

func (s *session) getSession(ctx context.Context, m mode) (*Token, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var refreshErr error
	if m == modeGet {
		e, ok := s.load(ctx)
		if !ok && !s.loadFailed {
			e, ok = s.importKubelogin(ctx)
		}
		if ok {
			if !s.o.ForceRefresh && s.fresh(e) {
				t, err := s.fromEntry(e)
				if err == nil {
					return t, nil
				}
				s.printf("warning: ignoring the cached token: %v\n", err)
			}
			if e.RefreshToken != "" {
				t, err := s.refresh(ctx, e)
				if err == nil {
					return t, nil
				}
				if ctx.Err() != nil {
					return nil, err
				}
				refreshErr = err
			}
		}
	}
	if !s.ui.Interactive && needsPerson(&s.o) {
		if refreshErr != nil {
			return nil, fmt.Errorf("%w (refreshing the cached token failed: %v)", ErrInteractionRequired, refreshErr)
		}
		return nil, ErrInteractionRequired
	}
	if refreshErr != nil {
		s.printf("refreshing the cached token failed (%v); signing in again\n", refreshErr)
	}
	return s.login(ctx)
}

// refresh uses the entry's refresh token and saves the result (with the
// rotated refresh token, if the provider sent one).
func (s *session) refresh(ctx context.Context, e tokencache.Entry) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.AuthenticationTimeout)
	defer cancel()
	p, err := s.provider(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := p.config.TokenSource(withClient(ctx, p.client), &oauth2.Token{RefreshToken: e.RefreshToken}).Token()
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", describeTLSError(err))
	}
	vt, err := p.verify(ctx, tok, "", s.o.UseAccessToken)
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return s.save(ctx, vt, SourceRefresh, &e)
}

// login signs in with the chosen grant, within --authentication-timeout.
func (s *session) login(ctx context.Context) (*Token, error) {
	vt, err := s.signIn(ctx, nil)
	if err != nil {
		return nil, err
	}
	return s.save(ctx, vt, SourceLogin, nil)
}

// signIn runs the chosen grant within --authentication-timeout, with the
// provider as adapt returns it for that grant (the method's scopes or
// resources; nil: as discovered).
func (s *session) signIn(ctx context.Context, adapt func(p *idp, grant string) (*idp, error)) (*verifiedToken, error) {
	lctx, cancel := context.WithTimeout(ctx, s.o.AuthenticationTimeout)
	defer cancel()
	p, err := s.provider(lctx)
	if err != nil {
		return nil, s.timeoutError(ctx, lctx, err)
	}
	grant := chooseGrant(&s.o, s.ui, p.provider.Endpoint().DeviceAuthURL != "", s.env)
	if adapt != nil {
		if p, err = adapt(p, grant); err != nil {
			return nil, err
		}
	}
	vt, err := s.runGrant(lctx, p, grant)
	if err != nil {
		return nil, s.timeoutError(ctx, lctx, err)
	}
	return vt, nil
}

func (s *session) timeoutError(outer, inner context.Context, err error) error {
	if outer.Err() == nil && errors.Is(inner.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no sign-in completed within %s (--authentication-timeout): %w", s.o.AuthenticationTimeout, err)
	}
	return err
}

// save caches a verified token and returns it. A cache that cannot be
// written is a warning: the token is still good for this command.
// refreshed is the entry whose refresh token gave vt (nil after a login):
// the new entry keeps what that grant was given at login.
func (s *session) save(ctx context.Context, vt *verifiedToken, source string, refreshed *tokencache.Entry) (*Token, error) {
	e := tokencache.Entry{
		IDToken:      vt.idToken,
		RefreshToken: vt.raw.RefreshToken,
		IssuerURL:    s.o.IssuerURL,
		ClientID:     s.o.ClientID,
		Expiry:       vt.idExp,
	}
	if refreshed != nil {
		keepGrant(&e, *refreshed)
	}
	if s.o.UseAccessToken {
		if vt.raw.AccessToken == "" {
			return nil, errors.New("the provider's token response holds no access_token")
		}
		e.AccessToken = vt.raw.AccessToken
		e.TokenType = vt.raw.TokenType
		e.Expiry = accessTokenExpiry(vt.raw, s.env.now())
	}
	if err := s.store.Save(ctx, s.key, e); err != nil {
		s.printf("warning: could not cache the token (%v); the next command signs in again\n", err)
	}
	return &Token{Token: s.tokenOf(e), Expiry: e.Expiry, IDTokenClaims: vt.claims, Source: source}, nil
}

// keepGrant records in e what the refresh token of from was granted at
// login (Dex cross-client audiences, RFC 8707 resources). A refresh, by
// any path, keeps the grant, so every rewrite of the session's entry after
// a refresh keeps it.
func keepGrant(e *tokencache.Entry, from tokencache.Entry) {
	e.Audiences = from.Audiences
	e.Resources = from.Resources
}

func cached(ctx context.Context, o Options, ui UI, e env) (*Token, error) {
	s, err := newSession(ctx, o, ui, e, true)
	if err != nil {
		return nil, err
	}
	if s.o.exchanging() {
		entry, err := s.store.Load(ctx, s.audKey)
		if err != nil {
			return nil, ErrNotLoggedIn
		}
		t, err := s.fromAudienceEntry(entry)
		if errors.Is(err, ErrNotLoggedIn) {
			return nil, err
		}
		if err != nil {
			s.printf("warning: ignoring the cached token: %v\n", err)
			return nil, ErrNotLoggedIn
		}
		return t, nil
	}
	entry, err := s.store.Load(ctx, s.key)
	if err != nil || s.tokenOf(entry) == "" {
		return nil, ErrNotLoggedIn
	}
	t, err := s.fromEntry(entry)
	if err != nil {
		s.printf("warning: ignoring the cached token: %v\n", err)
		return nil, ErrNotLoggedIn
	}
	return t, nil
}
