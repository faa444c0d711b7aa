package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// BenchmarkGetTokenVsKubelogin compares a cache-hit get-token of
// kubectl-oidc and kubelogin (KUBELOGIN_BIN; `make bench` passes the e2e
// build) beside the floor of any Go program: a stripped hello world that
// prints an ExecCredential. One op is one round in which every binary runs
// once, in an order that rotates from round to round, so that the load of a
// shared machine falls on all of them alike. It reports each binary's median
// wall time and median peak RSS (GNU time, one run per round) and the ratios
// kubectl-oidc/kubelogin (wall-ratio, rss-ratio).
//
// GETTOKEN_BENCH_BINS=name=path,... adds other kubectl-oidc builds (a
// before and an after of a change) to the same rounds.
//
//	KUBELOGIN_BIN=/path/to/kubelogin go test -run '^$' -bench GetTokenVsKubelogin -benchtime 200x ./cmd/kubectl-oidc/
func BenchmarkGetTokenVsKubelogin(b *testing.B) {
	kubelogin := os.Getenv("KUBELOGIN_BIN")
	if kubelogin == "" {
		b.Skip("KUBELOGIN_BIN is not set (make bench sets it)")
	}
	if _, err := os.Stat(gnuTime); err != nil {
		b.Skipf("no %s (apt-get install time): peak RSS cannot be measured", gnuTime)
	}
	p := oidctest.New(b)
	env := execInfo("client.authentication.k8s.io/v1", true)
	subjects := []*benchSubject{
		{name: "floor", bin: helloBinary(b)},
		{name: "kubectl-oidc", bin: releaseBinary(b), args: benchArgs(b, p, "disk"), login: true},
		{name: "kubelogin", bin: kubelogin, args: benchArgs(b, p, "disk"), login: true},
	}
	if extra := os.Getenv("GETTOKEN_BENCH_BINS"); extra != "" {
		for _, nv := range strings.Split(extra, ",") {
			name, path, ok := strings.Cut(nv, "=")
			if !ok {
				b.Fatalf("GETTOKEN_BENCH_BINS: %q is not name=path", nv)
			}
			subjects = append(subjects, &benchSubject{name: name, bin: path, args: benchArgs(b, p, "disk"), login: true})
		}
	}
	rssOut := filepath.Join(b.TempDir(), "rss")
	for _, s := range subjects {
		s.home = b.TempDir()
		if s.login {
			s.run(b, env) // fills the cache
		}
	}
	logins := p.Count("token:password")

	b.ResetTimer()
	for round := range b.N {
		for i := range subjects {
			s := subjects[(round+i)%len(subjects)]
			start := time.Now()
			s.run(b, env)
			s.walls = append(s.walls, float64(time.Since(start))/float64(time.Millisecond))
		}
		for i := range subjects {
			s := subjects[(round+i)%len(subjects)]
			s.run(b, env, gnuTime, "-f", "%M", "-o", rssOut)
			data, err := os.ReadFile(rssOut)
			if err != nil {
				b.Fatal(err)
			}
			kib, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
			if err != nil {
				b.Fatalf("%s output %q: %v", gnuTime, data, err)
			}
			s.rss = append(s.rss, kib/1024)
		}
	}
	b.StopTimer()
	if n := p.Count("token:password") + p.Count("token:refresh_token"); n != logins {
		b.Fatalf("%d requests reached the provider after the first logins; want cache hits only", n-logins)
	}

	byName := map[string]*benchSubject{}
	for _, s := range subjects {
		byName[s.name] = s
		b.ReportMetric(median(s.walls), "ms-"+s.name)
		b.ReportMetric(median(s.rss), "MiB-RSS-"+s.name)
		if st, err := os.Stat(s.bin); err == nil {
			b.Logf("%s: %s, %.2f MiB", s.name, s.bin, float64(st.Size())/(1<<20))
		}
	}
	kl := byName["kubelogin"]
	for _, s := range subjects {
		if s == kl || s.name == "floor" {
			continue
		}
		suffix := ""
		if s.name != "kubectl-oidc" {
			suffix = "-" + s.name
		}
		b.ReportMetric(median(s.walls)/median(kl.walls), "wall-ratio"+suffix)
		b.ReportMetric(median(s.rss)/median(kl.rss), "rss-ratio"+suffix)
	}
}

// benchSubject is one binary of BenchmarkGetTokenVsKubelogin and what was
// measured of it.
type benchSubject struct {
	name, bin, home string
	args            []string
	login           bool // it needs a first run that logs in
	walls, rss      []float64
}

// run runs the subject once (behind prefix, e.g. GNU time) and checks that
// it answered on stdout.
func (s *benchSubject) run(b *testing.B, env string, prefix ...string) {
	argv := append(append(prefix, s.bin), s.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.home, env}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", s.name, err, errOut.Bytes())
	}
	if out.Len() == 0 {
		b.Fatalf("%s: no ExecCredential on stdout", s.name)
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// helloSource is the floor: a Go program that prints an ExecCredential
// with encoding/json, and does nothing else.
const helloSource = `package main

import (
	"encoding/json"
	"os"
	"time"
)

type status struct {
	Token               string    ` + "`json:\"token\"`" + `
	ExpirationTimestamp time.Time ` + "`json:\"expirationTimestamp\"`" + `
}

type credential struct {
	APIVersion string ` + "`json:\"apiVersion\"`" + `
	Kind       string ` + "`json:\"kind\"`" + `
	Status     status ` + "`json:\"status\"`" + `
}

func main() {
	_ = json.NewEncoder(os.Stdout).Encode(credential{
		APIVersion: "client.authentication.k8s.io/v1", Kind: "ExecCredential",
		Status: status{Token: "hello", ExpirationTimestamp: time.Now().Add(time.Hour).UTC().Truncate(time.Second)},
	})
}
`

// helloBinary builds helloSource as releaseBinary builds kubectl-oidc.
func helloBinary(b *testing.B) string {
	dir := b.TempDir()
	for name, data := range map[string]string{"go.mod": "module hello\n\ngo 1.24\n", "main.go": helloSource} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "hello")
	if err := goBuild(dir, bin); err != nil {
		b.Fatalf("build the hello world floor: %v", err)
	}
	return bin
}
