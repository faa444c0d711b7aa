package setupcmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// pluginPath builds this command into a temporary directory and puts that
// directory first on PATH, so that the machine's kubectl finds the
// kubectl-oidc plugin exactly as it does for a person: the exec stanzas
// setup and convert write then run the real `kubectl oidc get-token`.
func pluginPath(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on PATH; it runs the exec stanza as it would for a person")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "..", "cmd", "kubectl-oidc")); err != nil {
		t.Skip("cmd/kubectl-oidc does not exist yet")
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-oidc"), "github.com/kube-oidc/kube-oidc/cmd/kubectl-oidc").CombinedOutput()
	if err != nil {
		t.Fatalf("build kubectl-oidc: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func serverCAData(a *oidctest.APIServer) string {
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw}))
}

// TestSetupValidatesThroughTheRealPlugin runs setup with validation: kubectl
// runs the written exec stanza, our get-token logs in (password grant) and
// the API server sees the provider's user.
func TestSetupValidatesThroughTheRealPlugin(t *testing.T) {
	pluginPath(t)
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	_, stderr, err := execute(t, "setup",
		"--kubeconfig="+path,
		"--server="+api.URL,
		"--server-certificate-authority-data="+serverCAData(api),
		"--cluster-name=test",
		"--oidc-issuer-url="+p.Issuer,
		"--oidc-client-id="+p.ClientID,
		"--certificate-authority="+p.CAFile(t),
		"--grant-type=password",
		"--username="+p.User.Username,
		"--password="+p.User.Password,
		"--token-cache-storage=disk",
		"--token-cache-dir="+filepath.Join(dir, "cache"),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if want := `the cluster sees you as "` + p.User.Email + `"`; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}
	if api.Reviews() != 1 || p.Count("token:password") != 1 {
		t.Errorf("%d reviews, %d password grants; want 1 and 1", api.Reviews(), p.Count("token:password"))
	}
}

