package apiserverbench

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	"github.com/kube-oidc/kube-oidc/internal/loadbench"
)

type report struct {
	started      time.Time
	user         string
	bareUpstream string
	compare      string // -compare-proxy-bin, when it ran in the loads
	loads        []*loadResult
	watches      []watchResult
	slow         []slowResult
	profile      string
	profiled     loadbench.Result
}

// markdown is the report, ready for docs/benchmarks.md.
func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("\n### kube-apiserver %s + etcd, %s\n\n", harness.KubeVersion, r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("Targets: **direct** (kube-apiserver, admin token), **bare** (httputil.ReverseProxy, the proxy's credential and fixed Impersonate-* headers of %s, %s to the API server), **oidc-proxy** (the binary as built: HTTP/1.1 to the API server for GET and LIST, HTTP/2 for watches). %d cores (GOMAXPROCS of this process %d), shared by every process.\n",
		r.user, r.bareUpstream, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if len(r.loads) > 0 {
		p("\nClosed loop, %d keep-alive clients, %s warm-up + %s measured per run, %d rounds (direct, bare, oidc-proxy back to back in each); LIST = %d configmaps of %d bytes of data. Values are medians over rounds; ratios are medians of the per-round ratios to bare (range in brackets). CPU/req is the measured process's user+system time (/proc/PID/stat) per request: kube-apiserver's for direct, the proxy's otherwise.\n\n",
			*flagConcurrency, *flagWarmup, *flagDuration, *flagRounds, *flagListItems, *flagItemBytes)
		names := []string{"direct", "bare", "oidc-proxy"}
		if r.compare != "" {
			p("**compare** is the oidc-proxy binary %s, run after oidc-proxy in every round.\n\n", r.compare)
			names = append(names, "compare")
		}
		p("| load | clients | target | req/s | p50 | p99 | CPU/req | req/s vs bare | p99 vs bare | CPU/req vs bare |\n")
		p("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range r.loads {
			for _, name := range names {
				m := loadbench.Median(l.runs[name])
				cell := func(f func(loadbench.Result) float64) string {
					if name == "bare" {
						return "1"
					}
					med, lo, hi := l.ratio(name, f)
					return fmt.Sprintf("%.2f (%.2f-%.2f)", med, lo, hi)
				}
				cpuCell := "-"
				if name != "direct" {
					cpuCell = cell(func(x loadbench.Result) float64 { return float64(x.CPU) })
				}
				p("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", l.load.name, proto(l.http2), name, m.RPS,
					m.P50.Round(10*time.Microsecond), m.P99.Round(10*time.Microsecond), m.CPU.Round(time.Microsecond),
					cell(func(x loadbench.Result) float64 { return x.RPS }),
					cell(func(x loadbench.Result) float64 { return float64(x.P99) }), cpuCell)
			}
		}
	}
	if len(r.watches) > 0 {
		p("\nWatch fan-out: W streams of one configmap, each on its own TLS connection (HTTP/1.1 clients) or multiplexed (HTTP/2 clients); then %d updates by the admin, one at a time (the next once every stream has read the previous). Latency per delivery = update sent -> event decoded by the stream. Memory/stream = settled VmRSS of the measured process with the streams open minus before, / W (kube-apiserver's for direct). Upstream = the proxy's TCP connections to the API server with the streams open.\n\n", *flagEvents)
		p("| W | clients | target | open all | p50 | p99 | max | p99 vs direct | missed | reordered | ended early | memory/stream | upstream conns |\n")
		p("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, w := range r.watches {
			vsDirect := "-"
			for _, d := range r.watches {
				if d.target == "direct" && d.streams == w.streams && d.http2 == w.http2 && d.p99 > 0 {
					vsDirect = fmt.Sprintf("%.2f", float64(w.p99)/float64(d.p99))
				}
			}
			up := "-"
			if w.proxy {
				up = fmt.Sprint(w.upstream)
			}
			p("| %d | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %.1f KiB | %s |\n", w.streams, proto(w.http2), w.target,
				w.openAll.Round(time.Millisecond), w.p50.Round(10*time.Microsecond), w.p99.Round(10*time.Microsecond), w.maxLat.Round(10*time.Microsecond),
				vsDirect, w.missed, w.reordered, w.failed, float64(w.rssPerStream)/1024, up)
		}
	}
	if len(r.slow) > 0 {
		p("\nSlow client: one HTTP/1.1 watcher that reads nothing after the response headers while the admin updates its configmap (%d KiB of data) %d times. VmRSS of the measured process (kube-apiserver's for direct).\n\n", *flagSlowBytes>>10, *flagSlowEvents)
		p("| target | sent | RSS before | RSS peak | RSS after (settled) | growth | read once resumed | stream ended by server |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, s := range r.slow {
			p("| %s | %s | %s | %s | %s | %s | %s | %v |\n", s.target, mib(s.sentBytes), mib(s.rssBefore), mib(s.rssPeak), mib(s.rssAfter),
				mib(s.rssPeak-s.rssBefore), mib(s.readLater), s.ended)
		}
	}
	if r.profile != "" {
		p("\nCPU profile of oidc-proxy (-tags proxyprof) under the LIST load from HTTP/1.1 clients: %s (`go tool pprof -top -cum %s`); %d requests in its window (%.0f req/s, proxy CPU %s/req): divide sample times by that count to compare profiles per request.\n",
			r.profile, r.profile, r.profiled.Requests, r.profiled.RPS, r.profiled.CPU.Round(time.Microsecond))
	}
	return b.String()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
