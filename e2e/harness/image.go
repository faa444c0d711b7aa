package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ImageEnv names an OCI layout tar from `make image` to test instead of
// building one.
const ImageEnv = "KUBE_OIDC_E2E_IMAGE"

// ProxyImageTag is the tag ProxyImage builds: the chart's appVersion, so the
// chart's default image reference names it.
const ProxyImageTag = "v0.1.0"

// ProxyImageRepository is the image reference of the chart and kustomize.
const ProxyImageRepository = "ghcr.io/kube-oidc/oidc-proxy"

// ProxyImage returns the path of the oidc-proxy image tar: $KUBE_OIDC_E2E_IMAGE
// when set, else `make image VERSION=ProxyImageTag` run from the checkout into
// a temp dir of t. A failing build fails the test with its output.
func ProxyImage(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ImageEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("$%s: %v", ImageEnv, err)
		}
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "oidc-proxy-image.tar")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "image", "VERSION="+ProxyImageTag, "IMAGE_OUT="+out)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image VERSION=%s in %s: %v\n%s", ProxyImageTag, root, err, b)
	}
	t.Logf("make image took %s: %s", time.Since(start).Round(time.Second), lastLine(string(b)))
	return out
}
