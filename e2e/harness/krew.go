package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// KrewVersion is the krew e2e/hack/build-bins.sh builds (`krew` component):
// krew and validate-krew-manifest from sigs.k8s.io/krew, into
// CacheDir()/krew-KrewVersion/.
const KrewVersion = "v0.4.3"

// Krew tools.
const (
	KrewBin          = "krew"
	KrewValidateBin  = "validate-krew-manifest"
	krewOverrideEnv  = "KUBE_OIDC_E2E_KREW_DIR"
	krewBuildCommand = "run `e2e/hack/build-bins.sh krew` (part of `make e2e-bins`)"
)

// FindKrewTool returns the path of krew or validate-krew-manifest: from
// $KUBE_OIDC_E2E_KREW_DIR when set, else the build-bins.sh cache.
func FindKrewTool(name string) (string, error) {
	dir := os.Getenv(krewOverrideEnv)
	if dir == "" {
		cache, err := CacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(cache, "krew-"+KrewVersion)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s %s not built at %s: %s (or set $%s)", name, KrewVersion, p, krewBuildCommand, krewOverrideEnv)
		}
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// RequireKrewTool is FindKrewTool that fails the test (skips only with
// KUBE_OIDC_E2E_SKIP_MISSING=1, like RequireBinary).
func RequireKrewTool(t testing.TB, name string) string {
	t.Helper()
	p, err := FindKrewTool(name)
	if err != nil {
		if os.Getenv(SkipMissingEnv) == "1" {
			t.Skipf("%v (skipped because %s=1)", err, SkipMissingEnv)
		}
		t.Fatalf("e2e dependency missing: %v", err)
	}
	return p
}
