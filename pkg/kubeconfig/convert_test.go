package kubeconfig

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// fakeJWT returns an unsigned JWT-shaped token with the given exp.
func fakeJWT(exp int64) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`))
	p, _ := json.Marshal(map[string]any{"iss": "https://issuer.example.com", "exp": exp})
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + ".c2ln"
}

var idToken = fakeJWT(2000000000)

// legacyOne has one auth-provider user next to a token user.
var legacyOne = `apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster:
    server: https://proxy.example.com
users:
- name: admin
  user:
    token: admin-token
- name: alice
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: https://issuer.example.com
        client-id: kubectl
        client-secret: legacy-client-secret
        extra-scopes: email,groups
        refresh-token: legacy-refresh-token
        id-token: ` + idToken + `
contexts:
- name: prod
  context:
    cluster: prod
    user: alice
`

var caData = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))

// legacySeveral has three auth-provider users (one incomplete) and a
// gcp-like provider that is not ours.
var legacySeveral = `apiVersion: v1
kind: Config
users:
- name: bob
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: https://issuer.example.com
        client-id: kubectl
        idp-certificate-authority-data: ` + caData + `
        refresh-token: bob-refresh-token
- name: carol
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: https://other-issuer.example.com
        client-id: other
- name: broken
  user:
    auth-provider:
      name: oidc
      config:
        client-id: kubectl
        refresh-token: broken-refresh-token
- name: gke
  user:
    auth-provider:
      name: gcp
      config:
        access-token: gcp-access-token
