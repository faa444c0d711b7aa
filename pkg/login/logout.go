package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

func logout(ctx context.Context, o Options, ui UI, e env, all bool) (int, error) {
	s, err := newSession(ctx, o, ui, e, !all)
	if err != nil {
		return 0, err
	}
	if all {
		entries, err := s.store.DeleteAll(ctx)
		for _, entry := range entries {
			s.revokeAndReport(ctx, entry)
		}
		if err != nil {
			return len(entries), fmt.Errorf("remove cached tokens: %w", err)
		}
		return len(entries), nil
	}

	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	entry, err := s.store.Load(ctx, s.key)
	found := err == nil || errors.Is(err, tokencache.ErrCorrupt)
	if err == nil {
		s.revokeAndReport(ctx, entry)
	}
	if err := s.store.Delete(ctx, s.key); err != nil {
		return 0, fmt.Errorf("remove cached token: %w", err)
	}
	if s.o.exchanging() {
		// The exchanged token of this cluster's audience goes with its session.
		if err := s.store.Delete(ctx, s.audKey); err != nil {
			return 0, fmt.Errorf("remove cached token of audience %s: %w", s.o.Audience, err)
		}
	}
	if found {
		return 1, nil
	}
	return 0, nil
}

func (s *session) revokeAndReport(ctx context.Context, e tokencache.Entry) {
	if e.RefreshToken == "" {
		return
	}
	if err := s.revoke(ctx, e); err != nil {
		s.printf("warning: could not revoke the refresh token at %s (%v); the cached entry is removed anyway\n", e.IssuerURL, err)
	}
}

// revoke revokes e's refresh token at its issuer's revocation_endpoint
// (RFC 7009); a provider without one is not an error.
func (s *session) revoke(ctx context.Context, e tokencache.Entry) error {
	if e.IssuerURL == "" {
		return errors.New("the cache entry does not name its issuer")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.AuthenticationTimeout)
	defer cancel()
	c, err := s.httpClient()
	if err != nil {
		return err
	}
	var endpoint string
	if s.idp != nil && e.IssuerURL == s.o.IssuerURL {
		endpoint = s.idp.meta.RevocationEndpoint
	} else {
		p, err := oidc.NewProvider(withClient(ctx, c), e.IssuerURL)
		if err != nil {
			return fmt.Errorf("discovery: %w", describeTLSError(err))
		}
		var meta discoveryExtras
		if err := p.Claims(&meta); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		endpoint = meta.RevocationEndpoint
	}
	if endpoint == "" {
		return nil
	}
	form := url.Values{"token": {e.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {e.ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The client secret is only known for the client of these options.
	if e.IssuerURL == s.o.IssuerURL && e.ClientID == s.o.ClientID && s.keyringSecrets() != nil {
		s.printf("warning: %v; revoking without the client secret\n", s.keyringSecrets())
	}
	if s.o.ClientSecret != "" && e.IssuerURL == s.o.IssuerURL && e.ClientID == s.o.ClientID {
		req.SetBasicAuth(url.QueryEscape(e.ClientID), url.QueryEscape(s.o.ClientSecret))
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("revocation request: %w", describeTLSError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
		return fmt.Errorf("revocation endpoint answered %s: %s %s", resp.Status, oe.Error, oe.Description)
	}
	return fmt.Errorf("revocation endpoint answered %s", resp.Status)
}
