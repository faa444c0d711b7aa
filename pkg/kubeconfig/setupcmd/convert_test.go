package setupcmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/login"
	"github.com/kube-oidc/kube-oidc/pkg/login/secretname"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

const legacyKubeconfig = `apiVersion: v1
kind: Config
users:
- name: alice
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: https://issuer.example.com
        client-id: kubectl
        client-secret: the-client-secret
        extra-scopes: email
        refresh-token: the-refresh-token
- name: admin
  user:
    token: admin-token
`

func TestConvertMovesTokensIntoTheDiskCache(t *testing.T) {
	dir := t.TempDir()
	path, cacheDir := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	if err := os.WriteFile(path, []byte(legacyKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := execute(t, "convert", "--kubeconfig="+path, "--token-cache-storage=disk", "--token-cache-dir="+cacheDir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, `converted user "alice" (tokens moved to the token cache)`) {
		t.Errorf("stderr: %s", stderr)
	}
	for _, secret := range []string{"the-refresh-token", "the-client-secret", "admin-token"} {
		if strings.Contains(stderr, secret) {
			t.Errorf("stderr shows a secret: %s", stderr)
		}
	}
	u := loadUser(t, path, "alice")
	if u.AuthProvider != nil || u.Exec == nil {
		t.Fatalf("user not converted: %+v", u)
	}
	want := "get-token --oidc-issuer-url=https://issuer.example.com --oidc-client-id=kubectl --oidc-extra-scope=email --token-cache-dir=" + cacheDir + " --token-cache-storage=disk"
	if got := strings.Join(u.Exec.Args, " "); got != want {
		t.Errorf("args\n %s\nwant\n %s", got, want)
	}
	if len(u.Exec.Env) != 1 || u.Exec.Env[0].Name != kubeconfig.EnvClientSecret || u.Exec.Env[0].Value != "the-client-secret" {
		t.Errorf("exec env %v, want the client secret in %s", u.Exec.Env, kubeconfig.EnvClientSecret)
	}
	if loadUser(t, path, "admin").Token != "admin-token" {
		t.Error("other user changed")
	}
	legacy := kubeconfig.Legacy{UserName: "alice", IssuerURL: "https://issuer.example.com", ClientID: "kubectl", ExtraScopes: []string{"email"}}
	key, err := DefaultKey(legacy)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tokencache.NewDisk(cacheDir).Load(context.Background(), key)
	if err != nil || e.RefreshToken != "the-refresh-token" {
		t.Fatalf("cache entry %v, %v", e.RefreshToken != "", err)
	}
}

func TestConvertDryRunPrintsARedactedDiff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(legacyKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := execute(t, "convert", "--kubeconfig="+path, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "-    auth-provider:") || !strings.Contains(stdout, "+    exec:") {
		t.Errorf("no diff:\n%s", stdout)
	}
	if strings.Contains(stdout, "the-refresh-token") || strings.Contains(stdout, "the-client-secret") {
		t.Errorf("diff shows secrets:\n%s", stdout)
	}
	if data, _ := os.ReadFile(path); string(data) != legacyKubeconfig {
		t.Error("dry run changed the file")
	}
}

func TestConvertWithNothingToConvertSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := execute(t, "convert", "--kubeconfig="+path, "--token-cache-storage=none")
	if err != nil || !strings.Contains(stderr, "nothing to convert") {
		t.Fatalf("%v: %s", err, stderr)
	}
}

func TestConvertRefusesMalformedKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("users: [unclosed"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := execute(t, "convert", "--kubeconfig="+path, "--token-cache-storage=none")
	if err == nil || !strings.Contains(err.Error(), "is not a valid kubeconfig") {
		t.Fatalf("error %v", err)
	}
}

func TestConvertStoresSecretsInTheKeyring(t *testing.T) {
	keyring.MockInit()
	t.Cleanup(keyring.MockInit)
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(legacyKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	item := secretname.ClientSecretItem("https://issuer.example.com", "kubectl")
	stdout, stderr, err := execute(t, "convert", "--kubeconfig="+path, "--secret-storage=keyring", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "--oidc-client-secret-keyring="+item) {
		t.Fatalf("dry run diff does not name the keyring item:\n%s", stdout)
	}
	if _, err := keyring.Get(login.SecretKeyringService, item); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("the dry run stored the client secret (%v)", err)
	}

	_, stderr, err = execute(t, "convert", "--kubeconfig="+path, "--secret-storage=keyring", "--token-cache-storage=disk", "--token-cache-dir="+filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "the-client-secret") {
		t.Fatalf("the client secret is still in the kubeconfig:\n%s", raw)
	}
	u := loadUser(t, path, "alice")
	if !slices.Contains(u.Exec.Args, "--oidc-client-secret-keyring="+item) || len(u.Exec.Env) != 0 {
		t.Fatalf("args %q env %v, want the keyring item named and no env", u.Exec.Args, u.Exec.Env)
	}
	if got, err := keyring.Get(login.SecretKeyringService, item); err != nil || got != "the-client-secret" {
		t.Fatalf("keyring item %q: %q, %v", item, got, err)
	}
}