`

// fakeMover records the converted users' tokens by user name, with
// legacytokens.Mover's rule for "nothing to move"; fail makes every Move
// with tokens fail.
type fakeMover struct {
	moved map[string]Legacy
	fail  bool
}

func newFakeMover() *fakeMover { return &fakeMover{moved: map[string]Legacy{}} }

func (m *fakeMover) Move(_ context.Context, c Converted) (bool, error) {
	if c.Legacy.RefreshToken == "" && c.Legacy.IDToken == "" {
		return false, nil
	}
	if m.fail {
		return false, fmt.Errorf("save tokens of user %q in the fake token cache: disk full", c.Legacy.UserName)
	}
	m.moved[c.Legacy.UserName] = c.Legacy
	return true, nil
}

func TestConvertRewritesAuthProviderUsers(t *testing.T) {
	tests := []struct {
		name        string
		content     string
		extra       []string
		wantUsers   []string
		wantSkipped []string
		wantMoved   map[string]string // user -> refresh token in the cache
	}{
		{
			name:      "one user",
			content:   legacyOne,
			wantUsers: []string{"alice"},
			wantMoved: map[string]string{"alice": "legacy-refresh-token"},
		},
		{
			name:        "several users",
			content:     legacySeveral,
			extra:       []string{"--token-cache-storage=disk"},
			wantUsers:   []string{"bob", "carol"},
			wantSkipped: []string{"broken"},
			wantMoved:   map[string]string{"bob": "bob-refresh-token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			writeFile(t, path, tt.content, 0o640)
			store := newFakeMover()
			reps, err := ConvertFiles(context.Background(), ConvertOptions{Paths: []string{path}, ExtraArgs: tt.extra, Mover: store})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 1 {
				t.Fatalf("%d reports", len(reps))
			}
			rep := reps[0]
			var users, skipped []string
			for _, c := range rep.Converted {
				users = append(users, c.Legacy.UserName)
			}
			for _, s := range rep.Skipped {
				skipped = append(skipped, s.UserName)
			}
			if strings.Join(users, ",") != strings.Join(tt.wantUsers, ",") || strings.Join(skipped, ",") != strings.Join(tt.wantSkipped, ",") {
				t.Errorf("converted %v skipped %v, want %v and %v", users, skipped, tt.wantUsers, tt.wantSkipped)
			}
			if !rep.Written {
				t.Error("file not written")
			}
			if len(store.moved) != len(tt.wantMoved) || len(rep.TokensMoved) != len(tt.wantMoved) {
				t.Errorf("saved %d entries, moved %v; want %v", len(store.moved), rep.TokensMoved, tt.wantMoved)
			}
			for _, c := range rep.Converted {
				want, ok := tt.wantMoved[c.Legacy.UserName]
				if !ok {
					continue
				}
				if got := store.moved[c.Legacy.UserName].RefreshToken; got != want {
					t.Errorf("user %s: moved refresh token %q, want %q", c.Legacy.UserName, got, want)
				}
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
				t.Errorf("mode %04o, want 0640", st.Mode().Perm())
			}
			golden(t, []byte(readFile(t, path)))

			// Idempotent: a second run finds nothing to do.
			before := readFile(t, path)
			reps, err = ConvertFiles(context.Background(), ConvertOptions{Paths: []string{path}, ExtraArgs: tt.extra, Mover: newFakeMover()})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps[0].Converted) != 0 || reps[0].Written || readFile(t, path) != before {
				t.Errorf("second run changed something: %+v", reps[0])
			}
		})
	}
}

func TestConvertGivesTheMoverTheUsersTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, legacyOne, 0o600)
	store := newFakeMover()
	if _, err := ConvertFiles(context.Background(), ConvertOptions{Paths: []string{path}, Mover: store}); err != nil {
		t.Fatal(err)
	}
	l, ok := store.moved["alice"]
	if !ok || len(store.moved) != 1 {
		t.Fatalf("moved %v, want alice only", store.moved)
	}
	if l.IDToken != idToken || l.RefreshToken != "legacy-refresh-token" || l.IssuerURL != "https://issuer.example.com" || l.ClientID != "kubectl" || strings.Join(l.ExtraScopes, ",") != "email,groups" {
		t.Errorf("moved %+v", l)
	}
}

func TestConvertDryRunShowsRedactedDiffAndChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, legacyOne, 0o600)
	reps, err := ConvertFiles(context.Background(), ConvertOptions{Paths: []string{path}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != legacyOne {
		t.Error("dry run changed the file")
	}
	diff := strings.ReplaceAll(reps[0].Diff, path, "CONFIG")
	for _, secret := range []string{"legacy-client-secret", "legacy-refresh-token", idToken, "admin-token"} {
		if strings.Contains(diff, secret) {
			t.Errorf("diff shows a secret %.20s...", secret)
		}
	}
	golden(t, []byte(diff))
}

func TestConvertLosesNothingOnFailure(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // name -> content
		mode    os.FileMode
		fail    bool
		wantErr string
	}{
		{name: "token cache fails", files: map[string]string{"a": legacyOne}, mode: 0o600, fail: true, wantErr: `save tokens of user "alice" in the fake token cache: disk full (kubeconfig`},
		{name: "malformed file among several", files: map[string]string{"a": legacyOne, "b": malformed}, mode: 0o600, wantErr: "is not a valid kubeconfig"},
		{name: "read-only file", files: map[string]string{"a": legacyOne}, mode: 0o400, wantErr: "is read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for _, n := range []string{"a", "b"} {
				if c, ok := tt.files[n]; ok {
					writeFile(t, filepath.Join(dir, n), c, tt.mode)
					paths = append(paths, filepath.Join(dir, n))
				}
			}
			store := newFakeMover()
			store.fail = tt.fail
			_, err := ConvertFiles(context.Background(), ConvertOptions{Paths: paths, Mover: store})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "legacy-refresh-token") {
				t.Error("error shows the refresh token")
			}
			for n, c := range tt.files {
				if got := readFile(t, filepath.Join(dir, n)); got != c {
					t.Errorf("file %s changed:\n%s", n, got)
				}
			}
		})
	}
}

func TestConvertSeveralKubeconfigFiles(t *testing.T) {
	dir := t.TempDir()
	a, b, missing := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "missing")
	writeFile(t, a, existing, 0o600)
	writeFile(t, b, legacyOne, 0o600)
	t.Setenv("KUBECONFIG", strings.Join([]string{a, missing, b}, string(os.PathListSeparator)))
	store := newFakeMover()
	reps, err := ConvertFiles(context.Background(), ConvertOptions{Paths: Files(""), Mover: store})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].Written || !reps[1].Written || len(store.moved) != 1 {
		t.Fatalf("reports %+v, %d saved", reps, len(store.moved))
	}
	if got := readFile(t, a); got != existing {
		t.Error("file without auth-provider users changed")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("missing KUBECONFIG file was created")
	}
}

func TestConvertPrefersCADataOverCAFileAsTheLegacyPluginDid(t *testing.T) {
	cfg, err := clientcmd.Load([]byte(`apiVersion: v1
kind: Config
users:
- name: u
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: https://issuer.example.com
        client-id: kubectl
        idp-certificate-authority: /etc/ca.pem
        idp-certificate-authority-data: ` + caData + `
`))
	if err != nil {
		t.Fatal(err)
	}
	conv, _ := Convert(cfg, nil, "")
	if len(conv) != 1 {
		t.Fatalf("converted %d", len(conv))
	}
	args := strings.Join(conv[0].Args, " ")
	if strings.Contains(args, "--certificate-authority=") || !strings.Contains(args, "--certificate-authority-data="+caData) {
		t.Errorf("args %s", args)
	}
}
