package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's own Prometheus metrics. They are registered on the
// registry given to NewMetrics, never on the global one.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
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
			m.requests.WithLabelValues(strconv.Itoa(code), rec.verb).Inc()
			m.duration.WithLabelValues(rec.verb).Observe(time.Since(rec.start).Seconds())
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
	code := "error"
	if err == nil {
		code = strconv.Itoa(res.StatusCode)
	}
	t.m.upstream.WithLabelValues(code).Observe(time.Since(start).Seconds())
	return res, err
}
