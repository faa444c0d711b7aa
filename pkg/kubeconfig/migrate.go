package kubeconfig

import (
	"context"
	"fmt"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// Mover saves converted users' tokens into the token cache.
type Mover struct {
	Storage tokencache.Storage
	// KeyFor returns the cache key get-token will use for a converted
	// user's flags (Legacy.GetTokenArgs).
	KeyFor func(l Legacy) (tokencache.Key, error)
}

// Move saves the stored tokens of c, if any, under the key get-token will
// look up. It reports whether something was saved.
func (m Mover) Move(ctx context.Context, c Converted) (bool, error) {
	entry, ok := c.Legacy.Entry()
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
