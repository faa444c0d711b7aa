package apiserverbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/loadbench"
)

// A load is one kind of request, sent in a closed loop.
type load struct {
	name string
	path string
}

var (
	getLoad  = load{"GET one configmap", "/api/v1/namespaces/" + namespace + "/configmaps/item-000"}
	listLoad = load{"LIST configmaps", "/api/v1/namespaces/" + namespace + "/configmaps?labelSelector=bench%3Dlist"}
)

// loadResult is one load and client protocol through every target:
// runs[target][round].
type loadResult struct {
	load  load
	http2 bool
	runs  map[string][]loadbench.Result
}

// ratio is the median over rounds of f(target's run)/f(bare's run), and its range.
func (r loadResult) ratio(target string, f func(loadbench.Result) float64) (med, lo, hi float64) {
	var xs []float64
	for i, base := range r.runs["bare"] {
		if d := f(base); d > 0 {
			xs = append(xs, f(r.runs[target][i])/d)
		}
	}
	if len(xs) == 0 {
		return 0, 0, 0
	}
	lo, hi = xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return loadbench.MedianOf(xs), lo, hi
}

// runLoads runs GET and LIST from HTTP/1.1 and HTTP/2 clients through
// every target; in each round the targets run back to back so that they
// see about the same load from the rest of the machine.
func runLoads(ctx context.Context, b *testing.B, targets []target) []*loadResult {
	for _, t := range targets {
		for _, l := range []load{getLoad, listLoad} {
			if err := probe(ctx, t, l); err != nil {
				b.Fatalf("%s through %s: %v", l.name, t.name, err)
			}
		}
	}
	var results []*loadResult
	for _, l := range []load{getLoad, listLoad} {
		for _, h2 := range []bool{false, true} {
			results = append(results, &loadResult{load: l, http2: h2, runs: map[string][]loadbench.Result{}})
		}
	}
	for round := range *flagRounds {
		for _, r := range results {
			for _, t := range targets {
				res := loadRun(ctx, t, r.load, r.http2, *flagWarmup, *flagDuration)
				if res.Errors > 0 {
					b.Fatalf("%s through %s: %d of %d requests failed (round %d)", r.load.name, t.name, res.Errors, res.Requests, round+1)
				}
				r.runs[t.name] = append(r.runs[t.name], res)
			}
			fmt.Printf("round %d, %s, %s clients: %s\n", round+1, r.load.name, proto(r.http2), roundLine(r, targets, round))
		}
	}
	return results
}

func roundLine(r *loadResult, targets []target, round int) string {
	s := ""
	for _, t := range targets {
		x := r.runs[t.name][round]
		s += fmt.Sprintf("%s %.0f req/s p99 %s CPU %s/req; ", t.name, x.RPS, x.P99.Round(10*time.Microsecond), x.CPU.Round(time.Microsecond))
	}
	return s
}

func proto(http2 bool) string {
	if http2 {
		return "HTTP/2"
	}
	return "HTTP/1.1"
}

// probe sends l's request once through t: it must answer 200.
func probe(ctx context.Context, t target, l load) error {
	tr := loadbench.ClientTransport(t.caPEM, false)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.url+l.path, nil)
	req.Header.Set("Authorization", "Bearer "+t.token)
	res, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", res.Status, body)
	}
	return nil
}

// loadRun is one closed-loop run of l through t with new client connections.
func loadRun(ctx context.Context, t target, l load, http2 bool, warmup, duration time.Duration) loadbench.Result {
	tr := loadbench.ClientTransport(t.caPEM, http2)
	defer tr.CloseIdleConnections()
	r := loadbench.Load{
		Client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		NewRequest: func(ctx context.Context) *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.url+l.path, nil)
			req.Header.Set("Authorization", "Bearer "+t.token)
			req.Header.Set("Accept", "application/json")
			return req
		},
		Concurrency: *flagConcurrency, Warmup: warmup, Duration: duration, MaxRequests: *flagMaxRequests, PID: t.pid,
	}.Run(ctx)
	r.Name = t.name
	return r
}
