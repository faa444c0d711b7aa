package login

import (
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"

	"github.com/kube-oidc/kube-oidc/pkg/login/secretname"
)

// SecretKeyringService is secretname.KeyringService; secretname also names
// the items (ClientSecretItem, PasswordItem).
const SecretKeyringService = secretname.KeyringService

// StoreSecret saves secret as the keyring item of SecretKeyringService.
func StoreSecret(item, secret string) error {
	if err := keyring.Set(SecretKeyringService, item, secret); err != nil {
		return fmt.Errorf("store %q in the OS keyring (service %q): %w", item, SecretKeyringService, err)
	}
	return nil
}

// readSecret returns the keyring item of SecretKeyringService that flag
// names; a missing item is one line saying how to put it back.
func readSecret(flag, item, env string) (string, error) {
	v, err := keyring.Get(SecretKeyringService, item)
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return "", fmt.Errorf("the OS keyring has no item %q (service %q) that %s names: store it again with `kubectl oidc setup ... --secret-storage=keyring` (or `kubectl oidc convert --secret-storage=keyring`), or give the secret in $%s", item, SecretKeyringService, flag, env)
	case err != nil:
		return "", fmt.Errorf("read %q from the OS keyring (service %q, %s): %w; or give the secret in $%s", item, SecretKeyringService, flag, err, env)
	case v == "":
		return "", fmt.Errorf("the OS keyring item %q (service %q) that %s names is empty", item, SecretKeyringService, flag)
	}
	return v, nil
}

// keyringSecrets fills the client secret and the password that are not
// given (flag or environment) from the keyring items the options name.
// It runs before the first request that may need them, never on a cache
// hit; the result is kept for the session.
func (s *session) keyringSecrets() error {
	s.secretsOnce.Do(func() {
		for _, sec := range []struct {
			value           *string
			item, flag, env string
		}{
			{&s.o.ClientSecret, s.o.ClientSecretKeyring, "--oidc-client-secret-keyring", EnvClientSecret},
			{&s.o.Password, s.o.PasswordKeyring, "--password-keyring", EnvPassword},
		} {
			if *sec.value != "" || sec.item == "" {
				continue
			}
			v, err := readSecret(sec.flag, sec.item, sec.env)
			if err != nil {
				s.secretsErr = err
				return
			}
			*sec.value = v
		}
	})
	return s.secretsErr
}
