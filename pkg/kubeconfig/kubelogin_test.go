package kubeconfig

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestConvertKubeloginArgs(t *testing.T) {
	iss := []string{"--oidc-issuer-url=https://i", "--oidc-client-id=c"}
	// kubelogin's authcode redirect host, written when no redirect flag is given.
	lh := "--oidc-redirect-url-hostname=localhost"
	tests := []struct {
		name        string
		args        []string
		want        []string
		wantDir     string
		wantDropped []string
		wantErr     string
	}{
		{name: "same flags, as --name=value", args: []string{"--oidc-issuer-url", "https://i", "--oidc-client-id=c", "--oidc-extra-scope", "email", "--oidc-extra-scope=groups,profile"},
			want: []string{"--oidc-issuer-url=https://i", "--oidc-client-id=c", "--oidc-extra-scope=email", "--oidc-extra-scope=groups,profile", lh}},
		{name: "secrets stay for ExecUser to move", args: append(iss, "--oidc-client-secret", "s3cret", "--username=alice", "--password=pw"),
			want: append(iss, "--oidc-client-secret=s3cret", "--username=alice", "--password=pw")},
		{name: "booleans", args: append(iss, "--skip-open-browser", "--force-refresh=false", "--insecure-skip-tls-verify", "--oidc-use-access-token", "--tls-renegotiation-once", "--tls-renegotiation-freely"),
			want: append(iss, "--skip-open-browser", "--force-refresh=false", "--insecure-skip-tls-verify", "--oidc-use-access-token", "--tls-renegotiation-once", "--tls-renegotiation-freely", lh)},
		{name: "authcode options", args: append(iss, "--grant-type=authcode", "--listen-address=127.0.0.1:8000,127.0.0.1:18000", "--browser-command=firefox", "--local-server-cert=~/tls.crt", "--local-server-key=~/tls.key", "--open-url-after-authentication=https://done", "--oidc-redirect-url-hostname=localhost", "--oidc-auth-request-extra-params=prompt=consent", "--oidc-request-header=Origin=http://localhost:8000"),
			want: append(iss, "--grant-type=authcode", "--listen-address=127.0.0.1:8000,127.0.0.1:18000", "--browser-command=firefox", "--local-server-cert=~/tls.crt", "--local-server-key=~/tls.key", "--open-url-after-authentication=https://done", "--oidc-redirect-url-hostname=localhost", "--oidc-auth-request-extra-params=prompt=consent", "--oidc-request-header=Origin=http://localhost:8000")},
		{name: "TLS and cache", args: append(iss, "--certificate-authority=~/ca.pem", "--certificate-authority-data=Zm9v", "--token-cache-dir=~/kl", "--token-cache-storage=keyring"),
			want: append(iss, "--certificate-authority=~/ca.pem", "--certificate-authority-data=Zm9v", "--token-cache-dir=~/kl", "--token-cache-storage=keyring", lh), wantDir: "~/kl"},
		{name: "authentication-timeout-sec", args: append(iss, "--authentication-timeout-sec=60"), want: append(iss, "--authentication-timeout=60s", lh)},
		{name: "authentication-timeout-sec not a number", args: append(iss, "--authentication-timeout-sec=1m"), wantErr: "not a number of seconds"},
		{name: "oidc-use-pkce overrides oidc-pkce-method", args: append(iss, "--oidc-use-pkce", "--oidc-pkce-method=no"), want: append(iss, "--oidc-pkce-method=S256", lh)},
		{name: "oidc-use-pkce=false", args: append(iss, "--oidc-use-pkce=false", "--oidc-pkce-method=no"), want: append(iss, "--oidc-pkce-method=no", lh)},
		{name: "keyboard redirect overrides redirect url", args: append(iss, "--oidc-redirect-url=http://localhost:8000", "--oidc-redirect-url-authcode-keyboard=urn:ietf:wg:oauth:2.0:oob", "--grant-type=authcode-keyboard"),
			want: append(iss, "--grant-type=authcode-keyboard", "--oidc-redirect-url=urn:ietf:wg:oauth:2.0:oob")},
		{name: "-v forms", args: append(iss, "-v1"), want: append(iss, "-v=1", lh)},
		{name: "-v separate", args: append(iss, "-v", "2"), want: append(iss, "-v=2", lh)},
		{name: "--v=", args: append(iss, "--v=3"), want: append(iss, "-v=3", lh)},
		{name: "klog flags dropped", args: append(iss, "--logtostderr", "--log_dir", "/tmp", "--vmodule=x=2"), want: append(iss, lh), wantDropped: []string{"--logtostderr", "--log_dir", "--vmodule"}},
		{name: "authcode keeps kubelogin's localhost redirect", args: append(iss, "--grant-type=authcode"), want: append(iss, "--grant-type=authcode", lh)},
		{name: "redirect url given: no hostname", args: append(iss, "--oidc-redirect-url=http://127.0.0.1:8000/cb"), want: append(iss, "--oidc-redirect-url=http://127.0.0.1:8000/cb")},
		{name: "password grant: no hostname", args: append(iss, "--grant-type=password"), want: append(iss, "--grant-type=password")},
		{name: "device code: no hostname", args: append(iss, "--grant-type=device-code"), want: append(iss, "--grant-type=device-code")},
		{name: "unknown flag", args: append(iss, "--oidc-foo=1"), wantErr: `unknown kubelogin flag "--oidc-foo"`},
		{name: "unknown shorthand", args: append(iss, "-x"), wantErr: `unknown kubelogin flag "-x"`},
		{name: "positional argument", args: append(iss, "extra"), wantErr: `unexpected argument "extra"`},
		{name: "value missing", args: append(iss, "--username"), wantErr: "needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertKubeloginArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Args, tt.want) || got.TokenCacheDir != tt.wantDir || !slices.Equal(got.Dropped, tt.wantDropped) {
				t.Errorf("got %q dir %q dropped %q\nwant %q dir %q dropped %q", got.Args, got.TokenCacheDir, got.Dropped, tt.want, tt.wantDir, tt.wantDropped)
			}
		})
	}
}

