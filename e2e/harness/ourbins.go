package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Our own binaries.
const (
	OIDCProxy   = "oidc-proxy"
	KubectlOIDC = "kubectl-oidc"
)

// BinDirEnv names a directory holding our binaries as `make build` made them
// (the Makefile's e2e target sets it to bin/). Without it the harness builds
// them from the checkout with `go build`, once per test process.
const BinDirEnv = "KUBE_OIDC_E2E_BIN_DIR"

var ourBins struct {
	mu    sync.Mutex
	dir   string
	built map[string]error
}

// RepoRoot is the directory of the kube-oidc checkout that holds this harness.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the harness source")
	}
	// file is REPO/e2e/harness/ourbins.go
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil
}

// OurBinary returns the path of oidc-proxy or kubectl-oidc: from $KUBE_OIDC_E2E_BIN_DIR
// when set, else built from ../cmd/NAME. Failing to find or build it fails the test.
func OurBinary(t testing.TB, name string) string {
	t.Helper()
	if dir := os.Getenv(BinDirEnv); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s not in $%s=%s: run `make build`: %v", name, BinDirEnv, dir, err)
		}
		return p
	}
	ourBins.mu.Lock()
	defer ourBins.mu.Unlock()
	if ourBins.built == nil {
		ourBins.built = map[string]error{}
	}
	if ourBins.dir == "" {
		dir, err := os.MkdirTemp("", "kube-oidc-e2e-bins-")
		if err != nil {
			t.Fatalf("temp dir for our binaries: %v", err)
		}
		ourBins.dir = dir
	}
	p := filepath.Join(ourBins.dir, name)
	err, done := ourBins.built[name]
	if !done {
		err = buildOurBinary(name, p)
		ourBins.built[name] = err
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// BuildOurBinary builds cmd/NAME of the checkout into out with the given
// build tags (for example proxyprof, docs/benchmarks.md).
func BuildOurBinary(name, out string, tags ...string) error {
	return buildOurBinary(name, out, tags...)
}

func buildOurBinary(name, out string, tags ...string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "./cmd/"+name)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s from %s/cmd/%s: %w\n%s", name, root, name, err, b)
	}
	return nil
}

// CleanupOurBinaries removes the binaries OurBinary built; call it from TestMain.
func CleanupOurBinaries() {
	ourBins.mu.Lock()
	defer ourBins.mu.Unlock()
	if ourBins.dir != "" {
		_ = os.RemoveAll(ourBins.dir)
		ourBins.dir = ""
		ourBins.built = nil
	}
}
