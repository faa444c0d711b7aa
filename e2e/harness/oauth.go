package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Scopes a kubectl-oidc user asks Dex for.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "profile", "groups", oidc.ScopeOfflineAccess}

// OAuth2Config is the client configuration of clientID at Dex.
func (d *DexServer) OAuth2Config(clientID, redirectURL string) *oauth2.Config {
	secret := d.ClientSecret
	if clientID == DexOtherClientID {
		secret = d.OtherClientSecret
	}
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{AuthURL: d.Issuer + "/auth", TokenURL: d.Issuer + "/token", DeviceAuthURL: d.Issuer + "/device/code", AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  redirectURL,
		Scopes:       DefaultScopes,
	}
}

// ClientContext makes oauth2 and go-oidc talk to Dex over its CA.
func (d *DexServer) ClientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, d.HTTPClient())
}

// Verifier verifies Dex ID tokens for clientID, as a relying party would.
func (d *DexServer) Verifier(ctx context.Context, clientID string) (*oidc.IDTokenVerifier, error) {
	p, err := oidc.NewProvider(d.ClientContext(ctx), d.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", d.Issuer, err)
	}
	return p.Verifier(&oidc.Config{ClientID: clientID}), nil
}

// PasswordGrant gets tokens with the resource owner password grant
// (Dex's oauth2.passwordConnector: local).
func (d *DexServer) PasswordGrant(ctx context.Context, clientID, username, password string) (*oauth2.Token, error) {
	tok, err := d.OAuth2Config(clientID, "").PasswordCredentialsToken(d.ClientContext(ctx), username, password)
	if err != nil {
		return nil, fmt.Errorf("password grant: %w", err)
	}
	return tok, nil
}

// MockLogin logs in through the mockCallback connector (no form; the identity
// has groups) with authorization code + PKCE, following Dex's redirects with a
// plain HTTP client, and returns the tokens.
func (d *DexServer) MockLogin(ctx context.Context, t testing.TB) *oauth2.Token {
	t.Helper()
	cb := NewCallback(t)
	cfg := d.OAuth2Config(DexClientID, cb.URL)
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("mock-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("connector_id", DexMockConnector))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := d.HTTPClient()
	resp, err := client.Do(req)
	if err != nil {
		d.Fatalf(t, "mock login: %v", err)
	}
	resp.Body.Close()
	q, err := cb.Wait(ctx)
	if err != nil {
		d.Fatalf(t, "mock login: %v", err)
	}
	if q.Get("state") != "mock-state" || q.Get("code") == "" {
		d.Fatalf(t, "mock login: callback without code or with state %q (error %q)", q.Get("state"), q.Get("error"))
	}
	tok, err := cfg.Exchange(d.ClientContext(ctx), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		d.Fatalf(t, "mock login: exchange code: %v", err)
	}
	return tok
}

// IDToken is the id_token of an OAuth2 token response ("" when missing).
func IDToken(tok *oauth2.Token) string {
	s, _ := tok.Extra("id_token").(string)
	return s
}

// Callback is the client side of a loopback redirect URI: it records the
// query of the first request to /callback.
type Callback struct {
	// URL is http://localhost:PORT/callback (Dex allows any localhost port for
	// a public client).
	URL     string
	queries chan url.Values
}

// NewCallback listens on 127.0.0.1 until the test ends.
func NewCallback(t testing.TB) *Callback {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("callback listener: %v", err)
	}
	cb := &Callback{
		URL:     fmt.Sprintf("http://localhost:%d/callback", l.Addr().(*net.TCPAddr).Port),
		queries: make(chan url.Values, 1),
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case cb.queries <- r.URL.Query():
		default:
		}
		fmt.Fprintln(w, "e2e callback received")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return cb
}

// Wait returns the query of the first callback request.
func (c *Callback) Wait(ctx context.Context) (url.Values, error) {
	select {
	case q := <-c.queries:
		return q, nil
	case <-ctx.Done():
		return nil, errors.New("no request reached the redirect URI " + c.URL + ": " + ctx.Err().Error())
	}
}

// Received reports whether a request reached the redirect URI already.
func (c *Callback) Received() bool { return len(c.queries) > 0 }
