package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTokenTwins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	const cfg = `apiVersion: v1
kind: Config
clusters:
- name: real
  cluster: {server: https://real.example.com}
- name: other-issuer
  cluster: {server: https://other.example.com}
- name: kubelogin
  cluster: {server: https://legacy.example.com}
- name: same
  cluster: {server: https://new.example.com/}
users:
- name: oidc-real
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubectl-oidc, args: [get-token, --oidc-issuer-url=https://dex.example.com, --oidc-client-id=kubectl]}
- name: oidc-other
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubectl-oidc, args: [get-token, --oidc-issuer-url=https://other-idp.example.com, --oidc-client-id=kubectl]}
- name: kubelogin
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: kubectl, args: [oidc-login, get-token, --oidc-issuer-url, https://dex.example.com, --oidc-client-id, kubectl]}
contexts:
- name: real
  context: {cluster: real, user: oidc-real}
- name: other-issuer
  context: {cluster: other-issuer, user: oidc-other}
- name: kubelogin
  context: {cluster: kubelogin, user: kubelogin}
- name: same-server
  context: {cluster: same, user: oidc-real}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	got := TokenTwins([]string{path, filepath.Join(t.TempDir(), "absent")}, "https://dex.example.com", "kubectl", "", "https://new.example.com")
	want := []TokenTwin{
		{File: path, Context: "kubelogin", User: "kubelogin", Server: "https://legacy.example.com"},
		{File: path, Context: "real", User: "oidc-real", Server: "https://real.example.com"},
	}
	if other := TokenTwins([]string{path}, "https://dex.example.com", "kubectl", "new-cluster", "https://new.example.com"); len(other) != 0 {
		t.Errorf("tokens of another audience are twins: %+v", other)
	}
	if len(got) != len(want) {
		t.Fatalf("TokenTwins = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("TokenTwins[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
