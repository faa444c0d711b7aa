package kubeconfig

import (
	"net/url"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kube-oidc/kube-oidc/pkg/login/secretname"
)

// Exec stanza constants: kubectl runs `kubectl-oidc get-token ...`, the
// plugin binary itself, found on PATH (krew links it into its bin
// directory). Not `kubectl oidc get-token`: that starts a second kubectl for
// every token, and kubectl wrappers that call the API server before each
// command (gcloud's kubectl dispatcher) would run the exec plugin, which runs
// kubectl again, without end.
const (
	ExecAPIVersion = "client.authentication.k8s.io/v1"
	ExecCommand    = "kubectl-oidc"
	InstallHint    = `kubectl-oidc is the kubectl plugin that logs in to this cluster with OpenID Connect.
Install it with krew (https://krew.sigs.k8s.io):

    ` + KrewInstallLatest + `

or put the kubectl-oidc binary from ` + Releases + ` on your PATH.`
)

// Releases is where the release files, the krew manifest oidc.yaml among
// them, are published (the Makefile's DIST_BASE_URL without the version).
const Releases = "https://github.com/kube-oidc/kube-oidc/releases"

// KrewInstallLatest installs the plugin with krew from the latest release's
// manifest. The plugin is not in krew's default index, so `kubectl krew
// install oidc` alone would fail; a kubeconfig outlives the release it was
// written with, so its hint names the latest.
const KrewInstallLatest = "kubectl krew install --manifest-url=" + Releases + "/latest/download/oidc.yaml"

// Environment variables get-token reads the client secret and the password
// from when --oidc-client-secret and --password are not given. ExecUser puts
// those secrets into the exec stanza's env instead of its args: kubectl
// passes env to get-token's process, where only the same user can read it,
// while args are visible to every local user in ps.
const (
	EnvClientSecret = secretname.EnvClientSecret
	EnvPassword     = secretname.EnvPassword
)

// secretArgs maps the secret get-token flags to their environment variable.
var secretArgs = []struct{ flag, env string }{
	{"--oidc-client-secret=", EnvClientSecret},
	{"--password=", EnvPassword},
}

// ExecUser returns a user whose exec stanza runs `kubectl-oidc get-token`
// with getTokenArgs appended (flags as --name=value). The client secret and
// password flags are not written as arguments but as the stanza's
// EnvClientSecret and EnvPassword.
func ExecUser(getTokenArgs []string) *clientcmdapi.AuthInfo {
	args := []string{"get-token"}
	var env []clientcmdapi.ExecEnvVar
	for _, a := range getTokenArgs {
		secret := false
		for _, s := range secretArgs {
			if v, ok := strings.CutPrefix(a, s.flag); ok {
				env = append(env, clientcmdapi.ExecEnvVar{Name: s.env, Value: v})
				secret = true
			}
		}
		if !secret {
			args = append(args, a)
		}
	}
	return &clientcmdapi.AuthInfo{
		Exec: &clientcmdapi.ExecConfig{
			APIVersion:      ExecAPIVersion,
			Command:         ExecCommand,
			Args:            args,
			Env:             env,
			InteractiveMode: clientcmdapi.IfAvailableExecInteractiveMode,
			InstallHint:     InstallHint,
		},
	}
}

// DefaultClusterName derives a cluster name from the server URL: its host
// and port (":443" dropped), e.g. "proxy.example.com".
func DefaultClusterName(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return strings.Trim(server, "/")
	}
	if u.Port() == "443" && u.Scheme == "https" {
		return u.Hostname()
	}
	return u.Host
}

// DefaultUserName is the user name setup uses for a cluster: "oidc-" + cluster.
func DefaultUserName(cluster string) string { return "oidc-" + cluster }

// Secret storages of setup and convert (--secret-storage).
const (
	// SecretStorageKubeconfig keeps the client secret and password in the
	// exec stanza's env (EnvClientSecret, EnvPassword).
	SecretStorageKubeconfig = "kubeconfig"
	// SecretStorageKeyring keeps them in OS keyring items that the exec
	// stanza names (--oidc-client-secret-keyring, --password-keyring).
	SecretStorageKeyring = "keyring"
)

// keyringArgs maps the secret environment variables to the get-token flag
// that names their keyring item.
var keyringArgs = []struct{ env, flag string }{
	{EnvClientSecret, "--oidc-client-secret-keyring="},
	{EnvPassword, "--password-keyring="},
}

// SecretsToKeyring moves the client secret and password of an exec stanza
// written by ExecUser out of its env into OS keyring items: store saves
// each (login.StoreSecret; a no-op for a dry run) and the stanza names the
// item instead (secretname.ClientSecretItem of the issuer and client,
// secretname.PasswordItem of the issuer and username). The stanza is unchanged
// when store fails.
func SecretsToKeyring(e *clientcmdapi.ExecConfig, store func(item, secret string) error) error {
	issuer := ArgValue(e.Args, "--oidc-issuer-url")
	var env []clientcmdapi.ExecEnvVar
	var args []string
	for _, v := range e.Env {
		moved := false
		for _, k := range keyringArgs {
			if v.Name != k.env {
				continue
			}
			item := secretname.ClientSecretItem(issuer, ArgValue(e.Args, "--oidc-client-id"))
			if k.env == EnvPassword {
				item = secretname.PasswordItem(issuer, ArgValue(e.Args, "--username"))
			}
			if err := store(item, v.Value); err != nil {
				return err
			}
			args = append(args, k.flag+item)
			moved = true
		}
		if !moved {
			env = append(env, v)
		}
	}
	e.Env = env
	e.Args = append(e.Args, args...)
	return nil
}

// ArgValue is the value of the last --name=value in args ("" if none).
func ArgValue(args []string, name string) string {
	v := ""
	for _, a := range args {
		if rest, ok := strings.CutPrefix(a, name+"="); ok {
			v = rest
		}
	}
	return v
}
