package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of a krew v1alpha2 Plugin manifest the tests read.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version   string `json:"version"`
		Platforms []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestShipKrewManifestInstallsEveryPlatform: the output of `make dist` is a
// release krew accepts. krew's own validator passes the rendered
// dist/oidc.yaml; every platform entry names an archive of dist by URI and
// carries its real SHA-256 (as SHA256SUMS does); real krew installs each
// platform's archive offline (KREW_OS/KREW_ARCH, as validate-krew-manifest's
// install check does) with the binary and LICENSE; a tampered archive is
// refused; and on this machine `kubectl oidc version`, found by kubectl's
// plugin lookup in KREW_ROOT/bin, prints the stamped version.
func TestShipKrewManifestInstallsEveryPlatform(t *testing.T) {
	validate := harness.RequireKrewTool(t, harness.KrewValidateBin)
	krew := harness.RequireKrewTool(t, harness.KrewBin)
	kubectl := harness.RequireBinary(t, harness.KubectlBin)
	dist := harness.Dist(t)
	manifest := harness.DistManifest(dist)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	run := func(t *testing.T, env []string, name string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Dir = t.TempDir()
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	if out, err := run(t, nil, validate, "-manifest", manifest, "-skip-install"); err != nil {
		t.Fatalf("validate-krew-manifest %s: %v\n%s", manifest, err, out)
	}

	raw, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var plugin krewPlugin
	if err := yaml.Unmarshal(raw, &plugin); err != nil {
		t.Fatalf("decode %s: %v", manifest, err)
	}
	if plugin.Metadata.Name != "oidc" || plugin.Kind != "Plugin" || plugin.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" {
		t.Fatalf("manifest is %s %s/%s, want krew v1alpha2 Plugin oidc", plugin.APIVersion, plugin.Kind, plugin.Metadata.Name)
	}
	sums := readSHA256Sums(t, filepath.Join(dist, "SHA256SUMS"))
	archives, err := filepath.Glob(filepath.Join(dist, "*_*_*.*"))
	if err != nil {
		t.Fatal(err)
	}
	// 5 kubectl-oidc and 2 oidc-proxy archives, each with its sum.
	if len(archives) != 7 || len(sums) != 7 {
		t.Errorf("dist holds %d archives and SHA256SUMS %d lines, want 7 each: %v", len(archives), len(sums), archives)
	}
	for _, a := range archives {
		if got := fileSHA256(t, a); sums[filepath.Base(a)] != got {
			t.Errorf("SHA256SUMS says %q for %s, its sha256 is %s", sums[filepath.Base(a)], filepath.Base(a), got)
		}
	}
	wantPlatforms := map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true, "windows/amd64": true}
	if len(plugin.Spec.Platforms) != len(wantPlatforms) {
		t.Errorf("%d platform entries, want %d", len(plugin.Spec.Platforms), len(wantPlatforms))
	}
	for _, p := range plugin.Spec.Platforms {
		goos, goarch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		t.Run(goos+"_"+goarch, func(t *testing.T) {
			if !wantPlatforms[goos+"/"+goarch] {
				t.Fatalf("unexpected platform %s/%s", goos, goarch)
			}
			archive := harness.DistArchive(dist, harness.KubectlOIDC, goos, goarch)
			if path.Base(p.URI) != filepath.Base(archive) {
				t.Errorf("uri %s does not name %s", p.URI, filepath.Base(archive))
			}
			if got := fileSHA256(t, archive); p.SHA256 != got || sums[filepath.Base(archive)] != got {
				t.Errorf("sha256 of %s is %s; manifest says %s, SHA256SUMS says %s", filepath.Base(archive), got, p.SHA256, sums[filepath.Base(archive)])
			}
			root := t.TempDir()
			env := []string{"KREW_ROOT=" + root, "KREW_OS=" + goos, "KREW_ARCH=" + goarch}
			if out, err := run(t, env, krew, "install", "--manifest="+manifest, "--archive="+archive); err != nil {
				t.Fatalf("krew install %s: %v\n%s", filepath.Base(archive), err, out)
			}
			store := filepath.Join(root, "store", "oidc", plugin.Spec.Version)
			for _, f := range []string{p.Bin, "LICENSE"} {
				if _, err := os.Stat(filepath.Join(store, f)); err != nil {
					t.Errorf("krew did not install %s: %v", f, err)
				}
			}
			if goos != runtime.GOOS || goarch != runtime.GOARCH {
				return
			}
			// This machine's platform: kubectl finds the plugin through PATH.
			env = append(env, "PATH="+filepath.Join(root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+t.TempDir())
			out, err := run(t, env, kubectl, "oidc", "version")
			if err != nil {
				t.Fatalf("kubectl oidc version: %v\n%s", err, out)
			}
			if !strings.Contains(out, plugin.Spec.Version) {
				t.Errorf("kubectl oidc version printed %q, want the stamped %s", strings.TrimSpace(out), plugin.Spec.Version)
			}
		})
	}

	t.Run("tampered archive is refused", func(t *testing.T) {
		archive := harness.DistArchive(dist, harness.KubectlOIDC, runtime.GOOS, runtime.GOARCH)
		b, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		tampered := filepath.Join(t.TempDir(), filepath.Base(archive))
		if err := os.WriteFile(tampered, b, 0o644); err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		out, err := run(t, []string{"KREW_ROOT=" + root}, krew, "install", "--manifest="+manifest, "--archive="+tampered)
		if err == nil || !strings.Contains(out, "checksum") {
			t.Fatalf("krew installed a tampered archive (err %v):\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(root, "bin", "kubectl-oidc")); err == nil {
			t.Errorf("kubectl-oidc linked although the install failed")
		}
	})
}

func fileSHA256(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readSHA256Sums reads a `sha256sum` format file: file name -> hex digest.
func readSHA256Sums(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: malformed line %q", name, sc.Text())
		}
		sums[file] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}
