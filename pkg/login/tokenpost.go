package login

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// tokenAnswer is what the token endpoint answers to the requests that
// pkg/login sends itself (refresh for an audience, token exchange): the
// fields of RFC 6749 §5.1 and §5.2 and RFC 8693 §2.2.1 that get-token uses.
type tokenAnswer struct {
	AccessToken     string `json:"access_token"`
	IDToken         string `json:"id_token"`
	RefreshToken    string `json:"refresh_token"`
	IssuedTokenType string `json:"issued_token_type"`
	Error           string `json:"error"`
	Description     string `json:"error_description"`
}

// postToken sends form to the provider's token endpoint with the client's
// credentials (client_id in the form for a public client, HTTP Basic with
// the secret otherwise) and decodes the answer; an answer that is not a 200
// or carries an error is a *tokenError.
func (s *session) postToken(ctx context.Context, p *idp, form url.Values) (*tokenAnswer, error) {
	if s.o.ClientSecret == "" {
		form.Set("client_id", s.o.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.config.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.o.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(s.o.ClientID), url.QueryEscape(s.o.ClientSecret))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, describeTLSError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var a tokenAnswer
	if json.Unmarshal(body, &a) != nil {
		return nil, fmt.Errorf("the provider answered %s with no JSON", resp.Status)
	}
	if resp.StatusCode != http.StatusOK || a.Error != "" {
		return nil, &tokenError{Status: resp.Status, Code: a.Error, Description: a.Description}
	}
	return &a, nil
}

// tokenError is the token endpoint's refusal (RFC 6749 §5.2).
type tokenError struct {
	Status      string // the HTTP status line, "400 Bad Request"
	Code        string // error, "invalid_grant"
	Description string // error_description
}

func (e *tokenError) Error() string {
	if e.Status == "200 OK" {
		return e.Code
	}
	return fmt.Sprintf("the provider answered %s: %s %s", e.Status, e.Code, e.Description)
}
