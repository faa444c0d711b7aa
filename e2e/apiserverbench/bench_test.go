package apiserverbench

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	"github.com/kube-oidc/kube-oidc/internal/loadbench"
)

var (
	flagRounds      = flag.Int("rounds", 5, "rounds of GET and LIST loads; each round runs direct, bare and oidc-proxy back to back, and ratios to bare are taken per round (medians reported)")
	flagDuration    = flag.Duration("duration", 2*time.Second, "measured time of each load run")
	flagWarmup      = flag.Duration("warmup", time.Second, "unmeasured time before each load run")
	flagConcurrency = flag.Int("concurrency", 32, "closed-loop keep-alive clients of each load run")
	flagMaxRequests = flag.Int64("max-requests", 2_000_000, "hard cap on requests per load run")
	flagListItems   = flag.Int("list-items", 50, "configmaps in the LIST (the GET reads one of them)")
	flagItemBytes   = flag.Int("item-bytes", 1024, "bytes of data in each listed configmap")
	flagLoads       = flag.Bool("loads", true, "run the GET and LIST loads")
	flagStreams     = flag.String("watch-streams", "200", "comma-separated numbers of watch streams for the fan-out (empty: no watch fan-out), e.g. 1000,5000")
	flagEvents      = flag.Int("watch-events", 20, "configmap updates sent to the watch streams at each size")
	flagWatchHTTP2  = flag.Bool("watch-http2", false, "also run the fan-out with HTTP/2 watch clients (streams multiplexed on few connections)")
	flagSlowEvents  = flag.Int("slow-events", 60, "updates of a large configmap sent while one watcher stops reading (0: no slow-client run)")
	flagSlowBytes   = flag.Int("slow-event-bytes", 256<<10, "bytes of data in the slow watcher's configmap")
	flagBareH2      = flag.Bool("bare-upstream-http2", false, "the bare proxy speaks HTTP/2 to the API server (default: an HTTP/1.1 keep-alive pool)")
	flagCPUProfile  = flag.String("cpuprofile", "", "write a CPU profile of oidc-proxy (built with -tags proxyprof) under the LIST load from HTTP/1.1 clients to FILE.PID")
	flagProfileFor  = flag.Duration("cpuprofile-for", 10*time.Second, "length of the CPU profile")
	flagOut         = flag.String("out", "", "also write the markdown report to this file")
	flagCompare     = flag.String("compare-proxy-bin", "", "another oidc-proxy binary (for example a build of an earlier commit) run as the target \"compare\" next to oidc-proxy in every load round, for a before/after under the same conditions")
)

const (
	namespace = "bench"
	// readers is the token's group, which may read configmaps.
	readers = "bench-readers"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(bareEnv); cfg != "" {
		serveBare(cfg) // this test binary re-executed as the bare proxy
		return
	}
	code := m.Run()
	harness.CleanupOurBinaries()
	os.Exit(code)
}

// target is one way to the API server the loads are sent through.
type target struct {
	name  string
	url   string
	caPEM []byte
	token string
	pid   int // the process measured: the proxy, or kube-apiserver for direct
	proxy bool
}

