package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// SourceResourceIndicator: the token is an access token the provider issued
// for the cluster's audience as an RFC 8707 resource.
const SourceResourceIndicator = "resource-indicator"

// resourceIndicator returns an access token of o.Audience by RFC 8707
// resource indicators. The session signs in with one resource parameter per
// audience granted (entry.Resources); a token request with resource=AUD,
// the code exchange of that sign-in or a later refresh, gives an access
// token in JWT form (RFC 9068) whose aud is AUD.
func (s *session) resourceIndicator(ctx context.Context, m mode) (*Token, error) {
	return s.grantedAudience(ctx, m, audienceGrant{
		granted: func(e tokencache.Entry) []string { return e.Resources },
		narrow:  s.narrowResource,
		login:   s.loginForResources,
	})
}

// loginForResources signs in with the browser asking for the resources
// auds (and offline_access: the other audiences are obtained by refresh),
// exchanges the code for an access token of o.Audience, and saves the
// session's entry with the resources granted and the cluster's token. A
// token that fails verification saves neither.
func (s *session) loginForResources(ctx context.Context, auds []string) (*Token, error) {
	vt, err := s.signIn(ctx, func(p *idp, grant string) (*idp, error) {
		if grant != GrantAuthCode && grant != GrantAuthCodeKeyboard {
			return nil, fmt.Errorf("--oidc-audience-method=%s signs in with the browser: use --grant-type=authcode or authcode-keyboard (the %s grant carries no resource indicators)", AudienceMethodResourceIndicator, grant)
		}
		withResources := *p
		withResources.config.Scopes = s.offlineScopes()
		var err error
		if withResources.config.Endpoint.AuthURL, err = withQueryValues(p.config.Endpoint.AuthURL, "resource", auds); err != nil {
			return nil, err
		}
		withResources.codeTokenOpts = []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("resource", s.o.Audience)}
		return &withResources, nil
	})
	if err != nil {
		return nil, err
	}
	if vt.raw.RefreshToken == "" {
		return nil, fmt.Errorf("the provider sent no refresh token: the %s method obtains the other clusters' tokens by refresh (does the client %s get offline_access?)", AudienceMethodResourceIndicator, s.o.ClientID)
	}
	claims, exp, err := s.verifyResourceToken(ctx, s.idp, vt.raw.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("sign-in for resource %s: %w", s.o.Audience, err)
	}
	e := tokencache.Entry{
		IDToken: vt.idToken, RefreshToken: vt.raw.RefreshToken, Expiry: vt.idExp,
		IssuerURL: s.o.IssuerURL, ClientID: s.o.ClientID, Resources: auds,
	}
	if err := s.store.Save(ctx, s.key, e); err != nil {
		s.printf("warning: could not cache the session (%v); the next command signs in again\n", err)
	}
	return s.saveAudience(ctx, resourceEntry(vt.raw.AccessToken, exp), claims, SourceResourceIndicator), nil
}

// narrowResource refreshes the session's entry with resource=o.Audience,
// verifies the access token, caches it per audience and keeps the
// session's (possibly rotated) refresh token.
func (s *session) narrowResource(ctx context.Context, e tokencache.Entry) (*Token, error) {
	return s.refreshFor(ctx, e, "resource "+s.o.Audience, url.Values{"resource": {s.o.Audience}}, SourceResourceIndicator,
		func(ctx context.Context, p *idp, answer *tokenAnswer) (tokencache.Entry, map[string]any, error) {
			claims, exp, err := s.verifyResourceToken(ctx, p, answer.AccessToken)
			return resourceEntry(answer.AccessToken, exp), claims, err
		})
}

func resourceEntry(accessToken string, exp time.Time) tokencache.Entry {
	return tokencache.Entry{AccessToken: accessToken, TokenType: "Bearer", Expiry: exp}
}

// verifyResourceToken verifies raw, the access token issued for the
// resource o.Audience, as strictly as the ID token of any other audience
// method: a JWT (RFC 9068) signed by a key of the issuer's JWKS, of the
// issuer, not expired (go-oidc), whose aud is o.Audience and nothing else
// (a token another cluster, or one accepting the login client, would also
// take is refused) and whose client_id and azp, if any, are the client.
func (s *session) verifyResourceToken(ctx context.Context, p *idp, raw string) (map[string]any, time.Time, error) {
	if raw == "" {
		return nil, time.Time{}, errors.New("the answer holds no access token")
	}
	t, err := p.provider.Verifier(&oidc.Config{ClientID: s.o.Audience, Now: s.env.now}).Verify(withClient(ctx, p.client), raw)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("verify the access token as a JWT of the issuer for audience %s (RFC 9068): %w", s.o.Audience, err)
	}
	for _, a := range t.Audience {
		if a != s.o.Audience {
			return nil, time.Time{}, fmt.Errorf("the access token is also for audience %q, not only %s", a, s.o.Audience)
		}
	}
	var claims map[string]any
	if err := t.Claims(&claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("claims: %w", err)
	}
	for _, name := range []string{"client_id", "azp"} {
		if v, ok := claims[name]; ok && v != s.o.ClientID {
			return nil, time.Time{}, fmt.Errorf("the access token's %s is %v, not the client %s", name, v, s.o.ClientID)
		}
	}
	return claims, t.Expiry, nil
}

// withQueryValues adds values of name to the query of the URL raw (the
// authorization endpoint, to which the flows add their own parameters):
// how one authorization request carries several values of a parameter.
func withQueryValues(raw, name string, values []string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("authorization endpoint %q: %w", raw, err)
	}
	q := u.Query()
	q[name] = append(q[name], values...)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
