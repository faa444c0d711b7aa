package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestBuildScriptVersions keeps e2e/hack/build-bins.sh and the versions the
// harness looks up in step: a drift would make the harness miss binaries that
// `make e2e-bins` built.
func TestBuildScriptVersions(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "e2e", "hack", "build-bins.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ variable, want string }{
		{"KUBE_VERSION", KubeVersion},
		{"DEX_VERSION", DexVersion},
		{"KREW_VERSION", KrewVersion},
		{"KUBELOGIN_VERSION", KubeloginVersion},
	} {
		m := regexp.MustCompile(`(?m)^` + tt.variable + `="([^"]+)"`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("build-bins.sh sets no %s", tt.variable)
		}
		if string(m[1]) != tt.want {
			t.Errorf("build-bins.sh %s=%s, harness wants %s", tt.variable, m[1], tt.want)
		}
	}
}

// TestFindBinaryExplainsWhatToRun: a missing component's error names the make
// target that provides it, so a CI failure says what to do.
func TestFindBinaryExplainsWhatToRun(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	for _, tt := range []struct{ name, want string }{
		{KubeAPIServer, "make e2e-bins"},
		{Dex, "make e2e-bins"},
		{Etcd, "make e2e-deps"},
		{Chromium, "make e2e-deps"},
		{KubectlBin, "make e2e-bins"},
		{Kubelet, "make e2e-bins"},
		{KubeControllerManager, "make e2e-bins"},
		{KubeScheduler, "make e2e-bins"},
		{Containerd, "make e2e-deps"},
		{Runc, "make e2e-deps"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FindBinary(tt.name)
			if err == nil || !regexp.MustCompile(regexp.QuoteMeta(tt.want)).MatchString(err.Error()) {
				t.Fatalf("FindBinary(%s) error = %v, want one mentioning %q", tt.name, err, tt.want)
			}
		})
	}
}
