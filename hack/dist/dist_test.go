package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/hack/internal/release"
)

func TestVersionMustBeKrewSemver(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"v1.2.3", true},
		{"v0.1.0-rc.1", true},
		{"v1.0.0+build.5", true},
		{"1.2.3", false},   // krew wants the v
		{"v1.2", false},    // not semver
		{"v01.2.3", false}, // leading zero
		{"5080e08-dirty", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := semver.MatchString(tt.version); got != tt.ok {
			t.Errorf("semver(%q) = %v, want %v", tt.version, got, tt.ok)
		}
	}
}

func TestRunRefusesNonReleaseVersion(t *testing.T) {
	err := run(t.Context(), []string{"-root", t.TempDir(), "-out", filepath.Join(t.TempDir(), "d"), "-version", "abc123-dirty"})
	if err == nil || !strings.Contains(err.Error(), "make dist VERSION=vX.Y.Z") {
		t.Fatalf("err = %v, want the hint to give VERSION", err)
	}
}

func TestArchivesAreReproducibleAndHoldBinaryAndLicense(t *testing.T) {
	mtime := time.Unix(1700000000, 0).UTC()
	files := []File{
		{Name: "kubectl-oidc", Mode: 0o755, Data: []byte("binary")},
		{Name: "LICENSE", Mode: 0o644, Data: []byte("license text")},
	}
	for _, name := range []string{"kubectl-oidc_linux_amd64.tar.gz", "kubectl-oidc_windows_amd64.zip"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a-"+name), filepath.Join(dir, "b-"+name)
			sumA, err := writeArchive(a, files, mtime)
			if err != nil {
				t.Fatal(err)
			}
			// Reversed input order, written later: the same bytes.
			sumB, err := writeArchive(b, []File{files[1], files[0]}, mtime)
			if err != nil {
				t.Fatal(err)
			}
			if sumA != sumB {
				t.Errorf("same content, different archives: %s vs %s", sumA, sumB)
			}
			got, order := readArchive(t, a)
			want := map[string]entry{
				"LICENSE":      {mode: 0o644, data: "license text", mtime: mtime},
				"kubectl-oidc": {mode: 0o755, data: "binary", mtime: mtime},
			}
			if len(got) != len(want) {
				t.Fatalf("entries %v, want %v", got, want)
			}
			for n, w := range want {
				g := got[n]
				if g.mode != w.mode || g.data != w.data || !g.mtime.Equal(w.mtime) {
					t.Errorf("%s: got %+v, want %+v", n, g, w)
				}
			}
			if order[0] != "LICENSE" {
				t.Errorf("entries not sorted: %v", order)
			}
		})
	}
}

