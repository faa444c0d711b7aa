package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// RFC 8693 names.
const (
	tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	idTokenType        = "urn:ietf:params:oauth:token-type:id_token"
)

// exchange trades the session's ID token for an ID token of o.Audience at
// the provider's token endpoint (OAuth 2.0 Token Exchange, RFC 8693),
// verifies it for that audience and caches it under the audience key. No
// person is involved: one login serves every cluster of the issuer, and
// each cluster gets a token only it accepts.
func (s *session) exchange(ctx context.Context, base *Token) (*Token, error) {
	subject := base.Token
	if subject == "" {
		return nil, errors.New("token exchange: the session has no ID token to exchange")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.AuthenticationTimeout)
	defer cancel()
	p, err := s.provider(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":           {tokenExchangeGrant},
		"subject_token":        {subject},
		"subject_token_type":   {idTokenType},
		"requested_token_type": {idTokenType},
		"audience":             {s.o.Audience},
	}
	answer, err := s.postToken(ctx, p, form)
	if te := (*tokenError)(nil); errors.As(err, &te) {
		return nil, fmt.Errorf("token exchange for audience %s: %w (does it allow client %s to exchange for this audience?)", s.o.Audience, err, s.o.ClientID)
	}
	if err != nil {
		return nil, fmt.Errorf("token exchange for audience %s: %w", s.o.Audience, err)
	}
	raw := answer.IDToken
	if raw == "" && answer.IssuedTokenType == idTokenType {
		raw = answer.AccessToken // RFC 8693 returns the issued token in access_token
	}
	if raw == "" {
		return nil, fmt.Errorf("token exchange for audience %s: the answer holds no ID token (issued_token_type %q)", s.o.Audience, answer.IssuedTokenType)
	}
	idt, err := p.provider.Verifier(&oidc.Config{ClientID: s.o.Audience, Now: s.env.now}).Verify(withClient(ctx, p.client), raw)
	if err != nil {
		return nil, fmt.Errorf("token exchange for audience %s: verify the ID token: %w", s.o.Audience, err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("token exchange: claims: %w", err)
	}
	return s.saveAudience(ctx, tokencache.Entry{IDToken: raw, Expiry: idt.Expiry}, claims, SourceExchange), nil
}