// BenchmarkAPIServer runs once whatever b.N: run it with -benchtime 1x
// (make bench-apiserver).
func BenchmarkAPIServer(b *testing.B) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		// Go raises the soft limit to the hard one at start-up; each
		// stream holds one socket here (HTTP/1.1 clients).
		need := uint64(maxStreams()) + 1024
		if lim.Cur < need {
			lim.Cur = min(need, lim.Max)
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
		if lim.Cur < need {
			b.Fatalf("RLIMIT_NOFILE is %d, the watch streams need %d: raise the hard limit (ulimit -Hn)", lim.Cur, need)
		}
	}
	api := harness.StartAPIServer(b)
	iss := harness.StartIssuer(b, "bench")
	admin := api.AdminClient(b)
	ctx := b.Context()
	if err := createObjects(ctx, admin); err != nil {
		b.Fatal(err)
	}
	token := iss.IDToken(b, "bench@example.com", []string{readers})

	proxy := harness.StartProxyForIssuer(b, api, iss, harness.ProxyOptions{})
	user, err := whoAmI(ctx, proxy.RESTConfig(token))
	if err != nil {
		proxy.Fatalf(b, "SelfSubjectReview through oidc-proxy: %v", err)
	}
	b.Logf("oidc-proxy forwards the token as %+v", user)
	u, err := url.Parse(api.URL)
	if err != nil {
		b.Fatal(err)
	}
	apiPort, _ := strconv.Atoi(u.Port())
	direct := target{name: "direct", url: api.URL, caPEM: api.CAPEM, token: api.AdminToken, pid: api.Process.Pid()}
	// startProxies starts a bare proxy and an oidc-proxy; stop ends both.
	startProxies := func() (bare, oidc target, stop func()) {
		bp := startBare(b, api, user, *flagBareH2)
		p := proxy
		if p == nil {
			p = harness.StartProxyForIssuer(b, api, iss, harness.ProxyOptions{})
		}
		proxy = nil
		return target{name: "bare", url: bp.url, caPEM: bp.caPEM, token: token, pid: bp.process.Pid(), proxy: true},
			target{name: "oidc-proxy", url: p.URL, caPEM: p.CA.CertPEM, token: token, pid: p.Process.Pid(), proxy: true},
			func() { bp.process.Stop(); p.Process.Stop() }
	}
	bare, oidc, stop := startProxies()
	defer func() { stop() }() // the last ones started (stopping is idempotent)
	targets := []target{direct, bare, oidc}
	if *flagCompare != "" {
		bin, err := filepath.Abs(*flagCompare)
		if err != nil {
			b.Fatal(err)
		}
		c := harness.StartProxyForIssuer(b, api, iss, harness.ProxyOptions{Binary: bin})
		defer c.Process.Stop()
		targets = append(targets, target{name: "compare", url: c.URL, caPEM: c.CA.CertPEM, token: token, pid: c.Process.Pid(), proxy: true})
	}

	rep := &report{started: time.Now(), user: user.Username, bareUpstream: "HTTP/1.1 keep-alive pool"}
	if *flagBareH2 {
		rep.bareUpstream = "HTTP/2"
	}
	if *flagLoads {
		rep.loads = runLoads(ctx, b, targets)
		if *flagCompare != "" {
			rep.compare = *flagCompare
		}
	}
	for _, w := range streamCounts(b) {
		for _, h2 := range []bool{false, true} {
			if h2 && !*flagWatchHTTP2 {
				continue
			}
			// Fresh proxy processes for each fan-out, so that memory the
			// previous one left to the process does not hide what the
			// streams take.
			stop()
			bare, oidc, stop = startProxies()
			for _, t := range []target{direct, bare, oidc} {
				r, err := fanOut(ctx, admin, t, w, *flagEvents, h2, apiPort)
				if err != nil {
					b.Fatalf("watch fan-out, %d streams through %s: %v", w, t.name, err)
				}
				fmt.Printf("fan-out %s\n", r.summary())
				rep.watches = append(rep.watches, r)
			}
		}
	}
	if *flagSlowEvents > 0 {
		stop()
		bare, oidc, stop = startProxies()
		for _, t := range []target{direct, bare, oidc} {
			r, err := slowClient(ctx, admin, t, *flagSlowEvents, *flagSlowBytes)
			if err != nil {
				b.Fatalf("slow client through %s: %v", t.name, err)
			}
			rep.slow = append(rep.slow, r)
		}
	}
	if *flagCPUProfile != "" {
		stop() // the profiled proxy runs alone
		// The proxy writes it from its own working directory.
		if *flagCPUProfile, err = filepath.Abs(*flagCPUProfile); err != nil {
			b.Fatal(err)
		}
		rep.profile, rep.profiled = profileList(ctx, b, api, iss, token)
	}
	md := rep.markdown()
	fmt.Print(md)
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(md), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func streamCounts(b *testing.B) []int {
	var ws []int
	for _, f := range strings.Split(*flagStreams, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		w, err := strconv.Atoi(f)
		if err != nil || w < 1 {
			b.Fatalf("-watch-streams: %q is not a positive number", f)
		}
		ws = append(ws, w)
	}
	return ws
}

func maxStreams() int {
	n := 0
	for _, f := range strings.Split(*flagStreams, ",") {
		if w, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			n = max(n, w)
		}
	}
	return n
}

// createObjects makes the namespace, its configmaps, and read access for
// the token's group.
func createObjects(ctx context.Context, c kubernetes.Interface) error {
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	// Not the built-in "view": its rules are aggregated by
	// kube-controller-manager, which the bench does not run.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: readers},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRole: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: readers},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: readers},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: readers}},
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRoleBinding: %w", err)
	}
	for i := range *flagListItems {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("item-%03d", i), Namespace: namespace, Labels: map[string]string{"bench": "list"}},
			Data:       map[string]string{"data": payload(*flagItemBytes, i)},
		}
		if _, err := c.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create configmap %s: %w", cm.Name, err)
		}
	}
	return nil
}

// payload is n bytes of text that differs with seed (so nothing in the path
// can deduplicate it).
func payload(n, seed int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	x := uint64(seed)*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = alphabet[x%uint64(len(alphabet))]
	}
	return string(b)
}

// profileList runs an oidc-proxy built with -tags proxyprof under the LIST
// load from HTTP/1.1 clients for the profile's window and returns the
// profile's path and the load measured over that window (to compare
// profiles per request).
func profileList(ctx context.Context, b *testing.B, api *harness.APIServer, iss *harness.Issuer, token string) (string, loadbench.Result) {
	bin := filepath.Join(b.TempDir(), "oidc-proxy.proxyprof")
	if err := harness.BuildOurBinary(harness.OIDCProxy, bin, "proxyprof"); err != nil {
		b.Fatal(err)
	}
	const after = 5 * time.Second
	started := time.Now()
	p := harness.StartProxyForIssuer(b, api, iss, harness.ProxyOptions{Binary: bin, Env: []string{
		"OIDC_PROXY_CPUPROFILE=" + *flagCPUProfile,
		"OIDC_PROXY_CPUPROFILE_AFTER=" + after.String(),
		"OIDC_PROXY_CPUPROFILE_FOR=" + flagProfileFor.String(),
	}})
	// Load from now; measured over the profile's window.
	t := target{name: "oidc-proxy (proxyprof)", url: p.URL, caPEM: p.CA.CertPEM, token: token, pid: p.Process.Pid()}
	res := loadRun(ctx, t, listLoad, false, time.Until(started.Add(after)), *flagProfileFor)
	file := fmt.Sprintf("%s.%d", *flagCPUProfile, t.pid)
	// The heap profile is written right after the CPU profile is complete.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(file + ".heap"); err == nil {
			return file, res
		}
		if time.Now().After(deadline) {
			p.Fatalf(b, "no CPU profile %s.heap 30 s after its window", file)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
