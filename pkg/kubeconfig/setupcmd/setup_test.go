package setupcmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/zalando/go-keyring"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kube-oidc/kube-oidc/pkg/discovery"
	"github.com/kube-oidc/kube-oidc/pkg/login"
	"github.com/kube-oidc/kube-oidc/pkg/login/secretname"
)

// testLoginFlags registers get-token's login flags as pkg/login does (the
// names of the contract; the real set is used by cmd/kubectl-oidc).
func testLoginFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("login", pflag.ContinueOnError)
	fs.String("oidc-issuer-url", "", "")
	fs.String("oidc-client-id", "", "")
	fs.String("oidc-client-secret", "", "")
	fs.StringSlice("oidc-extra-scope", nil, "")
	fs.StringToString("oidc-auth-request-extra-params", nil, "")
	fs.String("grant-type", "auto", "")
	fs.String("token-cache-storage", "auto", "")
	fs.String("token-cache-dir", "", "")
	fs.String("certificate-authority", "", "")
	fs.String("certificate-authority-data", "", "")
	fs.Bool("insecure-skip-tls-verify", false, "")
	fs.String("username", "", "")
	fs.String("password", "", "")
	return fs
}

// execute runs setup (confirmed with --yes) or convert with args.
func execute(t *testing.T, cmdName string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if cmdName == "setup" {
		args = append(args, "--yes")
	}
	return executeUnconfirmed(t, cmdName, args...)
}

func executeUnconfirmed(t *testing.T, cmdName string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := NewSetup(testLoginFlags())
	if cmdName == "convert" {
		cmd = NewConvert(nil)
	}
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetContext(context.Background())
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func loadUser(t *testing.T, path, user string) *clientcmdapi.AuthInfo {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.AuthInfos[user]
	if u == nil {
		t.Fatalf("no user %q in %s", user, path)
	}
	return u
}

func TestSetupWritesExactlyTheGivenLoginFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantArgs []string
	}{
		{
			name: "minimal",
			args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kubectl"},
			wantArgs: []string{"get-token",
				"--oidc-client-id=kubectl", "--oidc-issuer-url=https://issuer.example.com"},
		},
		{
			name: "flags in any order give a stable order",
			args: []string{"--oidc-extra-scope=groups", "--grant-type=device-code", "--oidc-client-id=kubectl",
				"--oidc-extra-scope=email", "--oidc-issuer-url=https://issuer.example.com", "--token-cache-storage=disk"},
			wantArgs: []string{"get-token",
				"--grant-type=device-code", "--oidc-client-id=kubectl", "--oidc-extra-scope=groups",
				"--oidc-extra-scope=email", "--oidc-issuer-url=https://issuer.example.com", "--token-cache-storage=disk"},
		},
		{
			name: "boolean and map flags",
			args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kubectl",
				"--insecure-skip-tls-verify", "--oidc-auth-request-extra-params=audience=k8s"},
			wantArgs: []string{"get-token",
				"--insecure-skip-tls-verify", "--oidc-auth-request-extra-params=audience=k8s",
				"--oidc-client-id=kubectl", "--oidc-issuer-url=https://issuer.example.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			args := append([]string{"--server=https://api.example.com", "--kubeconfig=" + path, "--skip-validation"}, tt.args...)
			_, stderr, err := execute(t, "setup", args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			u := loadUser(t, path, "oidc-api.example.com")
			if got := strings.Join(u.Exec.Args, " "); got != strings.Join(tt.wantArgs, " ") {
				t.Errorf("args\n %s\nwant\n %s", got, strings.Join(tt.wantArgs, " "))
			}
			if !u.Exec.ProvideClusterInfo {
				t.Error("provideClusterInfo is not set: get-token cannot bind its cache entry to the cluster")
			}
		})
	}
}

