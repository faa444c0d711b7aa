package oidctest

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Browse plays a person's browser: it GETs url and follows every redirect
// (the provider's authorize endpoint, then the client's loopback callback),
// trusting the provider's certificate. It returns the final page's body and
// fails on a non-2xx final answer.
func (p *Provider) Browse(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("browse %s: %w", url, err)
	}
	resp, err := p.HTTPClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("browse: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("browse: read body: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return string(body), fmt.Errorf("browse: %s answered %s: %s", resp.Request.URL, resp.Status, body)
	}
	return string(body), nil
}
