package proxy

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's own Prometheus metrics. They are registered on the
// registry given to NewMetrics, never on the global one.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	upstream *prometheus.HistogramVec

	// The series each request uses, by verb and code, cached on first use:
	// WithLabelValues hashes and looks up its labels on every call.
	requestsBy [numVerbs][numCodes]atomic.Pointer[prometheus.Counter]
	durationBy [numVerbs]atomic.Pointer[prometheus.Observer]
	upstreamBy [numCodes + 1]atomic.Pointer[prometheus.Observer] // last: "error"
}

const (
	numVerbs = len(verbs)
	minCode  = 100
	numCodes = 500 // 100-599
)

func codeIndex(code int) int {
	if code < minCode || code >= minCode+numCodes {
		return -1
	}
	return code - minCode
}

// cached returns *slot, creating it with create on first use.
func cached[T any](slot *atomic.Pointer[T], create func() T) T {
	if p := slot.Load(); p != nil {
		return *p
	}
	v := create()
	slot.Store(&v)
	return v
}

func (m *Metrics) requestCounter(code int, verb string) prometheus.Counter {
	create := func() prometheus.Counter { return m.requests.WithLabelValues(strconv.Itoa(code), verb) }
	v, c := verbIndex(verb), codeIndex(code)
	if v < 0 || c < 0 {
		return create()
	}
	return cached(&m.requestsBy[v][c], create)
}

func (m *Metrics) durationObserver(verb string) prometheus.Observer {
	create := func() prometheus.Observer { return m.duration.WithLabelValues(verb) }
	v := verbIndex(verb)
	if v < 0 {
		return create()
	}
	return cached(&m.durationBy[v], create)
}

// upstreamObserver is the series of an upstream answer's code, or of
// "error" for code 0.
func (m *Metrics) upstreamObserver(code int) prometheus.Observer {
	if code == 0 {
		return cached(&m.upstreamBy[numCodes], func() prometheus.Observer { return m.upstream.WithLabelValues("error") })
	}
	create := func() prometheus.Observer { return m.upstream.WithLabelValues(strconv.Itoa(code)) }
	c := codeIndex(code)
	if c < 0 {
		return create()
	}
	return cached(&m.upstreamBy[c], create)
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oidc_proxy_http_requests_total",
			Help: "Requests answered by oidc-proxy, by HTTP status code and Kubernetes verb.",
		}, []string{"code", "verb"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oidc_proxy_http_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its response, by Kubernetes verb (watches last as long as the watch).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"verb"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oidc_proxy_upstream_request_duration_seconds",
			Help:    "Time until the API server's response headers arrived, by status code (\"error\" when none came).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"code"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstream} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// WithMetrics counts and times each request.
func WithMetrics(next http.Handler, m *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		defer func() {
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			m.requestCounter(code, rec.verb).Inc()
			m.durationObserver(rec.verb).Observe(time.Since(rec.start).Seconds())
		}()
		next.ServeHTTP(w, r)
	})
}

// instrumentedTransport times the upstream round trip (to response headers).
type instrumentedTransport struct {
	next http.RoundTripper
	m    *Metrics
}

func (t instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.next.RoundTrip(req)
	code := 0 // "error"
	if err == nil {
		code = res.StatusCode
	}
	t.m.upstreamObserver(code).Observe(time.Since(start).Seconds())
	return res, err
}
