package kubeconfig

import (
	"context"
	"fmt"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// LegacyCacheKey returns the token cache key that `kubectl oidc get-token`
// computes for the flags Legacy.GetTokenArgs writes (no --grant-type, so
// the default; no username; TLS from the CA bundle). It must agree with
// pkg/login's key; TestConvertedUserNeedsNoLogin proves it end to end.
func LegacyCacheKey(l Legacy, caBundle []byte, grantType string) tokencache.Key {
	return tokencache.Key{
		IssuerURL:  l.IssuerURL,
		ClientID:   l.ClientID,
		Scopes:     append([]string(nil), l.ExtraScopes...),
		GrantType:  grantType,
		CACertHash: tokencache.CAHash(caBundle),
	}
}

// Mover saves converted users' tokens into the token cache.
type Mover struct {
	Storage tokencache.Storage
	// KeyFor returns the cache key get-token will use for a converted user.
	KeyFor func(l Legacy, caBundle []byte) tokencache.Key
}

// Move saves the stored tokens of c, if any, under the key get-token will
// look up. It reports whether something was saved.
func (m Mover) Move(ctx context.Context, c Converted) (bool, error) {
	entry, ok := c.Legacy.Entry()
	if !ok {
		return false, nil
	}
	ca, err := c.Legacy.CABundle()
	if err != nil {
		return false, err
	}
	if err := m.Storage.Save(ctx, m.KeyFor(c.Legacy, ca), entry); err != nil {
		return false, fmt.Errorf("save tokens of user %q in the %s token cache: %w", c.Legacy.UserName, m.Storage.Name(), err)
	}
	return true, nil
}
