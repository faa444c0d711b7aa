package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The cached series are the registered ones: repeated, unusual and
// out-of-range codes and verbs all count where WithLabelValues would.
func TestMetricSeriesCache(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		code int
		verb string
	}{
		{200, "list"}, {200, "list"}, {200, "get"}, {404, "list"}, {599, "other"}, {100, "get"},
		{99, "get"}, {600, "get"}, {1000, "watch"}, {200, "not-a-verb"}, {200, "not-a-verb"},
	}
	for _, c := range calls {
		m.requestCounter(c.code, c.verb).Inc()
		m.durationObserver(c.verb).Observe(0.01)
		m.upstreamObserver(c.code).Observe(0.01)
	}
	m.upstreamObserver(0).Observe(0.01)
	m.upstreamObserver(0).Observe(0.01)
	counts := []struct {
		code, verb string
		want       float64
	}{
		{"200", "list", 2}, {"200", "get", 1}, {"404", "list", 1}, {"599", "other", 1}, {"100", "get", 1},
		{"99", "get", 1}, {"600", "get", 1}, {"1000", "watch", 1}, {"200", "not-a-verb", 2}, {"201", "list", 0},
	}
	for _, c := range counts {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(c.code, c.verb)); got != c.want {
			t.Errorf("requests{code=%s,verb=%s} = %v, want %v", c.code, c.verb, got, c.want)
		}
	}
	if got := testutil.CollectAndCount(m.requests); got != len(counts) {
		t.Errorf("%d request series, want %d", got, len(counts))
	}
	// 7 distinct codes plus "error"; 5 distinct verbs.
	if got := testutil.CollectAndCount(m.upstream); got != 8 {
		t.Errorf("%d upstream series, want 8", got)
	}
	if got := testutil.CollectAndCount(m.duration); got != 5 {
		t.Errorf("%d duration series, want 5", got)
	}
}
