// Package legacytokens saves the tokens of users converted from the removed
// `auth-provider: oidc` (kubeconfig.ConvertFiles) into the token cache,
// under the key get-token will look up. It is apart from pkg/kubeconfig so
// that what links pkg/kubeconfig (oidc-proxy's sign-in page) does not link
// the token cache and the OS keyring.
package legacytokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// Mover saves converted users' tokens into the token cache; it is
// kubeconfig.ConvertOptions' TokenMover.
type Mover struct {
	Storage tokencache.Storage
	// KeyFor returns the cache key get-token will use for a converted
	// user's flags (Legacy.GetTokenArgs).
	KeyFor func(l kubeconfig.Legacy) (tokencache.Key, error)
}

// Move saves the stored tokens of c, if any, under the key get-token will
// look up. It reports whether something was saved.
func (m Mover) Move(ctx context.Context, c kubeconfig.Converted) (bool, error) {
	entry, ok := Entry(c.Legacy)
	if !ok {
		return false, nil
	}
	key, err := m.KeyFor(c.Legacy)
	if err != nil {
		return false, fmt.Errorf("token cache key of user %q: %w", c.Legacy.UserName, err)
	}
	if err := m.Storage.Save(ctx, key, entry); err != nil {
		return false, fmt.Errorf("save tokens of user %q in the %s token cache: %w", c.Legacy.UserName, m.Storage.Name(), err)
	}
	return true, nil
}

// Entry returns the token cache entry holding l's stored tokens; the
// expiry is the ID token's exp claim (zero when unreadable, so get-token
// refreshes on first use). ok is false when there is nothing to move.
func Entry(l kubeconfig.Legacy) (tokencache.Entry, bool) {
	if l.RefreshToken == "" && l.IDToken == "" {
		return tokencache.Entry{}, false
	}
	return tokencache.Entry{
		IDToken:      l.IDToken,
		RefreshToken: l.RefreshToken,
		TokenType:    "Bearer",
		Expiry:       jwtExpiry(l.IDToken),
		IssuerURL:    l.IssuerURL,
		ClientID:     l.ClientID,
	}, true
}

// jwtExpiry reads the exp claim of a JWT without verifying it; it is only
// used to decide when to refresh, and get-token verifies what it obtains.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(exp), 0)
}
