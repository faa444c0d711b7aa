// Package secretname names where get-token finds a client secret or a
// password that is not on its command line: the environment variables of
// an exec stanza, and the OS keyring items setup and convert store them in.
// Names only, so that code writing kubeconfigs (oidc-proxy's sign-in page
// among it) does not link the login flows or a keyring client.
package secretname

// Environment variables that hold the client secret and the password when
// --oidc-client-secret and --password are not given (kubectl oidc setup
// writes them into the exec stanza's env, never into its args).
const (
	EnvClientSecret = "KUBECTL_OIDC_CLIENT_SECRET"
	EnvPassword     = "KUBECTL_OIDC_PASSWORD"
)

// KeyringService is the OS keyring service of the client secrets and
// passwords that exec stanzas reference by item (--oidc-client-secret-keyring,
// --password-keyring) instead of holding them.
const KeyringService = "kubectl-oidc secrets"

// ClientSecretItem and PasswordItem name the keyring items kubectl oidc
// setup and convert store a client secret and a password in.
func ClientSecretItem(issuer, clientID string) string {
	return "client-secret:" + clientID + "@" + issuer
}

// PasswordItem: see ClientSecretItem.
func PasswordItem(issuer, username string) string { return "password:" + username + "@" + issuer }
