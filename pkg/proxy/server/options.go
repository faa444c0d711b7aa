package server

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/trace"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"

	"github.com/kube-oidc/kube-oidc/pkg/proxy"
)

// Options are the server's flags: secure serving (kube-apiserver's names),
// the proxy's own API server credentials (kubectl's names), operations.
// Authentication flags belong to pkg/proxy/authn.
type Options struct {
	SecureServing *apiserveroptions.SecureServingOptions

	// Kubeconfig and ClientOverrides give the proxy's own credentials for
	// the API server; with neither, the in-cluster service account is used.
	Kubeconfig      string
	ClientOverrides clientcmd.ConfigOverrides

	// ReadinessProbePort serves plain-HTTP /ready (kube-oidc-proxy); 0 disables.
	ReadinessProbePort int
	// MetricsServingAddress serves plain-HTTP /metrics; "" disables.
	MetricsServingAddress string

	UpstreamTimeouts upstream.Timeouts
	// ReadinessTimeout bounds the API server /readyz probe.
	ReadinessTimeout time.Duration

	// ShutdownDelay keeps serving after SIGTERM while /readyz fails, so
	// load balancers stop sending new requests before the listener closes.
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownTimeout time.Duration

	// ProxyProtocol requires a PROXY protocol (v1 or v2) header on every
	// connection to the secure port, from peers in ProxyProtocolTrustedCIDRs
	// only; its source address is the client's.
	ProxyProtocol             bool
	ProxyProtocolTrustedCIDRs []string

	// AccessLogFormat is the access log's line format (pkg/proxy/accesslog).
	AccessLogFormat string
	// Modes: end-user impersonation, passthrough, extras, audit (modes.go).
	Modes *proxy.ModeOptions

	// TracerProvider traces requests, their reviews and their upstream
	// round trips (pkg/proxy/tracing); nil: tracing is off.
	TracerProvider trace.TracerProvider
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	ss := apiserveroptions.NewSecureServingOptions()
	ss.BindPort = 6443
	ss.Required = true
	ss.ServerCert.PairName = "oidc-proxy"
	return &Options{
		SecureServing:         ss,
		ReadinessProbePort:    8080,
		MetricsServingAddress: ":8081",
		UpstreamTimeouts: upstream.Timeouts{
			Dial:           30 * time.Second,
			TLSHandshake:   10 * time.Second,
			ResponseHeader: 2 * time.Minute,
		},
		ReadinessTimeout: 5 * time.Second,
		ShutdownTimeout:  60 * time.Second,
		AccessLogFormat:  string(accesslog.JSON),
		Modes:            proxy.NewModeOptions(),
	}
}

// clientFlagNames are kubectl's client flags minus those that make no sense
// for a proxy: --as, --as-group, --as-uid (the proxy impersonates per
// request), --namespace, --request-timeout (replaced by the upstream
// timeouts, which never cut watches) and --disable-compression (the proxy
// passes encodings through). No short forms, so none can clash.
func clientFlagNames() clientcmd.ConfigOverrideFlags {
	f := clientcmd.RecommendedConfigOverrideFlags("")
	f.AuthOverrideFlags.Impersonate = clientcmd.FlagInfo{}
	f.AuthOverrideFlags.ImpersonateUID = clientcmd.FlagInfo{}
	f.AuthOverrideFlags.ImpersonateGroups = clientcmd.FlagInfo{}
	f.ContextOverrideFlags.Namespace = clientcmd.FlagInfo{}
	f.Timeout = clientcmd.FlagInfo{}
	f.ClusterOverrideFlags.DisableCompression = clientcmd.FlagInfo{}
	f.ClusterOverrideFlags.APIServer.ShortName = ""
	f.ClusterOverrideFlags.APIServer.Description = "The address and port of the Kubernetes API server to forward to (overrides the kubeconfig)"
	f.AuthOverrideFlags.Token.Description = "Bearer token of the proxy's own identity at the API server (overrides the kubeconfig)"
	return f
}

// AddServingFlags registers the secure serving flags.
func (o *Options) AddServingFlags(fs *pflag.FlagSet) {
	o.SecureServing.AddFlags(fs)
	fs.BoolVar(&o.ProxyProtocol, "proxy-protocol", o.ProxyProtocol,
		"Require a PROXY protocol header (v1 or v2, as TCP load balancers send it) on every connection to the secure port, and take the client address from it (access log, audit sourceIPs, the remote-client-ip extra, the start of X-Forwarded-For resolution). Connections from peers outside --proxy-protocol-trusted-cidrs, and connections without a header, are closed. Probes must use --readiness-probe-port.")
	fs.StringSliceVar(&o.ProxyProtocolTrustedCIDRs, "proxy-protocol-trusted-cidrs", o.ProxyProtocolTrustedCIDRs,
		"With --proxy-protocol: the CIDRs (or single IPs) of the load balancers allowed to connect and send PROXY headers, e.g. 10.0.0.0/8,fd00::/8. Required with --proxy-protocol.")
}

