package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// Audience methods (--oidc-audience-method): how get-token obtains an ID
// token of the cluster's audience from the session.
const (
	// AudienceMethodTokenExchange exchanges the session's ID token (RFC 8693).
	AudienceMethodTokenExchange = "token-exchange"
	// AudienceMethodDexCrossClient asks Dex for the cluster client's
	// cross-client scope at login and narrows to it at refresh.
	AudienceMethodDexCrossClient = "dex-cross-client"
	// AudienceMethodResourceIndicator asks for the cluster's audience as an
	// RFC 8707 resource at login and for an access token (RFC 9068 JWT) of
	// it at the token endpoint.
	AudienceMethodResourceIndicator = "resource-indicator"
)

// AudienceMethods are the values --oidc-audience-method accepts.
var AudienceMethods = []string{AudienceMethodTokenExchange, AudienceMethodDexCrossClient, AudienceMethodResourceIndicator}

// SourceCrossClient: the token was narrowed to the cluster's audience by a
// refresh with Dex's cross-client scope.
const SourceCrossClient = "cross-client"

// crossClientScope is Dex's scope for an ID token whose aud holds peer.
func crossClientScope(peer string) string { return "audience:server:client_id:" + peer }

// crossClient returns an ID token of o.Audience by Dex's cross-client
// trust. The session's refresh token is granted a set of audiences at login
// (entry.Audiences); a refresh whose scope names one of them gives an ID
// token of that audience (aud: it and the client, azp: the client).
func (s *session) crossClient(ctx context.Context, m mode) (*Token, error) {
	return s.grantedAudience(ctx, m, audienceGrant{
		granted: func(e tokencache.Entry) []string { return e.Audiences },
		narrow:  s.narrow,
		login: func(ctx context.Context, auds []string) (*Token, error) {
			e, err := s.loginFor(ctx, auds)
			if err != nil {
				return nil, err
			}
			return s.narrow(ctx, e)
		},
	})
}

// audienceGrant is a method whose login grants the session's refresh token
// a set of cluster audiences and whose refresh narrows to one of them.
type audienceGrant struct {
	// granted is the set an entry's refresh token was granted.
	granted func(tokencache.Entry) []string
	// narrow obtains the token of o.Audience by refreshing the entry.
	narrow func(context.Context, tokencache.Entry) (*Token, error)
	// login signs in for auds, saves the session's entry and returns the
	// token of o.Audience.
	login func(ctx context.Context, auds []string) (*Token, error)
}