func TestRenderKrewFillsURIAndChecksum(t *testing.T) {
	tmpl := "version: {{ .Version }}\nuri: {{ uri \"a.tar.gz\" }}\nsha256: {{ sha256 \"a.tar.gz\" }}\n"
	tests := []struct {
		name     string
		archives map[string]string
		want     string
		wantErr  string
	}{
		{
			name:     "every archive used",
			archives: map[string]string{"a.tar.gz": "abc"},
			want:     "version: v1.0.0\nuri: https://example.com/v1.0.0/a.tar.gz\nsha256: abc\n",
		},
		{name: "template names an archive not built", archives: map[string]string{}, wantErr: `archive "a.tar.gz" was not built`},
		{name: "archive without platform entry", archives: map[string]string{"a.tar.gz": "abc", "b.zip": "def"}, wantErr: "no platform entry for b.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderKrew(tmpl, "v1.0.0", "https://example.com/v1.0.0", tt.archives)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// The shipped template has one entry per kubectl-oidc target.
func TestKubectlOIDCArchivesHoldTheKubeconfigSibling(t *testing.T) {
	tests := []struct {
		target Target
		want   []built
	}{
		{Target{Name: "kubectl-oidc", OS: "linux", Arch: "amd64", Binary: "kubectl-oidc"},
			[]built{{File: "kubectl-oidc", Flags: []string{"-tags=kubeconfig_sibling"}}, {File: "kubectl-oidc-kubeconfig"}}},
		{Target{Name: "kubectl-oidc", OS: "windows", Arch: "amd64", Binary: "kubectl-oidc.exe"},
			[]built{{File: "kubectl-oidc.exe", Flags: []string{"-tags=kubeconfig_sibling"}}, {File: "kubectl-oidc-kubeconfig.exe"}}},
		{Target{Name: "oidc-proxy", OS: "linux", Arch: "arm64", Binary: "oidc-proxy"}, []built{{File: "oidc-proxy"}}},
	}
	for _, tt := range tests {
		if got := tt.target.Builds(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s: builds %+v, want %+v", tt.target.Name, tt.target.OS, got, tt.want)
		}
	}
}

func TestShippedKrewTemplateCoversEveryPlatform(t *testing.T) {
	tmpl, err := os.ReadFile("../../krew/oidc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	archives := map[string]string{}
	for _, p := range defaultPlatforms["kubectl-oidc"] {
		goos, goarch, _ := strings.Cut(p, "/")
		archives[Target{Name: "kubectl-oidc", OS: goos, Arch: goarch}.Archive()] = strings.Repeat("0", 64)
	}
	out, err := renderKrew(string(tmpl), "v1.2.3", "https://example.com/v1.2.3", archives)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version: v1.2.3", "uri: https://example.com/v1.2.3/kubectl-oidc_windows_amd64.zip", "bin: kubectl-oidc.exe", "from: kubectl-oidc-kubeconfig.exe"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered manifest lacks %q", want)
		}
	}
	if strings.Contains(string(out), "{{") {
		t.Errorf("template syntax left in the output:\n%s", out)
	}
}

func TestSHA256SumsIsSortedSha256sumFormat(t *testing.T) {
	got := sha256sums(map[string]string{"b.zip": "22", "a.tar.gz": "11"})
	if want := "11  a.tar.gz\n22  b.zip\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

type entry struct {
	mode  os.FileMode
	data  string
	mtime time.Time
}

// readArchive returns an archive's entries by name, and their names in
// archive order.
func readArchive(t *testing.T, path string) (entries map[string]entry, order []string) {
	t.Helper()
	out := map[string]entry{}
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out[f.Name] = entry{mode: f.Mode().Perm(), data: string(b), mtime: f.Modified.UTC()}
			order = append(order, f.Name)
		}
		return out, order
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Uid != 0 || h.Gid != 0 || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: uid %d gid %d type %c, want 0 0 regular", h.Name, h.Uid, h.Gid, h.Typeflag)
		}
		out[h.Name] = entry{mode: os.FileMode(h.Mode).Perm(), data: string(data), mtime: h.ModTime.UTC()}
		order = append(order, h.Name)
	}
	return out, order
}

// With -fips, oidc-proxy gets a FIPS variant per platform, built with
// GOFIPS140 and archived as oidc-proxy-fips_OS_ARCH; without it, none.
func TestFIPSTargets(t *testing.T) {
	plain, _ := targetsIn("../..", false)
	withFIPS, _ := targetsIn("../..", true)
	var fips []Target
	for _, tg := range withFIPS {
		if tg.FIPS {
			fips = append(fips, tg)
		}
	}
	if len(withFIPS) != len(plain)+len(defaultPlatforms["oidc-proxy"]) || len(fips) != len(defaultPlatforms["oidc-proxy"]) {
		t.Fatalf("%d targets with -fips (%d FIPS), %d without", len(withFIPS), len(fips), len(plain))
	}
	for _, tg := range fips {
		if tg.Name != "oidc-proxy" || tg.Archive() != "oidc-proxy-fips_"+tg.OS+"_"+tg.Arch+".tar.gz" {
			t.Errorf("FIPS target %+v, archive %s", tg, tg.Archive())
		}
		if b := tg.Builds(); len(b) != 1 || !reflect.DeepEqual(b[0].Env, []string{"GOFIPS140=v1.0.0"}) || b[0].File != "oidc-proxy" {
			t.Errorf("FIPS builds %+v", b)
		}
		plainDir := Target{Name: tg.Name, OS: tg.OS, Arch: tg.Arch}.buildDir()
		if tg.buildDir() == plainDir {
			t.Errorf("FIPS and plain builds share %s", plainDir)
		}
	}
}

// The FIPS build of oidc-proxy (as `make dist FIPS=1` makes it) runs in
// FIPS 140-3 mode with the frozen module: `oidc-proxy version` says so.
func TestFIPSBuildReportsFIPSMode(t *testing.T) {
	tg := Target{Name: "oidc-proxy", OS: runtime.GOOS, Arch: runtime.GOARCH, Binary: "oidc-proxy", FIPS: true}
	b := tg.Builds()[0]
	bin := filepath.Join(t.TempDir(), b.File)
	if err := release.BuildEnv(t.Context(), "../..", tg.Name, tg.OS, tg.Arch, "", bin, b.Env, b.Flags...); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	if want := "oidc-proxy dev (FIPS 140-3 mode on: Go Cryptographic Module v1.0.0)\n"; string(out) != want {
		t.Fatalf("version: %q, want %q", out, want)
	}
}