func TestSetupRefusesIncompleteOrContradictoryFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no server", []string{"--oidc-issuer-url=https://i", "--oidc-client-id=c"}, "no server"},
		{"no issuer", []string{"--server=https://api", "--oidc-client-id=c"}, "--oidc-issuer-url and --oidc-client-id are required"},
		{"two CAs", []string{"--server=https://api", "--server-certificate-authority=a", "--server-certificate-authority-data=Yg=="}, "not both"},
		{"bad CA data", []string{"--server=https://api", "--server-certificate-authority-data=%%%"}, "not valid base64"},
		{"fingerprint without proxy", []string{"--server=https://api", "--ca-fingerprint=sha256:00", "--oidc-issuer-url=https://i", "--oidc-client-id=c"}, "--ca-fingerprint needs PROXY_URL"},
		{"URL and other server", []string{"https://proxy", "--server=https://api"}, "differ"},
		{"insecure with discovery", []string{"https://proxy", "--server-insecure-skip-tls-verify"}, "cannot be used with PROXY_URL"},
		{"bad output", []string{"--server=https://api", "-o", "xml"}, `unknown --output "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			_, _, err := execute(t, "setup", append(tt.args, "--kubeconfig="+path, "--skip-validation")...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("kubeconfig written despite the error")
			}
		})
	}
}

// discoveryProxy serves a discovery document over TLS (httptest's self-signed certificate).
func discoveryProxy(t *testing.T, doc *discovery.Document) *httptest.Server {
	t.Helper()
	h, err := discovery.Handler(doc)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(discovery.Path, h)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func testDocument(issuerCA []byte) *discovery.Document {
	return &discovery.Document{
		APIVersion:                     discovery.APIVersion,
		Kind:                           discovery.Kind,
		IssuerURL:                      "https://issuer.example.com",
		ClientID:                       "kubectl",
		Audience:                       "cluster-prod",
		AudienceMethod:                 "dex-cross-client",
		Scopes:                         []string{"email", "groups"},
		ExtraParams:                    map[string]string{"audience": "k8s"},
		GrantTypes:                     []string{"device-code", "authcode"},
		ClusterName:                    "prod",
		RedirectURLHostname:            "localhost",
		IssuerCertificateAuthorityData: string(issuerCA),
	}
}

func TestSetupFromProxyDiscovery(t *testing.T) {
	idp := httptest.NewTLSServer(http.NotFoundHandler())
	idp.Close()
	idpCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})
	srv := discoveryProxy(t, testDocument(idpCA))
	fp := discovery.Fingerprint(srv.Certificate())
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	tests := []struct {
		name        string
		args        []string
		wantErr     string
		wantUser    string
		wantArgs    []string
		wantCluster string
	}{
		{
			name:        "fingerprint",
			args:        []string{srv.URL, "--ca-fingerprint=" + fp},
			wantUser:    "oidc-prod",
			wantCluster: "prod",
			wantArgs: []string{"get-token",
				"--certificate-authority-data=" + base64.StdEncoding.EncodeToString(idpCA),
				"--grant-type=device-code", "--oidc-audience=cluster-prod", "--oidc-audience-method=dex-cross-client", "--oidc-auth-request-extra-params=audience=k8s", "--oidc-client-id=kubectl",
				"--oidc-extra-scope=email", "--oidc-extra-scope=groups", "--oidc-issuer-url=https://issuer.example.com", "--oidc-redirect-url-hostname=localhost"},
		},
		{
			name:        "given flags override the document",
			args:        []string{srv.URL, "--ca-fingerprint=" + fp, "--oidc-client-id=mine", "--grant-type=authcode", "--oidc-extra-scope=profile", "--certificate-authority=/etc/idp.pem", "--cluster-name=mine", "--user-name=me"},
			wantUser:    "me",
			wantCluster: "mine",
			wantArgs: []string{"get-token",
				"--certificate-authority=/etc/idp.pem",
				"--grant-type=authcode", "--oidc-audience=cluster-prod", "--oidc-audience-method=dex-cross-client", "--oidc-auth-request-extra-params=audience=k8s", "--oidc-client-id=mine",
				"--oidc-extra-scope=profile", "--oidc-issuer-url=https://issuer.example.com", "--oidc-redirect-url-hostname=localhost"},
		},
		{
			name:    "fingerprint mismatch refused",
			args:    []string{srv.URL, "--ca-fingerprint=sha256:" + strings.Repeat("00", 32)},
			wantErr: "no certificate presented by the proxy has the fingerprint",
		},
		{
			name:    "no terminal and no fingerprint refused",
			args:    []string{srv.URL},
			wantErr: "pass --certificate-authority FILE or --ca-fingerprint",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			_, stderr, err := execute(t, "setup", append(tt.args, "--kubeconfig="+path, "--skip-validation")...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				if _, err := os.Stat(path); err == nil {
					t.Error("kubeconfig written despite the error")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Clusters[tt.wantCluster]
			if c == nil || c.Server != srv.URL || string(c.CertificateAuthorityData) != string(certPEM) {
				t.Fatalf("cluster %q: %+v", tt.wantCluster, c)
			}
			if cfg.CurrentContext != tt.wantCluster || cfg.Contexts[tt.wantCluster].AuthInfo != tt.wantUser {
				t.Errorf("current context %q, contexts %v", cfg.CurrentContext, cfg.Contexts)
			}
			if got := strings.Join(cfg.AuthInfos[tt.wantUser].Exec.Args, " "); got != strings.Join(tt.wantArgs, " ") {
				t.Errorf("args\n %s\nwant\n %s", got, strings.Join(tt.wantArgs, " "))
			}
		})
	}
}

func TestPromptTrustAcceptsOnlyYes(t *testing.T) {
	c := discovery.CertInfo{Fingerprint: "sha256:abcd", Subject: "CN=proxy", SelfSigned: true}
	for answer, want := range map[string]bool{"y\n": true, "YES\n": true, "\n": false, "n\n": false, "": false, "yes please\n": false} {
		var out bytes.Buffer
		got, err := promptTrust(strings.NewReader(answer), &out, "https://proxy", c)
		if err != nil || got != want {
			t.Errorf("answer %q: %v %v, want %v", answer, got, err, want)
		}
		if !strings.Contains(out.String(), "sha256:abcd") {
			t.Errorf("prompt does not show the fingerprint: %s", out.String())
		}
	}
}

func TestSetupDryRunPrintsTheKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	stdout, _, err := execute(t, "setup", "--server=https://api.example.com", "--kubeconfig="+path,
		"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kubectl", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load([]byte(stdout))
	if err != nil || cfg.AuthInfos["oidc-api.example.com"] == nil {
		t.Fatalf("dry-run output is not the kubeconfig (%v):\n%s", err, stdout)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("dry run wrote the file")
	}
}

func TestSetupShowsWhatItTrustsAndAsksFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	args := []string{"--server=https://api.example.com", "--kubeconfig=" + path,
		"--oidc-issuer-url=https://issuer.example.com/\x1b[2J", "--oidc-client-id=kubectl"}
	_, stderr, err := executeUnconfirmed(t, "setup", args...)
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("setup without a terminal and without --yes: err %v, want one naming --yes", err)
	}
	for _, want := range []string{"server: https://api.example.com", `issuer: https://issuer.example.com/\x1b[2J`, "client: kubectl"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not show %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\x1b") {
		t.Errorf("stderr holds a raw escape sequence: %q", stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("kubeconfig written without confirmation (stat: %v)", err)
	}
}

