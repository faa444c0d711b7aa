package authn

import (
	"github.com/prometheus/client_golang/prometheus"
	configmetrics "k8s.io/apiserver/pkg/server/options/authenticationconfig/metrics"
)

// Authentication results, the values of the "result" label.
const (
	resultSuccess           = "success"
	resultNoToken           = "no_token"
	resultInvalidToken      = "invalid_token"
	resultUnknownIssuer     = "unknown_issuer"
	resultNotReady          = "not_ready"
	resultForbiddenIdentity = "forbidden_identity"
)

type metrics struct {
	results *prometheus.CounterVec // by result
	cache   *prometheus.CounterVec // hit, miss
	reloads *prometheus.CounterVec // success, failure
	ready   prometheus.GaugeFunc

	// resolved children of the hot-path counters (avoid a label lookup per request)
	byResult  map[string]prometheus.Counter
	cacheHit  prometheus.Counter
	cacheMiss prometheus.Counter
}

func (m *metrics) result(r string) { m.byResult[r].Inc() }

// apiServerID labels kube-apiserver's authentication config metrics
// (apiserver_id_hash): a proxy has no API server identity, so it is empty.
const apiServerID = ""

// reloadFailed counts a failed reload of the authentication config file,
// in the proxy's metric and in kube-apiserver's
// (apiserver_authentication_config_controller_automatic_reloads_total).
func (m *metrics) reloadFailed() {
	m.reloads.WithLabelValues("failure").Inc()
	configmetrics.RecordAuthenticationConfigAutomaticReloadFailure(apiServerID)
}

// reloaded counts a successful reload of the config file with content data.
func (m *metrics) reloaded(data []byte) {
	m.reloads.WithLabelValues("success").Inc()
	configmetrics.RecordAuthenticationConfigAutomaticReloadSuccess(apiServerID, string(data))
}

// configLoaded records the config file the authenticator started with
// (apiserver_authentication_config_controller_last_config_info), as
// kube-apiserver does.
func configLoaded(data []byte) {
	configmetrics.RecordAuthenticationConfigLastConfigInfo(apiServerID, string(data))
}

// newMetrics creates the collectors and registers them on reg (if not nil).
// ready is evaluated at every scrape.
func newMetrics(reg prometheus.Registerer, ready func() float64) (*metrics, error) {
	m := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "oidc_proxy", Subsystem: "authentication", Name: "attempts_total",
			Help: "Token authentications by result: success, no_token, invalid_token, unknown_issuer, not_ready, forbidden_identity.",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "oidc_proxy", Subsystem: "authentication", Name: "token_cache_requests_total",
			Help: "Token cache lookups by result: hit or miss.",
		}, []string{"result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "oidc_proxy", Subsystem: "authentication", Name: "config_reloads_total",
			Help: "Authentication config file reloads by result: success or failure.",
		}, []string{"result"}),
		ready: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "oidc_proxy", Subsystem: "authentication", Name: "ready",
			Help: "1 when every configured issuer's discovery succeeded, else 0.",
		}, ready),
	}
	m.byResult = map[string]prometheus.Counter{}
	for _, r := range []string{resultSuccess, resultNoToken, resultInvalidToken, resultUnknownIssuer, resultNotReady, resultForbiddenIdentity} {
		m.byResult[r] = m.results.WithLabelValues(r)
	}
	m.cacheHit, m.cacheMiss = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss")
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.results, m.cache, m.reloads, m.ready} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
