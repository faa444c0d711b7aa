package login

import (
	"errors"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/kube-oidc/kube-oidc/pkg/login/secretname"
)

func TestSecretsFromTheKeyring(t *testing.T) {
	keyring.MockInit()
	t.Cleanup(keyring.MockInit) // not the failing keyring this test ends with
	f := newFixture(t)
	passwordItem := secretname.PasswordItem(f.p.Issuer, f.p.User.Username)
	secretItem := secretname.ClientSecretItem(f.p.Issuer, f.p.ClientID)
	if err := StoreSecret(passwordItem, f.p.User.Password); err != nil {
		t.Fatal(err)
	}
	if err := StoreSecret(secretItem, f.p.ClientSecret); err != nil {
		t.Fatal(err)
	}
	password := f.passwordOptions()
	password.Password, password.PasswordKeyring = "", passwordItem
	clientCredentials := f.o
	clientCredentials.GrantType, clientCredentials.ClientSecret, clientCredentials.ClientSecretKeyring = GrantClientCredentials, "", secretItem
	missing := password
	missing.PasswordKeyring = secretname.PasswordItem(f.p.Issuer, "nobody")
	missing.TokenCacheDir = t.TempDir()

	tests := []struct {
		name    string
		o       Options
		wantErr []string
	}{
		// The provider refuses a wrong password, and client credentials
		// without the right secret: a token proves the keyring's was sent.
		{"password from the keyring, not interactive", password, nil},
		{"client secret from the keyring", clientCredentials, nil},
		{"missing item", missing, []string{`the OS keyring has no item "password:nobody@`, "--password-keyring", "--secret-storage=keyring", "$" + EnvPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.p.Count("discovery")
			tok, err := f.get(tt.o, UI{Err: &syncBuffer{}})
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr...)
				if f.p.Count("discovery") != before {
					t.Fatal("the provider was contacted without the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Source != SourceLogin {
				t.Fatalf("source %q, want a login", tok.Source)
			}
		})
	}

	// A cache hit never reads the keyring: it works with the keyring gone.
	keyring.MockInitWithError(errors.New("no keyring service"))
	if tok := f.mustGet(password, UI{Err: &syncBuffer{}}); tok.Source != SourceCache {
		t.Fatalf("source %q with the keyring gone, want the cache", tok.Source)
	}
	password.ForceRefresh = true
	f.p.RevokeAllRefreshTokens()
	_, err := f.get(password, UI{Err: &syncBuffer{}})
	wantErr(t, err, `read "password:alice@`, "no keyring service", "$"+EnvPassword)

	// The flag and the environment still win over the keyring.
	withFlag := password
	withFlag.Password = f.p.User.Password
	if _, err := f.get(withFlag, UI{Err: &syncBuffer{}}); err != nil {
		t.Fatalf("password given and the keyring gone: %v", err)
	}
}
