package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// idp is the identity provider as discovered: endpoints, the extra
// discovery fields the flows need, and the ID token verifier.
type idp struct {
	client   *http.Client
	provider *oidc.Provider
	meta     discoveryExtras
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	// codeTokenOpts are more parameters of the authorization code's token
	// request (RFC 8707 resource).
	codeTokenOpts []oauth2.AuthCodeOption
}

// discoveryExtras are discovery fields go-oidc does not expose.
type discoveryExtras struct {
	DeviceAuthorizationEndpoint   string   `json:"device_authorization_endpoint"`
	RevocationEndpoint            string   `json:"revocation_endpoint"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
}

// withClient returns ctx carrying the HTTP client for go-oidc and x/oauth2.
func withClient(ctx context.Context, c *http.Client) context.Context {
	ctx = oidc.ClientContext(ctx, c)
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// discover fetches the discovery document of issuer.
func discover(ctx context.Context, client *http.Client, o *Options, now func() time.Time) (*idp, error) {
	p, err := oidc.NewProvider(withClient(ctx, client), o.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", o.IssuerURL, describeTLSError(err))
	}
	var meta discoveryExtras
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", o.IssuerURL, err)
	}
	ep := p.Endpoint()
	if o.ClientSecret == "" {
		// A public client sends its ID in the form. x/oauth2's auto style
		// would first try HTTP basic auth with an empty secret, which
		// providers refuse, and then repeat every token request.
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &idp{
		client:   client,
		provider: p,
		meta:     meta,
		config: oauth2.Config{
			ClientID:     o.ClientID,
			ClientSecret: o.ClientSecret,
			Endpoint:     ep,
			Scopes:       o.scopes(),
		},
		verifier: p.Verifier(&oidc.Config{ClientID: o.ClientID, Now: now}),
	}, nil
}

func (p *idp) supportsS256() bool {
	return slices.Contains(p.meta.CodeChallengeMethodsSupported, "S256")
}

// verifiedToken is a token response whose ID token (if any) passed verification.
type verifiedToken struct {
	raw     *oauth2.Token
	idToken string
	claims  map[string]any
	idExp   time.Time
}

// verify checks the ID token of tok with go-oidc (signature, issuer,
// audience, expiry) and, when wantNonce is not empty, its nonce. A response
// without an ID token is an error unless idTokenOptional.
func (p *idp) verify(ctx context.Context, tok *oauth2.Token, wantNonce string, idTokenOptional bool) (*verifiedToken, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		if idTokenOptional {
			return &verifiedToken{raw: tok}, nil
		}
		return nil, errors.New("the provider's token response holds no id_token (is the openid scope allowed for this client? or use --oidc-use-access-token)")
	}
	idt, err := p.verifier.Verify(withClient(ctx, p.client), raw)
	if err != nil {
		return nil, fmt.Errorf("verify ID token: %w", describeTLSError(err))
	}
	if wantNonce != "" && idt.Nonce != wantNonce {
		return nil, errors.New("verify ID token: nonce does not match the one sent (possible replay); sign in again")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("verify ID token: claims: %w", err)
	}
	return &verifiedToken{raw: tok, idToken: raw, claims: claims, idExp: idt.Expiry}, nil
}

// unknownExpiryLifetime is how long an access token is taken to live when
// neither expires_in nor a JWT exp says so.
const unknownExpiryLifetime = 5 * time.Minute

// accessTokenExpiry is the expiry of an access token: from expires_in, else
// the exp claim when it is a JWT, else unknownExpiryLifetime from now.
func accessTokenExpiry(tok *oauth2.Token, now time.Time) time.Time {
	if !tok.Expiry.IsZero() {
		return tok.Expiry
	}
	if c, err := decodeClaims(tok.AccessToken); err == nil {
		if exp, ok := c["exp"].(float64); ok && exp > 0 {
			return time.Unix(int64(exp), 0)
		}
	}
	return now.Add(unknownExpiryLifetime)
}

// decodeClaims returns the payload of a JWT without checking it: only for
// tokens verified before they were cached, or for display.
func decodeClaims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("JWT payload is not base64url")
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errors.New("JWT payload is not a JSON object")
	}
	return c, nil
}
