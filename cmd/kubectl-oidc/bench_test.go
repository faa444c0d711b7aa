package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
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

// releaseBinary builds kubectl-oidc as `make build` does (-trimpath -s -w).
func releaseBinary(b *testing.B) string {
	releaseOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubectl-oidc-bench-")
		if err != nil {
			releaseErr = err
			return
		}
		releaseBin = filepath.Join(dir, "kubectl-oidc")
		out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", releaseBin, ".").CombinedOutput()
		if err != nil {
			releaseErr = &buildError{err, out}
		}
	})
	if releaseErr != nil {
		b.Fatal(releaseErr)
	}
	return releaseBin
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
			args := []string{"get-token",
				"--oidc-issuer-url=" + p.Issuer, "--oidc-client-id=" + p.ClientID, "--oidc-client-secret=" + p.ClientSecret,
				"--certificate-authority=" + p.CAFile(b), "--grant-type=password",
				"--username=" + p.User.Username, "--password=" + p.User.Password,
				"--token-cache-storage=" + storage, "--token-cache-dir=" + b.TempDir(),
			}
			benchProcess(b, bin, args, p, execInfo("client.authentication.k8s.io/v1", true))
		})
	}
	kubelogin := os.Getenv("KUBELOGIN_BIN")
	if kubelogin == "" {
		return
	}
	b.Run("kubelogin/storage=disk", func(b *testing.B) {
		p := oidctest.New(b)
		args := []string{"get-token",
			"--oidc-issuer-url=" + p.Issuer, "--oidc-client-id=" + p.ClientID, "--oidc-client-secret=" + p.ClientSecret,
			"--certificate-authority=" + p.CAFile(b), "--grant-type=password",
			"--username=" + p.User.Username, "--password=" + p.User.Password,
			"--token-cache-storage=disk", "--token-cache-dir=" + b.TempDir(),
		}
		benchProcess(b, kubelogin, args, p, execInfo("client.authentication.k8s.io/v1", true))
	})
}

// benchProcess logs in once, then times b.N cache-hit runs and reports
// peak RSS (median and max over the runs) and the binary size.
func benchProcess(b *testing.B, bin string, args []string, p *oidctest.Provider, env string) {
	home := b.TempDir()
	run := func() (time.Duration, int64, []byte) { // wall time, peak RSS in KiB, stdout
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, env}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v\n%s", bin, err, errOut.Bytes())
		}
		d := time.Since(start)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		return d, ru.Maxrss, out.Bytes() // Maxrss is in KiB on Linux
	}
	_, _, first := run() // logs in and fills the cache
	logins := p.Count("token:password")
	rss := make([]int64, 0, b.N)
	b.ResetTimer()
	for range b.N {
		_, r, out := run()
		rss = append(rss, r)
		if len(out) == 0 || len(first) == 0 {
			b.Fatal("no ExecCredential")
		}
	}
	b.StopTimer()
	if n := p.Count("token:password") + p.Count("token:refresh_token"); n != logins {
		b.Fatalf("%d requests reached the provider during the timed runs; want cache hits only", n-logins)
	}
	sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
	b.ReportMetric(float64(rss[len(rss)/2])/1024, "MiB-RSS-median")
	b.ReportMetric(float64(rss[len(rss)-1])/1024, "MiB-RSS-max")
	if st, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB-binary")
	}
}
