// Command proxybench is a load run, on loopback only, through the real
// oidc-proxy binary and through a bare httputil.ReverseProxy (this same
// program re-executed), against the same in-process fake API server. It
// reports throughput, p50/p99 latency and the proxy process's CPU time per
// request, and their ratios to the bare proxy, per round of the two back to back.
// Not shipped; run it with `make bench`.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/gcfloor"
	"github.com/kube-oidc/kube-oidc/internal/loadbench"
	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

const body = `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`

func main() {
	var (
		bin         = flag.String("proxy-bin", "bin/oidc-proxy", "oidc-proxy binary to measure")
		concurrency = flag.Int("concurrency", 32, "concurrent keep-alive clients")
		duration    = flag.Duration("duration", 2*time.Second, "measured time per run")
		warmup      = flag.Duration("warmup", time.Second, "unmeasured time before each run")
		rounds      = flag.Int("rounds", 9, "rounds of bare then oidc-proxy back to back (medians of the per-round ratios are reported)")
		maxRequests = flag.Int64("max-requests", 5_000_000, "hard cap on requests per run")
		bareFloor   = flag.Uint64("bare-gc-heap-floor", 0, "give the bare proxy oidc-proxy's garbage-collector heap floor (bytes; oidc-proxy's default is 33554432), to compare like with like")
		bareHTTP1   = flag.Bool("bare-upstream-http1", false, "the bare proxy speaks HTTP/1.1 to the upstream (a keep-alive pool, as oidc-proxy does for requests answered whole) instead of HTTP/2")
		bareTimeout = flag.Bool("bare-timeouts", false, "give the bare proxy oidc-proxy's inbound limits (read-header and idle timeouts, header size) and upstream response-header timeout and HTTP/2 health check")
		useHTTP2    = flag.Bool("http2", false, "clients speak HTTP/2 (one multiplexed connection) instead of HTTP/1.1 keep-alive")
		serveBare   = flag.String("serve-bare", "", "internal: serve a bare reverse proxy to this upstream URL")
	)
	flag.Parse()
	if *serveBare != "" {
		runBare(*serveBare)
		return
	}
	// The bare proxy is this program re-executed: it reads these.
	if *bareFloor > 0 {
		_ = os.Setenv("PROXYBENCH_BARE_GC_HEAP_FLOOR", strconv.FormatUint(*bareFloor, 10))
	}
	if *bareTimeout {
		_ = os.Setenv("PROXYBENCH_BARE_TIMEOUTS", "1")
	}
	if *bareHTTP1 {
		_ = os.Setenv("PROXYBENCH_BARE_HTTP1", "1")
	}
	if err := bench(*bin, *concurrency, *duration, *warmup, *rounds, *maxRequests, *useHTTP2); err != nil {
		log.Fatalf("proxybench: %v", err)
	}
}

