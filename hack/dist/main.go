// Command dist builds the release files of kube-oidc into one directory: the
// binaries for every platform (CGO off, -trimpath, version stamped), one
// .tar.gz (.zip for Windows) per binary and platform holding the binary and
// LICENSE, SHA256SUMS, and the krew manifest rendered from krew/oidc.yaml with
// the archives' real URIs and checksums. Archives are reproducible: entries
// sorted, fixed owner, modes and modification time (SOURCE_DATE_EPOCH, else
// the last commit's time). Run it with `make dist VERSION=vX.Y.Z`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kube-oidc/kube-oidc/hack/internal/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "dist: %v\n", err)
		os.Exit(1)
	}
}

// Target is one binary for one platform.
type Target struct {
	Name   string // kubectl-oidc or oidc-proxy (its directory under cmd/)
	OS     string
	Arch   string
	Binary string // built file name: Name, plus .exe on Windows
	// FIPS builds with GOFIPS140=fipsModule: the binary runs in FIPS
	// 140-3 mode with the frozen, validated Go Cryptographic Module; its
	// archive is NAME-fips_OS_ARCH.
	FIPS bool
}

// fipsModule is the GOFIPS140 value of the FIPS builds: the Go
// Cryptographic Module v1.0.0, frozen in GOROOT/lib/fips140 (no download).
const fipsModule = "v1.0.0"

// variant is the target's name in archive and build directory names.
func (t Target) variant() string {
	if t.FIPS {
		return t.Name + "-fips"
	}
	return t.Name
}

// Archive is the file name of the target's release archive.
func (t Target) Archive() string {
	ext := ".tar.gz"
	if t.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s%s", t.variant(), t.OS, t.Arch, ext)
}

// buildDir is the target's directory under the build directory.
func (t Target) buildDir() string { return t.variant() + "_" + t.OS + "_" + t.Arch }

// built is one executable of a target's archive: ./cmd/NAME built with
// Flags and Env into File.
type built struct {
	File  string
	Flags []string
	Env   []string
}

// Builds are the executables of the target's archive. kubectl-oidc is two:
// kubectl-oidc, built with the tag kubeconfig_sibling, runs the same command
// built without it, kubectl-oidc-kubeconfig, for setup, convert and whoami,
// so that get-token does not link client-go (cmd/kubectl-oidc/sibling.go).
func (t Target) Builds() []built {
	if t.FIPS {
		return []built{{File: t.Binary, Env: []string{"GOFIPS140=" + fipsModule}}}
	}
	if t.Name != "kubectl-oidc" {
		return []built{{File: t.Binary}}
	}
	ext := strings.TrimPrefix(t.Binary, t.Name)
	return []built{
		{File: t.Binary, Flags: []string{"-tags=kubeconfig_sibling"}},
		{File: "kubectl-oidc-kubeconfig" + ext},
	}
}

// Platforms of each released binary (flag values: name=os/arch,os/arch).
var defaultPlatforms = map[string][]string{
	"kubectl-oidc": {"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"},
	"oidc-proxy":   {"linux/amd64", "linux/arm64"},
}

// semver is krew's rule for a plugin version: v, then semantic version 2.0.
var semver = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

