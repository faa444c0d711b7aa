package server

import (
	"github.com/prometheus/client_golang/prometheus"
	authnconfigmetrics "k8s.io/apiserver/pkg/server/options/authenticationconfig/metrics"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	// Installs client-go's request metrics adapters (rest_client_*), as
	// kube-apiserver and every Kubernetes component do.
	_ "k8s.io/component-base/metrics/prometheus/restclient"
)

// gatherer is what /metrics serves: the proxy's own registry and the
// process-wide registry of k8s.io/component-base (legacyregistry), where the
// libraries the proxy embeds register their metrics as they do in
// kube-apiserver: the JWT authenticator's
// (apiserver_authentication_jwt_authenticator_*: verification latency, JWKS
// fetches), the authentication config reloads
// (apiserver_authentication_config_controller_*), client-go's
// (rest_client_*: the SubjectAccessReview and TokenReview calls), and the Go
// runtime and process collectors.
func gatherer(own prometheus.Gatherer) prometheus.Gatherer {
	oidc.RegisterMetrics()
	authnconfigmetrics.RegisterMetrics()
	clientmetrics.EnsureRegistered()
	return prometheus.Gatherers{own, legacyregistry.DefaultGatherer}
}
