package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBuildScriptKrewVersion keeps build-bins.sh's krew and the one the harness looks up in step.
func TestBuildScriptKrewVersion(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "e2e", "hack", "build-bins.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^KREW_VERSION="([^"]+)"`).FindSubmatch(script)
	if m == nil || string(m[1]) != KrewVersion {
		t.Fatalf("build-bins.sh KREW_VERSION=%q, harness wants %s", m, KrewVersion)
	}
}

// TestFindKrewToolExplainsWhatToRun: a missing krew names the command that builds it.
func TestFindKrewToolExplainsWhatToRun(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(krewOverrideEnv, "")
	for _, name := range []string{KrewBin, KrewValidateBin} {
		_, err := FindKrewTool(name)
		if err == nil || !strings.Contains(err.Error(), "build-bins.sh krew") {
			t.Errorf("FindKrewTool(%s) error = %v, want one naming build-bins.sh krew", name, err)
		}
	}
}
