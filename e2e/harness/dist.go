package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DistDirEnv names a directory holding `make dist` output to test instead of
// building one (e.g. the release candidate CI just built).
const DistDirEnv = "KUBE_OIDC_E2E_DIST_DIR"

// DistVersion is the version Dist stamps when it runs `make dist` itself.
const DistVersion = "v0.0.0-e2e.1"

// Dist returns a directory with the output of `make dist`: $KUBE_OIDC_E2E_DIST_DIR
// when set, else `make dist VERSION=DistVersion` run from the checkout into a
// temp dir of t. A failing `make dist` (for example, cmd/kubectl-oidc
// missing) fails the test with its output.
func Dist(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(DistDirEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "oidc.yaml")); err != nil {
			t.Fatalf("$%s=%s holds no make dist output: %v", DistDirEnv, dir, err)
		}
		return dir
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dist")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "dist", "VERSION="+DistVersion, "DIST="+out)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make dist VERSION=%s in %s: %v\n%s", DistVersion, root, err, b)
	}
	t.Logf("make dist took %s", time.Since(start).Round(time.Second))
	return out
}

// DistManifest is dist/oidc.yaml, the rendered krew manifest.
func DistManifest(dir string) string { return filepath.Join(dir, "oidc.yaml") }

// DistArchive is the release archive of name (kubectl-oidc, oidc-proxy) for a platform.
func DistArchive(dir, name, goos, goarch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return filepath.Join(dir, fmt.Sprintf("%s_%s_%s%s", name, goos, goarch, ext))
}
