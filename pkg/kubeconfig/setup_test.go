package kubeconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// existing is a kubeconfig with entries setup must not touch.
const existing = `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster:
    server: https://dev.example.com
    certificate-authority: ca.crt
users:
- name: dev-admin
  user:
    token: dev-token
contexts:
- name: dev
  context:
    cluster: dev
    user: dev-admin
    namespace: default
`

const malformed = "apiVersion: v1\nkind: Config\nclusters: {this is: [not, a kubeconfig\n"

func testEntries() Entries {
	return Entries{
		ClusterName: "prod",
		Cluster:     &clientcmdapi.Cluster{Server: "https://proxy.example.com", CertificateAuthorityData: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
		UserName:    "oidc-prod",
		User:        ExecUser([]string{"--oidc-client-id=kubectl", "--oidc-extra-scope=email", "--oidc-issuer-url=https://issuer.example.com"}),
		ContextName: "prod",
		Context:     &clientcmdapi.Context{Cluster: "prod", AuthInfo: "oidc-prod", Namespace: "team-a"},
	}
}

// conflicting has a user named like setup's with other settings.
const conflicting = `apiVersion: v1
kind: Config
users:
- name: oidc-prod
  user:
    token: someone-elses
`

func TestSetupWritesMergedKubeconfig(t *testing.T) {
	tests := []struct {
		name      string
		content   *string // nil: no file
		mode      os.FileMode
		overwrite bool
		noCurrent bool
		wantErr   string
		wantMode  os.FileMode
	}{
		{name: "no file", wantMode: 0o600},
		{name: "empty file", content: ptr(""), mode: 0o644, wantMode: 0o644},
		{name: "existing entries kept", content: ptr(existing), mode: 0o640, wantMode: 0o640},
		{name: "existing entries kept without switching context", content: ptr(existing), mode: 0o600, noCurrent: true, wantMode: 0o600},
		{name: "name conflict refused", content: ptr(conflicting), mode: 0o600, wantErr: `already has user "oidc-prod" with different settings; pass --overwrite`},
		{name: "name conflict overwritten", content: ptr(conflicting), mode: 0o600, overwrite: true, wantMode: 0o600},
		{name: "read-only file refused", content: ptr(existing), mode: 0o400, wantErr: "is read-only"},
		{name: "malformed file refused", content: ptr(malformed), mode: 0o600, wantErr: "is not a valid kubeconfig (nothing was changed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if tt.content != nil {
				writeFile(t, path, *tt.content, tt.mode)
			}
			e := testEntries()
			e.SetCurrentContext = !tt.noCurrent
			res, err := Setup(SetupOptions{Path: path, Entries: e, Overwrite: tt.overwrite})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				if got := readFile(t, path); got != *tt.content {
					t.Errorf("file changed after an error:\n%s", got)
				}
				assertNoTempFiles(t, filepath.Dir(path))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed {
				t.Error("Changed is false on the first run")
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.wantMode {
				t.Errorf("mode %04o, want %04o", st.Mode().Perm(), tt.wantMode)
			}
			assertNoTempFiles(t, filepath.Dir(path))
			golden(t, []byte(readFile(t, path)))
		})
	}
}

func TestSetupTwiceChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, existing, 0o600)
	e := testEntries()
	e.SetCurrentContext = true
	if _, err := Setup(SetupOptions{Path: path, Entries: e}); err != nil {
		t.Fatal(err)
	}
	first := readFile(t, path)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	res, err := Setup(SetupOptions{Path: path, Entries: e})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.Changed {
		t.Error("second run reports a change")
	}
	if got := readFile(t, path); got != first {
		t.Errorf("second run changed the file:\n%s\nfirst:\n%s", got, first)
	}
	if st, _ := os.Stat(path); !st.ModTime().Equal(old) {
		t.Error("second run rewrote the file")
	}
}

func TestSetupDryRunPrintsAndWritesNothing(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			writeFile(t, path, existing, 0o600)
			res, err := Setup(SetupOptions{Path: path, Entries: testEntries(), DryRun: true, Output: format})
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != existing {
				t.Errorf("dry run changed the file:\n%s", got)
			}
			golden(t, res.Output)
		})
	}
}

