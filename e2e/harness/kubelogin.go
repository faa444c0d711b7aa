package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// KubeloginVersion is the kubelogin (int128/kubelogin) e2e/hack/build-bins.sh
// builds (`kubelogin` component) into CacheDir()/kubelogin-KubeloginVersion/.
const KubeloginVersion = "v1.34.0"

const kubeloginOverrideEnv = "KUBE_OIDC_E2E_KUBELOGIN"

// FindKubelogin returns the path of kubelogin: $KUBE_OIDC_E2E_KUBELOGIN
// when set, else the build-bins.sh cache.
func FindKubelogin() (string, error) {
	if p := os.Getenv(kubeloginOverrideEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("kubelogin from $%s: %w", kubeloginOverrideEnv, err)
		}
		return p, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(cache, "kubelogin-"+KubeloginVersion, "kubelogin")
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("kubelogin %s not built at %s: run `e2e/hack/build-bins.sh kubelogin` (part of `make e2e-bins`; or set $%s)", KubeloginVersion, p, kubeloginOverrideEnv)
		}
		return "", fmt.Errorf("kubelogin: %w", err)
	}
	return p, nil
}

// RequireKubelogin is FindKubelogin that fails the test (skips only with
// KUBE_OIDC_E2E_SKIP_MISSING=1, like RequireBinary).
func RequireKubelogin(t testing.TB) string {
	t.Helper()
	p, err := FindKubelogin()
	if err != nil {
		if os.Getenv(SkipMissingEnv) == "1" {
			t.Skipf("%v (skipped because %s=1)", err, SkipMissingEnv)
		}
		t.Fatalf("e2e dependency missing: %v", err)
	}
	return p
}