// kubeloginUsers has kubelogin users in each form, one it cannot convert,
// and a kube-oidc user.
var kubeloginUsers = `apiVersion: v1
kind: Config
users:
- name: ana
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubectl
      args:
      - oidc-login
      - get-token
      - --oidc-issuer-url=https://issuer.example.com
      - --oidc-client-id=kubectl
      - --oidc-client-secret=kubelogin-client-secret
      - --oidc-extra-scope=email
      - --oidc-use-pkce
      - -v1
      env:
      - name: HTTPS_PROXY
        value: http://proxy.example.com:3128
- name: ben
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: /usr/local/bin/kubelogin
      args:
      - get-token
      - --oidc-issuer-url
      - https://issuer.example.com
      - --oidc-client-id=kubectl
      - --grant-type=password
      - --username=ben
      - --password=kubelogin-password
      - --token-cache-dir=~/.kube/cache/team
- name: cleo
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubectl
      args: [oidc-login, get-token, --oidc-issuer-url=https://issuer.example.com, --oidc-client-id=kubectl, --not-a-kubelogin-flag]
- name: dan
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl-oidc
      args: [get-token, --oidc-issuer-url=https://issuer.example.com, --oidc-client-id=kubectl]
- name: eve
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubectl
      args: [oidc-login, setup]
`

func TestConvertRewritesKubeloginUsers(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
	}{
		{name: "as they are"},
		{name: "with a token cache dir of convert's own", extra: []string{"--token-cache-dir=/var/cache/oidc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			writeFile(t, path, kubeloginUsers, 0o600)
			store := newFakeMover()
			reps, err := ConvertFiles(context.Background(), ConvertOptions{
				Paths: []string{path}, ExtraArgs: tt.extra, Mover: store, KubeloginDefaultDir: "/home/u/.kube/cache/oidc-login",
			})
			if err != nil {
				t.Fatal(err)
			}
			rep := reps[0]
			var users []string
			for _, c := range rep.Converted {
				if !c.Kubelogin {
					t.Errorf("user %s not marked as kubelogin's", c.Legacy.UserName)
				}
				users = append(users, c.Legacy.UserName)
			}
			if strings.Join(users, ",") != "ana,ben" || len(rep.Skipped) != 1 || rep.Skipped[0].UserName != "cleo" || !strings.Contains(rep.Skipped[0].Reason, "--not-a-kubelogin-flag") {
				t.Fatalf("converted %v, skipped %+v", users, rep.Skipped)
			}
			if len(store.moved) != 0 {
				t.Errorf("convert saved %d entries; kubelogin's are imported by get-token", len(store.moved))
			}
			out := readFile(t, path)
			for _, secret := range []string{"kubelogin-client-secret", "kubelogin-password"} {
				if strings.Contains(out, "="+secret) {
					t.Errorf("%s still in args", secret)
				}
			}
			golden(t, []byte(out))

			// Idempotent: the converted users run kubectl-oidc; cleo is skipped again, unchanged.
			reps, err = ConvertFiles(context.Background(), ConvertOptions{Paths: []string{path}, ExtraArgs: tt.extra, Mover: newFakeMover()})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps[0].Converted) != 0 || reps[0].Written || readFile(t, path) != out {
				t.Errorf("second run changed something: %+v", reps[0])
			}
		})
	}
}

func TestConvertLeavesUnconvertibleKubeloginUsersAsTheyAre(t *testing.T) {
	cfg := clientcmdapi.NewConfig()
	orig := &clientcmdapi.ExecConfig{Command: "kubelogin", Args: []string{"get-token", "--oidc-issuer-url=https://i", "stray"}}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Exec: orig.DeepCopy()}
	conv, skipped := Convert(cfg, nil, "")
	if len(conv) != 0 || len(skipped) != 1 {
		t.Fatalf("converted %v skipped %v", conv, skipped)
	}
	if got := cfg.AuthInfos["u"].Exec; got.Command != "kubelogin" || !slices.Equal(got.Args, orig.Args) {
		t.Errorf("user changed: %+v", got)
	}
}

func TestConvertKubeloginDryRunRedactsSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, kubeloginUsers, 0o600)
	reps, err := ConvertFiles(context.Background(), ConvertOptions{Paths: []string{path}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != kubeloginUsers {
		t.Error("dry run changed the file")
	}
	for _, secret := range []string{"kubelogin-client-secret", "kubelogin-password"} {
		if strings.Contains(reps[0].Diff, secret) {
			t.Errorf("diff shows %s", secret)
		}
	}
}
