package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Versions of the real components; e2e/hack/build-bins.sh builds the same ones
// (TestBuildScriptVersions keeps the two in step).
const (
	KubeVersion = "v1.37.2"
	DexVersion  = "v2.41.1"
)

// SkipMissingEnv is the variable a developer sets (to 1) to skip, rather than
// fail, the e2e tests whose real components are not installed. CI never sets it.
const SkipMissingEnv = "KUBE_OIDC_E2E_SKIP_MISSING"

// Component names, for binary lookups and for error messages.
const (
	Etcd          = "etcd"
	KubeAPIServer = "kube-apiserver"
	Dex           = "dex"
	Chromium      = "chromium"
	KubectlBin    = "kubectl"
)

// envOverride names the variable that overrides the path of each component.
var envOverride = map[string]string{
	Etcd:          "KUBE_OIDC_E2E_ETCD",
	KubeAPIServer: "KUBE_OIDC_E2E_KUBE_APISERVER",
	Dex:           "KUBE_OIDC_E2E_DEX",
	Chromium:      "KUBE_OIDC_E2E_CHROMIUM",
	KubectlBin:    "KUBE_OIDC_E2E_KUBECTL",
	// The node's components.
	Containerd:            "KUBE_OIDC_E2E_CONTAINERD",
	Ctr:                   "KUBE_OIDC_E2E_CTR",
	Runc:                  "KUBE_OIDC_E2E_RUNC",
	Busybox:               "KUBE_OIDC_E2E_BUSYBOX",
	Kubelet:               "KUBE_OIDC_E2E_KUBELET",
	KubeControllerManager: "KUBE_OIDC_E2E_KUBE_CONTROLLER_MANAGER",
	KubeScheduler:         "KUBE_OIDC_E2E_KUBE_SCHEDULER",
}

// CacheDir is where e2e/hack/build-bins.sh puts the binaries it builds:
// ${XDG_CACHE_HOME:-$HOME/.cache}/kube-oidc.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("user cache dir: %w", err)
	}
	return filepath.Join(dir, "kube-oidc"), nil
}

// FindBinary returns the path of a real component, or an error that says how
// to get it.
func FindBinary(name string) (string, error) {
	if v := os.Getenv(envOverride[name]); v != "" {
		if _, err := os.Stat(v); err != nil {
			return "", fmt.Errorf("%s from $%s: %w", name, envOverride[name], err)
		}
		return v, nil
	}
	switch name {
	case KubeAPIServer, Dex, Kubelet, KubeControllerManager, KubeScheduler:
		cache, err := CacheDir()
		if err != nil {
			return "", err
		}
		version := KubeVersion
		if name == Dex {
			version = DexVersion
		}
		p := filepath.Join(cache, name+"-"+version, name)
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("%s %s not built at %s: run `make e2e-bins` (or set $%s)", name, version, p, envOverride[name])
			}
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	case KubectlBin:
		// A kubectl matching the API server, when e2e-bins built one.
		if cache, err := CacheDir(); err == nil {
			p := filepath.Join(cache, "kubectl-"+KubeVersion, "kubectl")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("kubectl not found in PATH: run `make e2e-bins` to build one (or set $%s): %w", envOverride[name], err)
		}
		return p, nil
	default:
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s not found in PATH: run `make e2e-deps` (or set $%s): %w", name, envOverride[name], err)
		}
		return p, nil
	}
}

// RequireBinary returns the path of a real component. A missing component
// fails the test with the reason; it skips only when the developer set
// KUBE_OIDC_E2E_SKIP_MISSING=1.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := FindBinary(name)
	if err != nil {
		if os.Getenv(SkipMissingEnv) == "1" {
			t.Skipf("%v (skipped because %s=1)", err, SkipMissingEnv)
		}
		t.Fatalf("e2e dependency missing: %v", err)
	}
	return p
}
