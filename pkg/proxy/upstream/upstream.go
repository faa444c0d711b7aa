// Package upstream is the Kubernetes API server the proxy forwards to: its
// URL and the transports to it (HTTP/2, and an HTTP/1.1 keep-alive pool),
// with the proxy's own credentials set by client-go.
package upstream

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream"
)

// Timeouts bound the upstream connection for every request, and the wait
// for response headers. None of them limits how long a response body
// streams, so watches, logs -f and upgraded connections are never cut.
type Timeouts struct {
	Dial           time.Duration
	TLSHandshake   time.Duration
	ResponseHeader time.Duration
}

// APIServer is the Kubernetes API server the proxy forwards to, with the
// proxy's own credentials.
type APIServer struct {
	// URL is the API server's base URL (it may carry a path prefix).
	URL *url.URL
	// HTTP2 is HTTP/2 when the server speaks TLS: many concurrent streams
	// (watches) share a few connections.
	HTTP2 http.RoundTripper
	// HTTP1 is HTTP/1.1 only, a keep-alive pool of up to 128 idle
	// connections: upgrade requests (SPDY, WebSocket) need it, because an
	// HTTP/1.1 101 response is what can be hijacked and spliced; requests
	// answered as a whole are cheaper on it (no flow control: no
	// WINDOW_UPDATE written for every 4 KiB read of a large body).
	HTTP1 http.RoundTripper

	// reload switches HTTP2 and HTTP1 to new transports when the
	// credential's files change (nil: no files).
	reload *credentialReload
}

// New builds both transports from a client-go rest.Config: TLS from
// rest.TLSConfigFor, credentials (token, token file, exec plugin, basic
// auth, client certificate) from rest.HTTPWrappersForConfig.
func New(cfg *rest.Config, t Timeouts) (*APIServer, error) {
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server URL: %w", err)
	}
	normal, upgrade, bases, err := build(cfg, t)
	if err != nil {
		return nil, err
	}
	a := &APIServer{URL: u, HTTP2: normal, HTTP1: upgrade}
	if files := credentialFiles(cfg); len(files) > 0 {
		sum, err := hashFiles(files)
		if err != nil {
			return nil, fmt.Errorf("API server credentials: %w", err)
		}
		a.reload = &credentialReload{cfg: cfg, t: t, files: files, hash: sum, old: bases,
			normal: newSwappable(normal), upgrade: newSwappable(upgrade)}
		a.HTTP2, a.HTTP1 = a.reload.normal, a.reload.upgrade
	}
	return a, nil
}

// build makes the ordinary and the upgrade transport with the credential
// (and the base transports under them).
func build(cfg *rest.Config, t Timeouts) (normal, upgrade http.RoundTripper, bases []*http.Transport, err error) {
	tlsConf, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("API server TLS configuration: %w", err)
	}
	var upgradeTLS *tls.Config
	if tlsConf != nil {
		upgradeTLS = tlsConf.Clone()
	}
	nb, ub := baseTransport(cfg, tlsConf, t, true), baseTransport(cfg, upgradeTLS, t, false)
	if normal, err = withCredentials(cfg, nb); err != nil {
		return nil, nil, nil, fmt.Errorf("API server credentials: %w", err)
	}
	if upgrade, err = withCredentials(cfg, ub); err != nil {
		return nil, nil, nil, fmt.Errorf("API server credentials: %w", err)
	}
	return normal, upgrade, []*http.Transport{nb, ub}, nil
}

// withCredentials wraps rt with the proxy's own credential from cfg,
// through client-go's own wrappers (bearer token or token file re-read as
// client-go re-reads it, exec plugin, auth provider, basic auth, user
// agent); client certificates are in the TLS configuration. A token file
// that cannot be read now is a configuration error, not a 401 later.
// (client-go's debug wrappers need klog verbosity 6, which oidc-proxy never
// sets: its -v stops at 5.)
func withCredentials(cfg *rest.Config, rt http.RoundTripper) (http.RoundTripper, error) {
	if cfg.BearerTokenFile != "" {
		if _, err := os.ReadFile(cfg.BearerTokenFile); err != nil {
			return nil, fmt.Errorf("read --token file: %w", err)
		}
	}
	return rest.HTTPWrappersForConfig(cfg, rt)
}

func baseTransport(cfg *rest.Config, tlsConf *tls.Config, t Timeouts, http2 bool) *http.Transport {
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{
		Proxy:                 cfg.Proxy,
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   t.TLSHandshake,
		ResponseHeaderTimeout: t.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		// Pass the client's Accept-Encoding and the server's encoded
		// body through untouched.
		DisableCompression: true,
	}
	if http2 {
		// Go's own HTTP/2 client, with the connection health check that
		// client-go configures on golang.org/x/net/http2 (a ping after 30s
		// without frames, so a dead connection under a watch is noticed).
		// Measured cheaper per request than x/net's (docs/benchmarks.md).
		// A stream may hold at most MaxStreamBuffer of unread data: a
		// watcher that stops reading makes the API server wait (flow
		// control) instead of growing the proxy by Go's default 4 MiB per
		// stream.
		tr.ForceAttemptHTTP2 = true
		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second,
			MaxReceiveBufferPerStream: MaxStreamBuffer}
		return utilnet.SetOldTransportDefaults(tr)
	}
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no HTTP/2
	if tr.TLSClientConfig != nil {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return utilnet.SetOldTransportDefaults(tr)
}

// MaxStreamBuffer is the most unread data an HTTP/2 stream from the API
// server may hold in the proxy (its flow-control window).
const MaxStreamBuffer = 1 << 20

// Transport sends upgrade requests over HTTP1 and the rest over HTTP2.
func (a *APIServer) Transport() http.RoundTripper {
	return upgradeRouter{normal: a.HTTP2, upgrade: a.HTTP1}
}

type upgradeRouter struct{ normal, upgrade http.RoundTripper }

func (t upgradeRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if httpstream.IsUpgradeRequest(req) {
		return t.upgrade.RoundTrip(req)
	}
	return t.normal.RoundTrip(req)
}