func TestSetupWarnsWhenAnotherServerGetsTheSameTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	flags := []string{"--kubeconfig=" + path, "--skip-validation", "--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kubectl"}
	if _, stderr, err := execute(t, "setup", append(flags, "--server=https://real.example.com")...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	_, stderr, err := execute(t, "setup", append(flags, "--server=https://look-alike.example.com")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "Warning: context \"real.example.com\"") || !strings.Contains(stderr, "to https://real.example.com") {
		t.Errorf("no warning naming the real server:\n%s", stderr)
	}
	// The same server again is no warning.
	_, stderr, err = execute(t, "setup", append(flags, "--server=https://real.example.com")...)
	if err != nil || strings.Contains(stderr, "Warning: context \"real.example.com\"") {
		t.Errorf("re-running setup for the same server warns (%v):\n%s", err, stderr)
	}
}

func TestSetupStoresSecretsInTheKeyring(t *testing.T) {
	keyring.MockInit()
	t.Cleanup(keyring.MockInit)
	const issuer = "https://issuer.example.com"
	secretItem, passwordItem := secretname.ClientSecretItem(issuer, "kubectl"), secretname.PasswordItem(issuer, "alice")
	flags := []string{"--oidc-issuer-url=" + issuer, "--oidc-client-id=kubectl", "--oidc-client-secret=the-client-secret",
		"--grant-type=password", "--username=alice", "--password=the-password", "--secret-storage=keyring"}

	// A dry run shows the items and stores nothing.
	stdout, stderr, err := execute(t, "setup", append([]string{"--server=https://api.example.com", "--dry-run"}, flags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "--oidc-client-secret-keyring="+secretItem) || strings.Contains(stdout, "the-client-secret") {
		t.Fatalf("dry run output:\n%s", stdout)
	}
	if _, err := keyring.Get(login.SecretKeyringService, secretItem); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("the dry run stored the client secret (%v)", err)
	}

	path := filepath.Join(t.TempDir(), "config")
	_, stderr, err = execute(t, "setup", append([]string{"--server=https://api.example.com", "--kubeconfig=" + path, "--skip-validation"}, flags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "clear text") {
		t.Errorf("setup warns of a clear-text password that is in the keyring:\n%s", stderr)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "the-client-secret") || strings.Contains(string(raw), "the-password") {
		t.Fatalf("a secret is in the kubeconfig:\n%s", raw)
	}
	u := loadUser(t, path, "oidc-api.example.com")
	want := "get-token --grant-type=password --oidc-client-id=kubectl --oidc-issuer-url=" + issuer + " --username=alice " +
		"--oidc-client-secret-keyring=" + secretItem + " --password-keyring=" + passwordItem
	if got := strings.Join(u.Exec.Args, " "); got != want || len(u.Exec.Env) != 0 {
		t.Fatalf("args\n %s\nwant\n %s\nenv %v, want none", got, want, u.Exec.Env)
	}
	for item, want := range map[string]string{secretItem: "the-client-secret", passwordItem: "the-password"} {
		if got, err := keyring.Get(login.SecretKeyringService, item); err != nil || got != want {
			t.Errorf("keyring item %q: %q, %v", item, got, err)
		}
	}

	_, _, err = execute(t, "setup", "--server=https://api.example.com", "--oidc-issuer-url="+issuer, "--oidc-client-id=kubectl", "--secret-storage=vault", "--dry-run")
	if err == nil || !strings.Contains(err.Error(), `unknown --secret-storage "vault"`) {
		t.Fatalf("unknown storage: %v", err)
	}
}