// TestConvertedUserNeedsNoLogin converts an auth-provider user holding a
// refresh token from the provider, then lets kubectl run the converted
// stanza: get-token must find the moved tokens under its own cache key —
// with a valid ID token no request reaches the provider, with an expired
// one a single refresh and no login.
func TestConvertedUserNeedsNoLogin(t *testing.T) {
	pluginPath(t)
	tests := []struct {
		name        string
		idTokenTTL  time.Duration
		wantRefresh int
	}{
		{name: "valid ID token used as is", idTokenTTL: time.Hour, wantRefresh: 0},
		{name: "expired ID token refreshed", idTokenTTL: -time.Hour, wantRefresh: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			api := p.NewAPIServer(t)
			ctx := oidc.ClientContext(context.Background(), p.HTTPClient())
			prov, err := oidc.NewProvider(ctx, p.Issuer)
			if err != nil {
				t.Fatal(err)
			}
			cfg := oauth2.Config{ClientID: p.ClientID, Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
			tok, err := cfg.PasswordCredentialsToken(ctx, p.User.Username, p.User.Password)
			if err != nil || tok.RefreshToken == "" {
				t.Fatalf("password grant: %v", err)
			}
			idToken := p.IDToken(p.User, func(c map[string]any) {
				c["exp"] = time.Now().Add(tt.idTokenTTL).Unix()
				if tt.idTokenTTL < 0 {
					c["iat"] = time.Now().Add(2 * tt.idTokenTTL).Unix()
					c["nbf"] = time.Now().Add(2 * tt.idTokenTTL).Unix()
				}
			})
			before := p.Count("token:password")

			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			legacy := `apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: ` + api.URL + `
    certificate-authority-data: ` + serverCAData(api) + `
contexts:
- name: test
  context:
    cluster: test
    user: alice
users:
- name: alice
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: ` + p.Issuer + `
        client-id: ` + p.ClientID + `
        extra-scopes: email
        idp-certificate-authority: ` + p.CAFile(t) + `
        refresh-token: ` + tok.RefreshToken + `
        id-token: ` + idToken + `
`
			if err := os.WriteFile(path, []byte(legacy), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, err := execute(t, "convert", "--kubeconfig="+path, "--token-cache-storage=disk", "--token-cache-dir="+filepath.Join(dir, "cache"))
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			who, err := kubeconfig.Validate(context.Background(), path, "test")
			if err != nil {
				t.Fatalf("kubectl with the converted user: %v", err)
			}
			if who.Username != p.User.Email {
				t.Errorf("API server saw %q", who.Username)
			}
			if n := p.Count("token:refresh_token"); n != tt.wantRefresh {
				t.Errorf("%d refreshes, want %d", n, tt.wantRefresh)
			}
			if n := p.Count("token:password") - before; n != 0 {
				t.Errorf("%d logins after convert, want none", n)
			}
		})
	}
}

// TestConvertedKubeloginUserNeedsNoLogin converts a kubelogin exec user
// whose tokens are in kubelogin's token cache, then lets kubectl run the
// converted stanza: the first get-token imports kubelogin's entry, so no
// request reaches the provider's authorization or password endpoints; with
// an expired ID token the imported refresh token is used once.
func TestConvertedKubeloginUserNeedsNoLogin(t *testing.T) {
	pluginPath(t)
	tests := []struct {
		name        string
		idTokenTTL  time.Duration
		convertArgs []string
		wantRefresh int
	}{
		{name: "valid ID token used as is", idTokenTTL: time.Hour, convertArgs: []string{"--token-cache-storage=disk"}},
		{name: "expired ID token refreshed", idTokenTTL: -time.Hour, convertArgs: []string{"--token-cache-storage=disk"}, wantRefresh: 1},
		{name: "kube-oidc cache elsewhere", idTokenTTL: time.Hour, convertArgs: []string{"--token-cache-storage=disk", "--token-cache-dir=CACHE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			api := p.NewAPIServer(t)
			ctx := oidc.ClientContext(context.Background(), p.HTTPClient())
			prov, err := oidc.NewProvider(ctx, p.Issuer)
			if err != nil {
				t.Fatal(err)
			}
			cfg := oauth2.Config{ClientID: p.ClientID, Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
			tok, err := cfg.PasswordCredentialsToken(ctx, p.User.Username, p.User.Password)
			if err != nil || tok.RefreshToken == "" {
				t.Fatalf("password grant: %v", err)
			}
			idToken := p.IDToken(p.User, func(c map[string]any) {
				c["exp"] = time.Now().Add(tt.idTokenTTL).Unix()
				if tt.idTokenTTL < 0 {
					c["iat"] = time.Now().Add(2 * tt.idTokenTTL).Unix()
					c["nbf"] = time.Now().Add(2 * tt.idTokenTTL).Unix()
				}
			})
			before := p.Count("token:password")

			dir := t.TempDir()
			klDir, caFile := filepath.Join(dir, "kubelogin"), p.CAFile(t)
			sums, err := tokencache.KubeloginKey{IssuerURL: p.Issuer, ClientID: p.ClientID, ExtraScopes: []string{"email"}, CACertFilename: []string{caFile}}.Checksums()
			if err != nil {
				t.Fatal(err)
			}
			entry, _ := json.Marshal(map[string]string{"id_token": idToken, "refresh_token": tok.RefreshToken})
			if err := os.MkdirAll(klDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(klDir, sums[0]), entry, 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "config")
			config := `apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: ` + api.URL + `
    certificate-authority-data: ` + serverCAData(api) + `
contexts:
- name: test
  context:
    cluster: test
    user: alice
users:
- name: alice
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubectl
      args:
      - oidc-login
      - get-token
      - --oidc-issuer-url=` + p.Issuer + `
      - --oidc-client-id=` + p.ClientID + `
      - --oidc-extra-scope=email
      - --certificate-authority=` + caFile + `
      - --token-cache-dir=` + klDir + `
`
			if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"convert", "--kubeconfig=" + path}
			for _, a := range tt.convertArgs {
				args = append(args, strings.ReplaceAll(a, "CACHE", filepath.Join(dir, "cache")))
			}
			_, stderr, err := execute(t, args[0], args[1:]...)
			if err != nil || !strings.Contains(stderr, "from kubelogin") {
				t.Fatalf("convert: %v\n%s", err, stderr)
			}
			who, err := kubeconfig.Validate(context.Background(), path, "test")
			if err != nil {
				t.Fatalf("kubectl with the converted user: %v", err)
			}
			if who.Username != p.User.Email {
				t.Errorf("API server saw %q", who.Username)
			}
			if n := p.Count("token:refresh_token"); n != tt.wantRefresh {
				t.Errorf("%d refreshes, want %d", n, tt.wantRefresh)
			}
			if n := p.Count("token:password") - before; n != 0 || p.Count("authorize") != 0 {
				t.Errorf("%d password logins, %d authorization requests after convert; want none", n, p.Count("authorize"))
			}
		})
	}
}