// grantedAudience returns the token of o.Audience by g: narrowed from the
// session when its refresh token was granted o.Audience, else after one
// sign-in for the audiences granted so far, o.Audience and
// o.LoginAudiences.
func (s *session) grantedAudience(ctx context.Context, m mode, g audienceGrant) (*Token, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var granted []string
	var refreshErr error
	if e, ok := s.load(ctx); ok {
		granted = g.granted(e)
		if m == modeGet && e.RefreshToken != "" && slices.Contains(granted, s.o.Audience) {
			t, err := g.narrow(ctx, e)
			if err == nil {
				return t, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			refreshErr = err
		}
	}
	if !s.ui.Interactive && needsPerson(&s.o) {
		if refreshErr != nil {
			return nil, fmt.Errorf("%w (refreshing for audience %s failed: %v)", ErrInteractionRequired, s.o.Audience, refreshErr)
		}
		return nil, ErrInteractionRequired
	}
	if refreshErr != nil {
		s.printf("refreshing for audience %s failed (%v); signing in again\n", s.o.Audience, refreshErr)
	}
	auds := slices.Clone(granted)
	for _, a := range append([]string{s.o.Audience}, s.o.LoginAudiences...) {
		if a != "" && a != s.o.ClientID && !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
	}
	return g.login(ctx, auds)
}

// loginFor signs in asking for the cross-client scopes of auds (and
// offline_access: narrowing needs the refresh token) and saves the
// session's entry with the audiences granted.
func (s *session) loginFor(ctx context.Context, auds []string) (tokencache.Entry, error) {
	vt, err := s.signIn(ctx, func(p *idp, _ string) (*idp, error) {
		withScopes := *p
		withScopes.config.Scopes = s.crossClientScopes(auds)
		return &withScopes, nil
	})
	if err != nil {
		return tokencache.Entry{}, err
	}
	if vt.raw.RefreshToken == "" {
		return tokencache.Entry{}, fmt.Errorf("the provider sent no refresh token: the %s method narrows the login's token to one audience by refresh (does the client %s get offline_access?)", AudienceMethodDexCrossClient, s.o.ClientID)
	}
	e := tokencache.Entry{
		IDToken: vt.idToken, RefreshToken: vt.raw.RefreshToken, Expiry: vt.idExp,
		IssuerURL: s.o.IssuerURL, ClientID: s.o.ClientID, Audiences: auds,
	}
	if err := s.store.Save(ctx, s.key, e); err != nil {
		s.printf("warning: could not cache the session (%v); the next command signs in again\n", err)
	}
	return e, nil
}

// crossClientScopes are the login's scopes, offline_access and one
// cross-client scope per audience.
func (s *session) crossClientScopes(auds []string) []string {
	out := s.offlineScopes()
	for _, a := range auds {
		out = append(out, crossClientScope(a))
	}
	return out
}

// offlineScopes are the login's scopes and offline_access: the methods
// that narrow the session to one audience by refresh need the refresh token.
func (s *session) offlineScopes() []string {
	out := s.o.scopes()
	if !slices.Contains(out, "offline_access") {
		out = append(out, "offline_access")
	}
	return out
}

// narrow refreshes the session's entry with a scope that names only
// o.Audience among the granted audiences, checks that the ID token is of
// that audience and authorised by this client, caches it per audience and
// keeps the session's (possibly rotated) refresh token.
func (s *session) narrow(ctx context.Context, e tokencache.Entry) (*Token, error) {
	scope := url.Values{"scope": {strings.Join(s.crossClientScopes([]string{s.o.Audience}), " ")}}
	return s.refreshFor(ctx, e, "audience "+s.o.Audience, scope, SourceCrossClient,
		func(ctx context.Context, p *idp, answer *tokenAnswer) (tokencache.Entry, map[string]any, error) {
			if answer.IDToken == "" {
				return tokencache.Entry{}, nil, errors.New("the answer holds no ID token")
			}
			claims, idt, err := s.verifyAudience(ctx, p, answer.IDToken)
			if err != nil {
				return tokencache.Entry{}, nil, err
			}
			return tokencache.Entry{IDToken: answer.IDToken, Expiry: idt.Expiry}, claims, nil
		})
}

// refreshFor refreshes the session's entry e with the extra form values
// that narrow it to the cluster's audience (named by what), within
// --authentication-timeout; check verifies the answer and returns the
// audience's entry and its claims, which are cached per audience. The
// session keeps its (possibly rotated) refresh token.
func (s *session) refreshFor(ctx context.Context, e tokencache.Entry, what string, extra url.Values, source string,
	check func(context.Context, *idp, *tokenAnswer) (tokencache.Entry, map[string]any, error)) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.AuthenticationTimeout)
	defer cancel()
	p, err := s.provider(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.RefreshToken}}
	for k, v := range extra {
		form[k] = v
	}
	answer, err := s.postToken(ctx, p, form)
	if err != nil {
		return nil, fmt.Errorf("refresh for %s: %w", what, err)
	}
	ae, claims, err := check(ctx, p, answer)
	if err != nil {
		return nil, fmt.Errorf("refresh for %s: %w", what, err)
	}
	s.keepRotated(ctx, e, answer.RefreshToken)
	return s.saveAudience(ctx, ae, claims, source), nil
}

// keepRotated saves the session's entry e with the refresh token rotated
// (the one the provider answered a refresh of e with), if it sent one; the
// entry keeps everything else, the grant's audiences included.
func (s *session) keepRotated(ctx context.Context, e tokencache.Entry, rotated string) {
	if rotated == "" || rotated == e.RefreshToken {
		return
	}
	e.RefreshToken = rotated
	if err := s.store.Save(ctx, s.key, e); err != nil {
		s.printf("warning: could not cache the rotated refresh token (%v)\n", err)
	}
}

// verifyAudience verifies raw as an ID token of the issuer for o.Audience
// (go-oidc: signature, issuer, aud holds it, expiry) and then that its aud
// holds nothing but o.Audience and the client and its azp, if any, is the
// client: a token another cluster would also accept is refused.
func (s *session) verifyAudience(ctx context.Context, p *idp, raw string) (map[string]any, *oidc.IDToken, error) {
	idt, err := p.provider.Verifier(&oidc.Config{ClientID: s.o.Audience, Now: s.env.now}).Verify(withClient(ctx, p.client), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verify the ID token: %w", err)
	}
	for _, a := range idt.Audience {
		if a != s.o.Audience && a != s.o.ClientID {
			return nil, nil, fmt.Errorf("the ID token is also for audience %q, not only %s", a, s.o.Audience)
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	if azp, ok := claims["azp"]; ok && azp != s.o.ClientID {
		return nil, nil, fmt.Errorf("the ID token's azp is %v, not the client %s", azp, s.o.ClientID)
	}
	return claims, idt, nil
}