type config struct {
	root, out, version, ldflags, baseURL, manifest string
	jobs                                           int
	fips                                           bool
	mtime                                          time.Time
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.root, "root", ".", "checkout to build (holds go.mod, cmd/, LICENSE, krew/oidc.yaml)")
	fs.StringVar(&c.out, "out", "dist", "output directory (emptied first)")
	fs.StringVar(&c.version, "version", "", "release version, vX.Y.Z (semantic version, as krew requires)")
	fs.StringVar(&c.ldflags, "ldflags", "", "go build -ldflags (the Makefile's LDFLAGS, which stamp the version)")
	fs.StringVar(&c.baseURL, "base-url", "", "URL the archives are published under (default: the GitHub release of -version)")
	fs.StringVar(&c.manifest, "krew-template", "krew/oidc.yaml", "krew manifest template, relative to -root")
	fs.IntVar(&c.jobs, "jobs", runtime.NumCPU(), "go builds run at once")
	fs.BoolVar(&c.fips, "fips", false, "also build oidc-proxy-fips archives: oidc-proxy with GOFIPS140="+fipsModule+" (FIPS 140-3 mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !semver.MatchString(c.version) {
		return fmt.Errorf("version %q is not a release version: run `make dist VERSION=vX.Y.Z`", c.version)
	}
	if c.baseURL == "" {
		c.baseURL = "https://github.com/kube-oidc/kube-oidc/releases/download/" + c.version
	}
	c.baseURL = strings.TrimSuffix(c.baseURL, "/")
	mtime, err := release.SourceDate(ctx, c.root)
	if err != nil {
		return err
	}
	c.mtime = mtime

	targets, missing := targetsIn(c.root, c.fips)
	if len(targets) == 0 {
		return fmt.Errorf("nothing to build: no cmd/kubectl-oidc or cmd/oidc-proxy in %s", c.root)
	}
	if err := os.RemoveAll(c.out); err != nil {
		return fmt.Errorf("empty %s: %w", c.out, err)
	}
	buildDir := filepath.Join(c.out, ".build")
	license, err := os.ReadFile(filepath.Join(c.root, "LICENSE"))
	if err != nil {
		return fmt.Errorf("LICENSE goes into every archive: %w", err)
	}
	start := time.Now()
	var mu sync.Mutex
	sums := map[string]string{}
	pack := func(t Target) error {
		var files []File
		for _, b := range t.Builds() {
			bin, err := os.ReadFile(filepath.Join(buildDir, t.buildDir(), b.File))
			if err != nil {
				return fmt.Errorf("built %s: %w", b.File, err)
			}
			files = append(files, File{Name: b.File, Mode: 0o755, Data: bin})
		}
		files = append(files, File{Name: "LICENSE", Mode: 0o644, Data: license})
		sum, err := writeArchive(filepath.Join(c.out, t.Archive()), files, c.mtime)
		if err != nil {
			return err
		}
		mu.Lock()
		sums[t.Archive()] = sum
		mu.Unlock()
		return nil
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := buildAll(ctx, c, buildDir, targets, pack); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "dist: built and packed %d binaries in %s\n", len(targets), time.Since(start).Round(100*time.Millisecond))
	if err := os.RemoveAll(buildDir); err != nil {
		return fmt.Errorf("remove %s: %w", buildDir, err)
	}
	if err := os.WriteFile(filepath.Join(c.out, "SHA256SUMS"), []byte(sha256sums(sums)), 0o644); err != nil {
		return fmt.Errorf("write SHA256SUMS: %w", err)
	}
	if missing != "" {
		return fmt.Errorf("%s: its archives and %s/oidc.yaml were not made (the oidc-proxy archives were)", missing, c.out)
	}
	tmpl, err := os.ReadFile(filepath.Join(c.root, c.manifest))
	if err != nil {
		return fmt.Errorf("krew manifest template: %w", err)
	}
	plugin := map[string]string{}
	for name, sum := range sums {
		if strings.HasPrefix(name, "kubectl-oidc_") {
			plugin[name] = sum
		}
	}
	manifest, err := renderKrew(string(tmpl), c.version, c.baseURL, plugin)
	if err != nil {
		return fmt.Errorf("render %s: %w", c.manifest, err)
	}
	if err := os.WriteFile(filepath.Join(c.out, "oidc.yaml"), manifest, 0o644); err != nil {
		return fmt.Errorf("write oidc.yaml: %w", err)
	}
	fmt.Fprintf(os.Stderr, "dist: %d archives, SHA256SUMS and oidc.yaml for %s in %s (%s)\n", len(sums), c.version, c.out, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// targetsIn lists the targets whose cmd/NAME directory exists, with the
// FIPS variants of oidc-proxy when fips is set; missing names a binary
// whose directory is absent.
func targetsIn(root string, fips bool) (targets []Target, missing string) {
	for _, name := range []string{"kubectl-oidc", "oidc-proxy"} {
		if _, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil {
			missing = fmt.Sprintf("cmd/%s does not exist", name)
			continue
		}
		for _, p := range defaultPlatforms[name] {
			goos, goarch, _ := strings.Cut(p, "/")
			bin := name
			if goos == "windows" {
				bin += ".exe"
			}
			targets = append(targets, Target{Name: name, OS: goos, Arch: goarch, Binary: bin})
			if fips && name == "oidc-proxy" {
				targets = append(targets, Target{Name: name, OS: goos, Arch: goarch, Binary: bin, FIPS: true})
			}
		}
	}
	return targets, missing
}
