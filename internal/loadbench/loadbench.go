// Package loadbench runs closed-loop HTTP load against a server and reads
// what a measured process spent (CPU time, resident memory, TCP
// connections) from /proc, for the load benches of oidc-proxy
// (hack/proxybench, e2e/apiserverbench). Not used by release builds.
package loadbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one closed-loop run: Concurrency clients each send the next
// request when the previous answer has been read to its end.
type Load struct {
	Client      *http.Client
	NewRequest  func(ctx context.Context) *http.Request
	Concurrency int
	Warmup      time.Duration // unmeasured time before the measured period
	Duration    time.Duration // measured period
	MaxRequests int64         // hard cap on measured requests
	// PID is the process whose CPU time is divided by the requests (0: none).
	PID int
}

// Result of a Load. A request is an error unless it answered 200.
type Result struct {
	Name     string
	Requests int64
	Errors   int64
	RPS      float64 // successful requests per second of the measured period
	P50, P99 time.Duration
	// CPU is the measured process's user+system CPU time per request;
	// SelfCPU the same for this process (the load clients).
	CPU, SelfCPU time.Duration
}

// Run runs l, bounded by its durations plus 30 s and by MaxRequests.
func (l Load) Run(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, l.Warmup+l.Duration+30*time.Second)
	defer cancel()
	var (
		count, errs atomic.Int64
		measuring   atomic.Bool
		stop        atomic.Bool
		wg          sync.WaitGroup
		mu          sync.Mutex
		latencies   []time.Duration
	)
	worker := func() {
		defer wg.Done()
		local := make([]time.Duration, 0, 1<<14)
		for !stop.Load() && ctx.Err() == nil {
			req := l.NewRequest(ctx)
			start := time.Now()
			res, err := l.Client.Do(req)
			ok := err == nil
			if ok {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				ok = res.StatusCode == http.StatusOK
			}
			elapsed := time.Since(start)
			if !measuring.Load() {
				continue
			}
			if count.Add(1) >= l.MaxRequests {
				stop.Store(true)
			}
			if !ok {
				errs.Add(1)
				continue
			}
			local = append(local, elapsed)
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	}
	wg.Add(l.Concurrency)
	for range l.Concurrency {
		go worker()
	}
	select {
	case <-time.After(l.Warmup):
	case <-ctx.Done():
	}
	cpuBefore, selfBefore := ProcessCPU(l.PID), ProcessCPU(os.Getpid())
	measuring.Store(true)
	begin := time.Now()
	select {
	case <-time.After(l.Duration):
	case <-ctx.Done():
	}
	stop.Store(true)
	elapsed := time.Since(begin)
	cpuUsed, selfUsed := ProcessCPU(l.PID)-cpuBefore, ProcessCPU(os.Getpid())-selfBefore
	wg.Wait()
	slices.Sort(latencies)
	r := Result{Requests: count.Load(), Errors: errs.Load(),
		RPS: float64(len(latencies)) / elapsed.Seconds(), P50: Percentile(latencies, 0.50), P99: Percentile(latencies, 0.99)}
	if n := count.Load(); n > 0 && cpuUsed > 0 {
		r.CPU = cpuUsed / time.Duration(n)
	}
	if n := count.Load(); n > 0 {
		r.SelfCPU = selfUsed / time.Duration(n)
	}
	return r
}

// Percentile is the p-quantile (0..1) of sorted (0 when empty).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// MedianOf is the median of xs (the upper one for an even count).
func MedianOf[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Median is the run of median throughput, with p50, p99 and CPU per
// request replaced by their own medians over rs.
func Median(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Result) int {
		switch {
		case a.RPS < b.RPS:
			return -1
		case a.RPS > b.RPS:
			return 1
		}
		return 0
	})
	m := s[len(s)/2]
	var p50s, p99s, cpus, selfs []time.Duration
	for _, r := range rs {
		p50s, p99s, cpus, selfs = append(p50s, r.P50), append(p99s, r.P99), append(cpus, r.CPU), append(selfs, r.SelfCPU)
	}
	m.P50, m.P99, m.CPU, m.SelfCPU = MedianOf(p50s), MedianOf(p99s), MedianOf(cpus), MedianOf(selfs)
	return m
}

// ProcessCPU is the user+system CPU time of process pid so far, from
// /proc/PID/stat (0 where there is no /proc or pid is 0).
func ProcessCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// StatusBytes is a memory field of /proc/PID/status ("VmRSS", "VmHWM")
// in bytes (0 where there is no /proc or no such field).
func StatusBytes(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// TCPConnsTo counts the established TCP sockets of process pid whose
// remote port is port (IPv4 and IPv6), from /proc/PID/fd and
// /proc/net/tcp{,6}. Loopback connections in the same network namespace
// appear once per end; only the ends that pid holds are counted.
func TCPConnsTo(pid, port int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	inodes := make(map[string]bool, len(entries))
	for _, e := range entries {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	wantPort := strings.ToUpper(strconv.FormatInt(int64(port), 16))
	for len(wantPort) < 4 {
		wantPort = "0" + wantPort
	}
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "01" { // 01: ESTABLISHED
				continue
			}
			_, remPort, ok := strings.Cut(f[2], ":")
			if ok && remPort == wantPort && inodes[f[9]] {
				n++
			}
		}
	}
	return n, nil
}

// ClientTransport is a load client's transport trusting caPEM: HTTP/2 (one
// multiplexed connection, more when the server's stream limit is reached),
// or HTTP/1.1 keep-alive (one connection per concurrent request). No
// transparent compression.
func ClientTransport(caPEM []byte, useHTTP2 bool) *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 256,
		DisableCompression:  true,
	}
	if useHTTP2 {
		tr.ForceAttemptHTTP2 = true
	} else {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return tr
}

// BareProxy is the baseline the benches measure oidc-proxy against: an
// httputil.ReverseProxy to target with oidc-proxy's ReverseProxy
// configuration (pooled 32 KiB copy buffers), which sets header on every
// request after removing the client's Authorization and Impersonate-*
// headers (header nil: the request's headers are forwarded as they are).
func BareProxy(target *url.URL, tr http.RoundTripper, header http.Header) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			if header == nil {
				return
			}
			for k := range pr.Out.Header {
				if k == "Authorization" || strings.HasPrefix(k, "Impersonate-") {
					pr.Out.Header.Del(k)
				}
			}
			for k, v := range header {
				pr.Out.Header[k] = v
			}
		},
		Transport:  tr,
		BufferPool: &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
	}
}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *(p.pool.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