// AddUpstreamFlags registers --kubeconfig, kubectl's client flags and the
// upstream timeouts.
func (o *Options) AddUpstreamFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig with the proxy's own credentials for the API server. Without it and without --server, $KUBECONFIG and ~/.kube/config are tried, then the in-cluster service account.")
	clientcmd.BindOverrideFlags(&o.ClientOverrides, fs, clientFlagNames())
	fs.DurationVar(&o.UpstreamTimeouts.Dial, "upstream-dial-timeout", o.UpstreamTimeouts.Dial,
		"Timeout for opening a TCP connection to the API server.")
	fs.DurationVar(&o.UpstreamTimeouts.TLSHandshake, "upstream-tls-handshake-timeout", o.UpstreamTimeouts.TLSHandshake,
		"Timeout for the TLS handshake with the API server.")
	fs.DurationVar(&o.UpstreamTimeouts.ResponseHeader, "upstream-response-header-timeout", o.UpstreamTimeouts.ResponseHeader,
		"Timeout for the API server's response headers. Response bodies (watches, logs -f) and upgraded connections (exec, attach, port-forward) are never cut.")
}

// AddOperationsFlags registers probe, metrics and shutdown flags.
func (o *Options) AddOperationsFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.ReadinessProbePort, "readiness-probe-port", o.ReadinessProbePort,
		"Port of the plain-HTTP readiness probe at /ready (kube-oidc-proxy compatible). 0 disables it. /readyz on the secure port answers the same.")
	fs.StringVar(&o.MetricsServingAddress, "metrics-serving-address", o.MetricsServingAddress,
		"Address of the plain-HTTP, unauthenticated Prometheus endpoint /metrics. Empty disables it.")
	fs.StringVar(&o.AccessLogFormat, "access-log-format", o.AccessLogFormat,
		"Format of the access log (one line per request, on stderr): 'json' (one JSON object per line) or 'siem' (kube-oidc-proxy's '[time] AuSuccess src:[...] URI:... inbound:[...]' / 'AuFail' lines).")
	fs.DurationVar(&o.ReadinessTimeout, "readiness-apiserver-timeout", o.ReadinessTimeout,
		"Timeout for the API server /readyz call made by each readiness probe.")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay-duration", o.ShutdownDelay,
		"After SIGTERM, keep serving this long with readiness failing before closing the listener.")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout,
		"After closing the listener, wait at most this long for in-flight requests to finish. Watches end then, cleanly at their next event boundary, and clients re-watch through another replica.")
}

// AddFlags registers every flag of this package.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.AddServingFlags(fs)
	o.AddUpstreamFlags(fs)
	o.AddOperationsFlags(fs)
	o.Modes.AddFlags(fs)
	o.Modes.AddAuditFlags(fs)
}

// Validate reports every invalid value.
func (o *Options) Validate() []error {
	errs := o.SecureServing.Validate()
	if o.SecureServing.BindPort == 0 && o.SecureServing.Listener == nil {
		errs = append(errs, fmt.Errorf("--secure-port must not be 0: the proxy only serves HTTPS"))
	}
	if o.ReadinessProbePort < 0 || o.ReadinessProbePort > 65535 {
		errs = append(errs, fmt.Errorf("--readiness-probe-port %d must be between 0 and 65535", o.ReadinessProbePort))
	}
	if o.MetricsServingAddress != "" {
		if _, _, err := net.SplitHostPort(o.MetricsServingAddress); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-serving-address %q: %w", o.MetricsServingAddress, err))
		}
	}
	for name, d := range map[string]time.Duration{
		"--upstream-dial-timeout":            o.UpstreamTimeouts.Dial,
		"--upstream-tls-handshake-timeout":   o.UpstreamTimeouts.TLSHandshake,
		"--upstream-response-header-timeout": o.UpstreamTimeouts.ResponseHeader,
		"--readiness-apiserver-timeout":      o.ReadinessTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if _, err := accesslog.ParseFormat(o.AccessLogFormat); err != nil {
		errs = append(errs, fmt.Errorf("--access-log-format: %w", err))
	}
	errs = append(errs, o.validateProxyProtocol()...)
	if o.ShutdownDelay < 0 || o.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("--shutdown-delay-duration and --shutdown-timeout must not be negative"))
	}
	return append(errs, o.Modes.Validate()...)
}

// RESTConfig loads the proxy's own credentials the way kubectl does
// (--kubeconfig, else $KUBECONFIG / ~/.kube/config, with the client flags
// on top), falling back to the in-cluster service account.
func (o *Options) RESTConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &o.ClientOverrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load the proxy's API server credentials (give --kubeconfig, or run in a pod with a service account): %w", err)
	}
	if cfg.Impersonate.UserName != "" || len(cfg.Impersonate.Groups) > 0 || cfg.Impersonate.UID != "" {
		return nil, fmt.Errorf("the kubeconfig for oidc-proxy must not set 'as'/'as-groups'/'as-uid': the proxy impersonates each request's user itself")
	}
	return cfg, nil
}