func TestSetupRefusesUnknownOutputFormat(t *testing.T) {
	_, err := Setup(SetupOptions{Path: filepath.Join(t.TempDir(), "config"), Entries: testEntries(), DryRun: true, Output: "xml"})
	if err == nil || !strings.Contains(err.Error(), `unknown output format "xml"`) {
		t.Fatalf("error %v", err)
	}
}

func TestSetupKeepsSymlinkedKubeconfigLinked(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real-config")
	writeFile(t, real, existing, 0o600)
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Setup(SetupOptions{Path: link, Entries: testEntries()}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symbolic link (%v)", link, err)
	}
	if !strings.Contains(readFile(t, real), "oidc-prod") {
		t.Error("the link's target was not updated")
	}
}

func TestSetupReportsUnreadableKubeconfig(t *testing.T) {
	dir := t.TempDir() // a directory where the file should be
	_, err := Setup(SetupOptions{Path: dir, Entries: testEntries()})
	if err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Fatalf("error %v", err)
	}
}

func TestMergeRefusesIncompleteEntries(t *testing.T) {
	e := testEntries()
	e.Cluster.Server = ""
	_, err := Merge(clientcmdapi.NewConfig(), "config", e, false)
	if err == nil || !strings.Contains(err.Error(), "server URL is empty") {
		t.Fatalf("error %v", err)
	}
}

func TestMergeConflictNamesEveryEntry(t *testing.T) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://elsewhere"}
	cfg.Contexts["prod"] = &clientcmdapi.Context{Cluster: "elsewhere"}
	_, err := Merge(cfg, "config", testEntries(), false)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a ConflictError", err)
	}
	if got := strings.Join(ce.Names, ", "); got != `cluster "prod", context "prod"` {
		t.Errorf("conflicts %s", got)
	}
	if cfg.Clusters["prod"].Server != "https://elsewhere" {
		t.Error("config changed despite the conflict")
	}
}

func TestTargetIsWhereKubectlWrites(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	tests := []struct {
		name     string
		explicit string
		env      string
		exist    []string
		want     string
	}{
		{name: "explicit wins", explicit: c, env: a + ":" + b, exist: []string{b}, want: c},
		{name: "first existing KUBECONFIG file", env: a + ":" + b + ":" + c, exist: []string{b, c}, want: b},
		{name: "first KUBECONFIG file when none exists", env: a + ":" + b, want: a},
		{name: "home config without KUBECONFIG", want: clientcmd.RecommendedHomeFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []string{a, b, c} {
				os.Remove(p)
			}
			for _, p := range tt.exist {
				writeFile(t, p, existing, 0o600)
			}
			t.Setenv("KUBECONFIG", tt.env)
			got, err := Target(tt.explicit)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Target = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSetupWithSeveralKubeconfigFilesWritesOnlyTheTarget(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, existing, 0o600)
	writeFile(t, b, conflicting, 0o600)
	t.Setenv("KUBECONFIG", a+string(os.PathListSeparator)+b)
	target, err := Target("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Setup(SetupOptions{Path: target, Entries: testEntries()}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b); got != conflicting {
		t.Errorf("second KUBECONFIG file changed:\n%s", got)
	}
	golden(t, []byte(readFile(t, a)))
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestSetupRefusesKubeconfigLockedByKubectl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, existing, 0o600)
	writeFile(t, path+".lock", "", 0o600)
	_, err := Setup(SetupOptions{Path: path, Entries: testEntries()})
	if err == nil || !strings.Contains(err.Error(), "is locked by another kubectl") {
		t.Fatalf("error %v", err)
	}
	if readFile(t, path) != existing {
		t.Error("locked file changed")
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Error("someone else's lock file was removed")
	}
}

func TestSetupRemovesItsLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if _, err := Setup(SetupOptions{Path: path, Entries: testEntries()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); err == nil {
		t.Error("lock file left behind")
	}
}
