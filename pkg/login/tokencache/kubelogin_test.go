package tokencache

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

// kubeloginFixtureKeys are the keys of testdata/kubelogin/klgen/main.go,
// whose files in testdata/kubelogin/cache kubelogin's own code wrote.
var kubeloginFixtureKeys = []struct {
	name, file, refresh string
	key                 KubeloginKey
}{
	{
		name: "minimal", file: "6aa012f9bf70ae8ade306a84c78e0abdddfe462b9ef329da98c23d34db752424", refresh: "refresh-minimal",
		key: KubeloginKey{IssuerURL: "https://issuer.example.com", ClientID: "kubectl"},
	},
	{
		name: "full", file: "df12983f9d86f7f526fe50fc93f1eae3ba084733fa86f17358bcad1e89f3b03d", refresh: "refresh-full",
		key: KubeloginKey{
			IssuerURL: "https://issuer.example.com", ClientID: "kubectl", ClientSecret: "client-secret",
			ExtraScopes: []string{"email", "groups"}, RedirectURL: "http://localhost:8000", PKCEMethod: 2,
			RequestHeaders: map[string]string{"Origin": "http://localhost:8000"},
			CACertFilename: []string{"/home/u/ca.pem"}, CACertData: []string{"Zm9v"},
			Renegotiation: int(tls.RenegotiateOnceAsClient), Username: "alice",
		},
	},
	{
		name: "insecure-access-token", file: "d323bf276e82ad277cdd877b6f5ed5a159b4fa8ee00a5b10de96482ccf21ee10", refresh: "refresh-insecure",
		key: KubeloginKey{
			IssuerURL: "https://issuer.example.com", ClientID: "kubectl", PKCEMethod: 1, UseAccessToken: true,
			SkipTLSVerify: true, Renegotiation: int(tls.RenegotiateFreelyAsClient),
		},
	},
}

func TestKubeloginChecksumsMatchKubelogin(t *testing.T) {
	for _, tt := range kubeloginFixtureKeys {
		t.Run(tt.name, func(t *testing.T) {
			sums, err := tt.key.Checksums()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sums, []string{tt.file}) {
				t.Errorf("checksums %v, want kubelogin's %s", sums, tt.file)
			}
			id, refresh, where, err := LoadKubelogin("testdata/kubelogin/cache", false, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if refresh != tt.refresh || id == "" || where != filepath.Join("testdata/kubelogin/cache", tt.file) {
				t.Errorf("got id %d bytes, refresh %q, where %s", len(id), refresh, where)
			}
		})
	}
}

func TestKubeloginChecksumsWithSeveralHeadersCoverEveryOrder(t *testing.T) {
	k := KubeloginKey{IssuerURL: "https://i", ClientID: "c", RequestHeaders: map[string]string{"A": "1", "B": "2"}}
	sums, err := k.Checksums()
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 {
		t.Errorf("%d checksums, want one per order of the two headers", len(sums))
	}
}

func TestLoadKubeloginRejectsMalformedEntries(t *testing.T) {
	key := KubeloginKey{IssuerURL: "https://issuer.example.com", ClientID: "kubectl"}
	sums, _ := key.Checksums()
	tests := []struct {
		name    string
		write   func(path string) error
		wantErr error
		reason  string
	}{
		{name: "absent", write: func(string) error { return nil }, wantErr: ErrNotFound},
		{name: "not JSON", write: func(p string) error { return os.WriteFile(p, []byte(`{"id_token": secret-token`), 0o600) }, wantErr: ErrCorrupt, reason: "invalid JSON"},
		{name: "truncated", write: func(p string) error { return os.WriteFile(p, []byte(`{"id_token":"abc`), 0o600) }, wantErr: ErrCorrupt, reason: "truncated"},
		{name: "wrong type", write: func(p string) error { return os.WriteFile(p, []byte(`{"id_token":42}`), 0o600) }, wantErr: ErrCorrupt, reason: "wrong type"},
		{name: "no tokens", write: func(p string) error { return os.WriteFile(p, []byte(`{}`), 0o600) }, wantErr: ErrCorrupt, reason: "no token"},
		{name: "empty file", write: func(p string) error { return os.WriteFile(p, nil, 0o600) }, wantErr: ErrCorrupt},
		{name: "too large", write: func(p string) error { return os.WriteFile(p, make([]byte, maxRecordSize+1), 0o600) }, wantErr: ErrCorrupt, reason: "larger than"},
		{name: "a directory", write: func(p string) error { return os.Mkdir(p, 0o700) }, wantErr: ErrCorrupt, reason: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.write(filepath.Join(dir, sums[0])); err != nil {
				t.Fatal(err)
			}
			_, _, _, err := LoadKubelogin(dir, false, key)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error %v, want %v with %q", err, tt.wantErr, tt.reason)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error quotes the entry: %v", err)
			}
		})
	}
}

func TestLoadKubeloginFromTheKeyring(t *testing.T) {
	keyring.MockInit()
	key := kubeloginFixtureKeys[0].key
	if _, _, _, err := LoadKubelogin("", true, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty keyring: %v, want ErrNotFound", err)
	}
	data, err := os.ReadFile(filepath.Join("testdata/kubelogin/cache", kubeloginFixtureKeys[0].file))
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Set("kubelogin", "kubelogin/tokencache/"+kubeloginFixtureKeys[0].file, string(data)); err != nil {
		t.Fatal(err)
	}
	_, refresh, where, err := LoadKubelogin("", true, key)
	if err != nil || refresh != "refresh-minimal" || !strings.Contains(where, "kubelogin/tokencache/") {
		t.Fatalf("got %q, %s, %v", refresh, where, err)
	}
}

func TestKubeloginDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := KubeloginDefaultDir(env(nil), "/home/u"); got != "/home/u/.kube/cache/oidc-login" {
		t.Errorf("default %s", got)
	}
	if got := KubeloginDefaultDir(env(map[string]string{"KUBECACHEDIR": "/c"}), "/home/u"); got != "/c/oidc-login" {
		t.Errorf("KUBECACHEDIR %s", got)
	}
}