// runBare serves httputil.ReverseProxy to the upstream over HTTP/2, as a
// proxy on client-go's transport defaults does (over an HTTP/1.1 keep-alive
// pool with -bare-upstream-http1, as oidc-proxy sends requests answered
// whole). It prints its URL and certificate, then serves until stdin closes.
func runBare(upstream string) {
	target, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := base64.StdEncoding.DecodeString(os.Getenv("PROXYBENCH_UPSTREAM_CA"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		log.Fatal("PROXYBENCH_UPSTREAM_CA: no certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	if os.Getenv("PROXYBENCH_BARE_HTTP1") != "" {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	timeouts := os.Getenv("PROXYBENCH_BARE_TIMEOUTS") != ""
	if timeouts {
		// oidc-proxy's defaults: response header timeout and HTTP/2 health check.
		tr.ResponseHeaderTimeout = 2 * time.Minute
		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	}
	if floor, _ := strconv.ParseUint(os.Getenv("PROXYBENCH_BARE_GC_HEAP_FLOOR"), 10, 64); floor > 0 {
		gcfloor.Start(floor)
	}
	// The same ReverseProxy configuration as oidc-proxy (including pooled
	// copy buffers), so the difference measured is oidc-proxy's chain.
	rp := loadbench.BareProxy(target, tr, nil)
	startCPUProfile()
	srv := httptest.NewUnstartedServer(rp)
	srv.EnableHTTP2 = true
	if timeouts { // oidc-proxy's inbound limits
		srv.Config.ReadHeaderTimeout = 32 * time.Second
		srv.Config.IdleTimeout = 90 * time.Second
		srv.Config.MaxHeaderBytes = 1 << 20
	}
	srv.StartTLS()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	fmt.Printf("%s %s\n", srv.URL, base64.StdEncoding.EncodeToString(cert))
	_, _ = io.Copy(io.Discard, os.Stdin) // parent closes stdin to stop us
	srv.Close()
}

type target struct {
	name   string
	url    string
	client *http.Client
	pid    int // the proxy process, for its CPU time
}

func bench(bin string, concurrency int, duration, warmup time.Duration, rounds int, maxRequests int64, useHTTP2 bool) error {
	dir, err := os.MkdirTemp("", "proxybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	defer up.Close()
	upCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})

	iss, err := newIssuer(dir)
	if err != nil {
		return err
	}
	defer iss.server.Close()
	token := iss.token()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: proxy, user: {token: proxy-own-credential}}]
contexts: [{name: fake, context: {cluster: fake, user: proxy}}]
current-context: fake
`, up.URL, base64.StdEncoding.EncodeToString(upCA))), 0o600); err != nil {
		return err
	}

	bare, stopBare, err := startBare(upCA, up.URL, useHTTP2)
	if err != nil {
		return err
	}
	defer stopBare()
	warm, stopWarm, err := startOIDCProxy(bin, dir, "warm", kubeconfig, iss, "10s", useHTTP2)
	if err != nil {
		return err
	}
	defer stopWarm()
	miss, stopMiss, err := startOIDCProxy(bin, dir, "miss", kubeconfig, iss, "0s", useHTTP2)
	if err != nil {
		return err
	}
	defer stopMiss()

	// Rounds alternate bare and oidc-proxy back to back, so both runs of a
	// round see about the same load from the rest of the machine; the
	// ratios are taken per round, and their median (and range) reported.
	var bareRuns, warmRuns []loadbench.Result
	var tpRatios, p99Ratios, cpuRatios []float64
	for range rounds {
		b := load(bare, token, concurrency, warmup, duration, maxRequests)
		w := load(warm, token, concurrency, warmup, duration, maxRequests)
		bareRuns, warmRuns = append(bareRuns, b), append(warmRuns, w)
		tpRatios = append(tpRatios, w.RPS/b.RPS)
		p99Ratios = append(p99Ratios, float64(w.P99)/float64(b.P99))
		if b.CPU > 0 {
			cpuRatios = append(cpuRatios, float64(w.CPU)/float64(b.CPU))
		}
	}
	missRun := load(miss, token, concurrency, warmup, duration, maxRequests)

	b, w := loadbench.Median(bareRuns), loadbench.Median(warmRuns)
	proto := "HTTP/1.1 keep-alive"
	if useHTTP2 {
		proto = "HTTP/2"
	}
	fmt.Printf("proxybench: %d clients, %s over TLS, %s per run after %s warm-up, %d rounds, GOMAXPROCS of each process = %d cores shared by all\n\n",
		concurrency, proto, duration, warmup, rounds, numCPU())
	fmt.Println("| round | run | requests | errors | req/s | p50 | p99 | proxy CPU/req | clients+upstream CPU/req | req/s vs bare | p99 vs bare |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	row := func(round string, r, base loadbench.Result) {
		fmt.Printf("| %s | %s | %d | %d | %.0f | %s | %s | %s | %s | %.3fx | %.3fx |\n", round, r.Name, r.Requests, r.Errors, r.RPS,
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.CPU.Round(100*time.Nanosecond),
			r.SelfCPU.Round(100*time.Nanosecond), r.RPS/base.RPS, float64(r.P99)/float64(base.P99))
	}
	for i := range bareRuns {
		row(strconv.Itoa(i+1), bareRuns[i], bareRuns[i])
		row(strconv.Itoa(i+1), warmRuns[i], bareRuns[i])
	}
	row("-", missRun, b)
	tp, p99 := loadbench.MedianOf(tpRatios), loadbench.MedianOf(p99Ratios)
	fmt.Printf("\nmedian bare: %.0f req/s, p50 %s, p99 %s, proxy CPU %s/req\n", b.RPS, b.P50.Round(time.Microsecond), b.P99.Round(time.Microsecond), b.CPU.Round(100*time.Nanosecond))
	fmt.Printf("median oidc-proxy (warm cache): %.0f req/s, p50 %s, p99 %s, proxy CPU %s/req\n", w.RPS, w.P50.Round(time.Microsecond), w.P99.Round(time.Microsecond), w.CPU.Round(100*time.Nanosecond))
	fmt.Printf("warm cache throughput ratio, median of per-round ratios %.3f (range %.3f-%.3f; target >= 0.95): %s\n",
		tp, slices.Min(tpRatios), slices.Max(tpRatios), verdict(tp >= 0.95))
	fmt.Printf("warm cache p99 ratio, median of per-round ratios %.3f (range %.3f-%.3f; target <= 1.10): %s\n",
		p99, slices.Min(p99Ratios), slices.Max(p99Ratios), verdict(p99 <= 1.10))
	if len(cpuRatios) > 0 {
		fmt.Printf("warm cache proxy CPU per request vs bare, median of per-round ratios %.3f (range %.3f-%.3f)\n",
			loadbench.MedianOf(cpuRatios), slices.Min(cpuRatios), slices.Max(cpuRatios))
	}
	fmt.Printf("cache miss (--token-cache-ttl=0, one signature check per request): %.0f req/s, p99 %s\n", missRun.RPS, missRun.P99.Round(time.Microsecond))
	fmt.Printf("peak resident memory (VmHWM): bare %s, oidc-proxy warm cache %s\n", peakRSS(bare.pid), peakRSS(warm.pid))
	if n := iss.jwksHits.Load(); n > 2 {
		fmt.Printf("note: the issuer's JWKS was fetched %d times\n", n)
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func numCPU() int {
	n, _ := strconv.Atoi(os.Getenv("GOMAXPROCS"))
	if n > 0 {
		return n
	}
	return runtimeNumCPU()
}

func clientFor(caPEM []byte, useHTTP2 bool) *http.Client {
	return &http.Client{Transport: loadbench.ClientTransport(caPEM, useHTTP2), Timeout: 30 * time.Second}
}

func startBare(upCA []byte, upURL string, useHTTP2 bool) (target, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return target{}, nil, err
	}
	cmd := exec.Command(self, "-serve-bare", upURL)
	cmd.Env = append(os.Environ(), "PROXYBENCH_UPSTREAM_CA="+base64.StdEncoding.EncodeToString(upCA))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return target{}, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return target{}, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return target{}, nil, err
	}
	stop := func() { _ = stdin.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return target{}, nil, fmt.Errorf("bare proxy did not start: %w", err)
	}
	u, certB64, _ := strings.Cut(strings.TrimSpace(line), " ")
	cert, err := base64.StdEncoding.DecodeString(certB64)
	if err != nil {
		stop()
		return target{}, nil, err
	}
	if os.Getenv("PROXYBENCH_PRINT_PIDS") != "" {
		fmt.Fprintf(os.Stderr, "proxybench: bare pid %d\n", cmd.Process.Pid)
	}
	return target{name: "bare httputil.ReverseProxy", url: u, client: clientFor(cert, useHTTP2), pid: cmd.Process.Pid}, stop, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startOIDCProxy(bin, dir, name, kubeconfig string, iss *issuer, cacheTTL string, useHTTP2 bool) (target, func(), error) {
	port, err := freePort()
	if err != nil {
		return target{}, nil, err
	}
	certDir := filepath.Join(dir, name+"-certs")
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return target{}, nil, err
	}
	cmd := exec.Command(bin,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--cert-dir="+certDir,
		"--kubeconfig="+kubeconfig,
		"--oidc-issuer-url="+iss.server.URL, "--oidc-client-id=bench", "--oidc-ca-file="+iss.caFile,
		"--oidc-groups-claim=groups", "--token-cache-ttl="+cacheTTL,
		"--readiness-probe-port=0", "--metrics-serving-address=",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile // the access log: one line per request, as in production
	if err := cmd.Start(); err != nil {
		return target{}, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = logFile.Close()
	}
	u := "https://127.0.0.1:" + strconv.Itoa(port)
	// Wait for the generated certificate, then for /readyz.
	deadline := time.Now().Add(30 * time.Second)
	var client *http.Client
	for {
		if time.Now().After(deadline) {
			stop()
			return target{}, nil, fmt.Errorf("oidc-proxy (%s) not ready in 30s; log in %s", name, logFile.Name())
		}
		if client == nil {
			if cert, err := os.ReadFile(filepath.Join(certDir, "oidc-proxy.crt")); err == nil {
				client = clientFor(cert, useHTTP2)
			}
		}
		if client != nil {
			if res, err := client.Get(u + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if os.Getenv("PROXYBENCH_PRINT_PIDS") != "" {
		fmt.Fprintf(os.Stderr, "proxybench: oidc-proxy (%s cache) pid %d\n", name, cmd.Process.Pid)
	}
	return target{name: "oidc-proxy " + name + " cache", url: u, client: client, pid: cmd.Process.Pid}, stop, nil
}

// issuer is a minimal OIDC issuer (discovery and JWKS over TLS) for the run.
type issuer struct {
	server   *httptest.Server
	key      *rsa.PrivateKey
	caFile   string
	jwksHits atomic.Int64
}

func newIssuer(dir string) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	iss := &issuer{key: key}
	mux := http.NewServeMux()
	iss.server = httptest.NewUnstartedServer(mux)
	iss.server.StartTLS()
	base := iss.server.URL
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": base, "jwks_uri": base + "/jwks", "authorization_endpoint": base + "/authorize",
			"token_endpoint": base + "/token", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.jwksHits.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	iss.caFile = filepath.Join(dir, "issuer-ca.crt")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.server.Certificate().Raw})
	if err := os.WriteFile(iss.caFile, ca, 0o600); err != nil {
		iss.server.Close()
		return nil, err
	}
	return iss, nil
}

func (iss *issuer) token() string {
	now := time.Now()
	return oidctest.SignRS256(iss.key, "bench", map[string]any{
		"iss": iss.server.URL, "aud": "bench", "sub": "bench-user", "groups": []string{"bench"},
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
}

// load runs concurrency clients in a closed loop against t: warm-up, then
// the measured period, bounded by time and by maxRequests.
func load(t target, token string, concurrency int, warmup, duration time.Duration, maxRequests int64) loadbench.Result {
	r := loadbench.Load{
		Client: t.client,
		NewRequest: func(ctx context.Context) *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/api/v1/namespaces/default/pods", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "application/json")
			return req
		},
		Concurrency: concurrency, Warmup: warmup, Duration: duration, MaxRequests: maxRequests, PID: t.pid,
	}.Run(context.Background())
	r.Name = t.name
	return r
}

// peakRSS is process pid's peak resident set size ("?" where there is no /proc).
func peakRSS(pid int) string {
	if b := loadbench.StatusBytes(pid, "VmHWM"); b > 0 {
		return fmt.Sprintf("%d kB", b>>10)
	}
	return "?"
}
