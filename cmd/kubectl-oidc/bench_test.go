package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// The get-token benchmarks run a binary as a whole process, the way kubectl
// does, on a valid cached token (no network): wall time per run (ns/op) and
// the child's peak RSS (getrusage), plus the binary's size. Results and
// the comparison with kubelogin: docs/benchmarks.md.
//
//	go test -run '^$' -bench GetToken -benchtime 200x -count 3 ./cmd/kubectl-oidc/
//	KUBELOGIN_BIN=/path/to/kubelogin go test -run '^$' -bench GetToken ...

var (
	releaseOnce sync.Once
	releaseBin  string
	releaseErr  error
)

// releaseBinary builds kubectl-oidc as a release is built
// (hack/internal/release: CGO off, -trimpath, -s -w, the tag
// kubeconfig_sibling). A cache-hit get-token does not run the sibling
// executable, so it is not built.
func releaseBinary(b *testing.B) string {
	releaseOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubectl-oidc-bench-")
		if err != nil {
			releaseErr = err
			return
		}
		releaseBin = filepath.Join(dir, "kubectl-oidc")
		releaseErr = goBuild(".", releaseBin, "-tags=kubeconfig_sibling")
	})
	if releaseErr != nil {
		b.Fatal(releaseErr)
	}
	return releaseBin
}

// goBuild builds the main package in dir into out, CGO off, -trimpath, -s -w
// and the extra go build flags.
func goBuild(dir, out string, flags ...string) error {
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}, flags...)
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return &buildError{err, output}
	}
	return nil
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

func BenchmarkGetTokenCacheHit(b *testing.B) {
	bin := releaseBinary(b)
	for _, storage := range []string{"disk", "auto"} {
		b.Run("kubectl-oidc/storage="+storage, func(b *testing.B) {
			p := oidctest.New(b)
			benchProcess(b, bin, benchArgs(b, p, storage), p, execInfo("client.authentication.k8s.io/v1", true))
		})
	}
	kubelogin := os.Getenv("KUBELOGIN_BIN")
	if kubelogin == "" {
		return
	}
	b.Run("kubelogin/storage=disk", func(b *testing.B) {
		p := oidctest.New(b)
		benchProcess(b, kubelogin, benchArgs(b, p, "disk"), p, execInfo("client.authentication.k8s.io/v1", true))
	})
}

// benchArgs are get-token's flags for p, valid for kubectl-oidc and
// kubelogin alike (the names are kubelogin's).
func benchArgs(b *testing.B, p *oidctest.Provider, storage string) []string {
	return []string{"get-token",
		"--oidc-issuer-url=" + p.Issuer, "--oidc-client-id=" + p.ClientID, "--oidc-client-secret=" + p.ClientSecret,
		"--certificate-authority=" + p.CAFile(b), "--grant-type=password",
		"--username=" + p.User.Username, "--password=" + p.User.Password,
		"--token-cache-storage=" + storage, "--token-cache-dir=" + b.TempDir(),
	}
}

// benchProcess logs in once, then times b.N cache-hit runs (ns/op, and the
// median as ms-median), and
// reports the peak RSS (median and max over 20 more runs) and the binary
// size.
//
// The peak RSS is read through GNU time (/usr/bin/time -f %M), not from
// this process's wait4: Go starts children with CLONE_VM, and Linux
// carries the shared address space's high-water mark into the child's
// ru_maxrss at exec, so a child of a big test process reports the test's
// RSS (every binary then "uses" the same 17 MiB). GNU time is a 30 KB C
// program: what it carries over is far below what is measured.
func benchProcess(b *testing.B, bin string, args []string, p *oidctest.Provider, env string) {
	home := b.TempDir()
	run := func(prefix ...string) []byte { // stdout
		argv := append(append(prefix, bin), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, env}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v\n%s", bin, err, errOut.Bytes())
		}
		if out.Len() == 0 {
			b.Fatal("no ExecCredential on stdout")
		}
		return out.Bytes()
	}
	run() // logs in and fills the cache
	logins := p.Count("token:password")
	walls := make([]float64, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		run()
		walls = append(walls, float64(time.Since(start))/float64(time.Millisecond))
	}
	b.StopTimer()
	// The mean (ns/op) suffers from other load on a shared machine; the
	// median is the better comparison.
	sort.Float64s(walls)
	b.ReportMetric(walls[len(walls)/2], "ms-median")

	if _, err := os.Stat(gnuTime); err == nil {
		const rssRuns = 20
		rss := make([]float64, 0, rssRuns)
		out := filepath.Join(b.TempDir(), "rss")
		for range rssRuns {
			run(gnuTime, "-f", "%M", "-o", out)
			data, err := os.ReadFile(out)
			if err != nil {
				b.Fatal(err)
			}
			kib, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
			if err != nil {
				b.Fatalf("%s output %q: %v", gnuTime, data, err)
			}
			rss = append(rss, kib/1024)
		}
		sort.Float64s(rss)
		b.ReportMetric(rss[len(rss)/2], "MiB-RSS-median")
		b.ReportMetric(rss[len(rss)-1], "MiB-RSS-max")
	} else {
		b.Logf("no %s (apt-get install time): peak RSS not measured", gnuTime)
	}
	if n := p.Count("token:password") + p.Count("token:refresh_token"); n != logins {
		b.Fatalf("%d requests reached the provider after the first login; want cache hits only", n-logins)
	}
	if st, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB-binary")
	}
}

// gnuTime measures a child's peak RSS (see benchProcess).
const gnuTime = "/usr/bin/time"
