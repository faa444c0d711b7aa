package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestLoginCommandLineRedactsSecrets(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no flags", want: "kubectl oidc login"},
		{
			name: "secret redacted, password dropped, sorted",
			args: []string{"--password=hunter2", "--oidc-client-secret=s3cret", "--oidc-issuer-url=https://i.example.com", "--username=bob"},
			want: "kubectl oidc login --oidc-client-secret=REDACTED --oidc-issuer-url=https://i.example.com --username=bob",
		},
		{
			name: "quoting for the shell",
			args: []string{"--oidc-auth-request-extra-params=prompt=select account", "--certificate-authority=/tmp/it's.pem"},
			want: `kubectl oidc login '--certificate-authority=/tmp/it'\''s.pem' '--oidc-auth-request-extra-params=prompt=select account'`,
		},
		{
			name: "lists and defaults",
			args: []string{"--oidc-extra-scope=email,groups", "--listen-address=127.0.0.1:8000", "--skip-open-browser"},
			want: "kubectl oidc login --listen-address=127.0.0.1:8000 --oidc-extra-scope=email --oidc-extra-scope=groups --skip-open-browser",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{}
			a.loginFlags = newLoginFlags(&a.opts)
			if err := a.loginFlags.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := a.loginCommandLine(); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestGetTokenArgsOfExecStanzas(t *testing.T) {
	tests := []struct {
		name   string
		exec   *clientcmdapi.ExecConfig
		want   []string
		wantOK bool
	}{
		{name: "kubectl oidc", exec: &clientcmdapi.ExecConfig{Command: "kubectl", Args: []string{"oidc", "get-token", "--a=1"}}, want: []string{"--a=1"}, wantOK: true},
		{name: "full path to kubectl-oidc", exec: &clientcmdapi.ExecConfig{Command: "/usr/local/bin/kubectl-oidc", Args: []string{"get-token"}}, want: []string{}, wantOK: true},
		{name: "windows", exec: &clientcmdapi.ExecConfig{Command: `C:\bin\kubectl.exe`, Args: []string{"oidc", "get-token", "--b"}}, want: []string{"--b"}, wantOK: true},
		{name: "kubelogin", exec: &clientcmdapi.ExecConfig{Command: "kubectl", Args: []string{"oidc-login", "get-token"}}},
		{name: "other plugin", exec: &clientcmdapi.ExecConfig{Command: "aws", Args: []string{"eks", "get-token"}}},
		{name: "kubectl oidc login", exec: &clientcmdapi.ExecConfig{Command: "kubectl", Args: []string{"oidc", "login"}}},
		{name: "no exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := getTokenArgs(&clientcmdapi.AuthInfo{Exec: tt.exec})
			if ok != tt.wantOK || (ok && !slices.Equal(got, tt.want)) {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseLoginArgs(t *testing.T) {
	o, _, err := parseLoginArgs([]string{"--oidc-issuer-url=https://i", "--oidc-client-id=c", "--oidc-extra-scope=email", "--oidc-extra-scope=groups", "--token-cache-storage=disk"})
	if err != nil {
		t.Fatal(err)
	}
	if o.IssuerURL != "https://i" || o.ClientID != "c" || !slices.Equal(o.ExtraScopes, []string{"email", "groups"}) || o.TokenCacheStorage != "disk" || o.GrantType != "auto" {
		t.Errorf("options %+v", o)
	}
	for _, bad := range [][]string{{"--no-such-flag"}, {"positional"}, {"--token-expiry-skew=soon"}} {
		if _, _, err := parseLoginArgs(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestVerbosityFlagForms(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{args: []string{"version"}, want: 0},
		{args: []string{"-v=1", "version"}, want: 1},
		{args: []string{"-v", "2", "version"}, want: 2},
		{args: []string{"--v=3", "version"}, want: 3},
		{args: []string{"version", "--v", "4"}, want: 4},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			a := &app{streams: streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, getenv: func(string) string { return "" }}
			root := newRoot(a)
			root.SetArgs(tt.args)
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if a.verbosity != tt.want || out.String() != "kubectl-oidc dev\n" {
				t.Errorf("verbosity %d, output %q; want %d", a.verbosity, out.String(), tt.want)
			}
		})
	}
}
