package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apiserver/pkg/server"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

// Server runs oidc-proxy: the secure port with the handler chain, the
// readiness probe port and the metrics address.
type Server struct {
	Options *Options
	// NewAuthenticator builds the authenticator; the server already
	// listens (and answers 503 / not ready) while it runs. An error stops Run.
	NewAuthenticator func(ctx context.Context) (authn.Authenticator, error)
	// Registry receives the proxy's metrics (and should hold the
	// authenticator's); /metrics serves it.
	Registry *prometheus.Registry
	Log      *slog.Logger
	// AccessLogOut receives the access log lines (os.Stderr when nil).
	AccessLogOut io.Writer
	// Public handlers are served without authentication on the secure port.
	Public map[string]http.Handler
	// PublicFor, when set, adds public handlers once the serving
	// certificate is known: generatedChainPEM is the PEM chain of the
	// self-signed certificate the proxy generated (leaf first, then its
	// CA), nil when the administrator gave --tls-cert-file. An error stops Run.
	PublicFor func(generatedChainPEM []byte) (map[string]http.Handler, error)
	// OnServing, when set, is told the bound addresses once everything
	// listens (readiness or metrics nil when disabled).
	OnServing func(secure, readiness, metrics net.Addr)
}

// Run serves until ctx ends, then drains: /readyz fails, after
// ShutdownDelay the listener closes and in-flight requests get up to
// ShutdownTimeout to finish. Hijacked (upgraded) connections are not
// waited for.
func (s *Server) Run(ctx context.Context) error {
	o, log := s.Options, s.Log
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	up, err := NewUpstream(cfg, o.UpstreamTimeouts)
	if err != nil {
		return err
	}
	modes, err := NewModes(cfg, o.Modes, o.UpstreamTimeouts, log)
	if err != nil {
		return err
	}
	if a := modes.Audit; a != nil {
		stop := make(chan struct{})
		if err := a.Backend.Run(stop); err != nil {
			return fmt.Errorf("start the audit backend: %w", err)
		}
		defer func() { // after the drain below: flushes pending events
			close(stop)
			a.Backend.Shutdown()
		}()
	}
	m, err := NewMetrics(s.Registry)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if c := modes.TokenReviewsThrottled; c != nil {
		if err := s.Registry.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	_ = s.Registry.Register(collectors.NewGoCollector())
	_ = s.Registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	hadCert := o.SecureServing.ServerCert.CertKey.CertFile != ""
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		return fmt.Errorf("self-signed serving certificate in --cert-dir %q: %w", o.SecureServing.ServerCert.CertDirectory, err)
	}
	if !hadCert {
		if f := o.SecureServing.ServerCert.CertKey.CertFile; f != "" {
			log.Warn("no --tls-cert-file given: serving a self-signed certificate; clients must trust it explicitly",
				"cert", f, "key", o.SecureServing.ServerCert.CertKey.KeyFile)
		} else {
			log.Warn("no --tls-cert-file and no --cert-dir: serving a self-signed certificate generated in memory")
		}
	}
	public := s.Public
	if s.PublicFor != nil {
		var generated []byte
		if !hadCert {
			if generated, err = generatedChain(o); err != nil {
				return err
			}
		}
		more, err := s.PublicFor(generated)
		if err != nil {
			return err
		}
		public = mergePublic(s.Public, more)
	}
	var serving *server.SecureServingInfo
	if err := o.SecureServing.ApplyTo(&serving); err != nil {
		return fmt.Errorf("secure serving: %w", err)
	}
	if serving == nil {
		return errors.New("secure serving is disabled: set --secure-port")
	}

	format, err := accesslog.ParseFormat(o.AccessLogFormat)
	if err != nil {
		return fmt.Errorf("--access-log-format: %w", err)
	}
	accessOut := s.AccessLogOut
	if accessOut == nil {
		accessOut = os.Stderr
	}

	clientIP, err := NewClientIPResolver(o.Modes.TrustedProxyCIDRs)
	if err != nil {
		return fmt.Errorf("--trusted-proxy-cidrs: %w", err)
	}

	pending := NewPendingAuthenticator()
	var draining atomic.Bool
	checks := []Check{
		{Name: "shutdown", Check: func(context.Context) error {
			if draining.Load() {
				return errors.New("shutting down")
			}
			return nil
		}},
		AuthenticatorCheck(pending),
		UpstreamCheck(up.Normal, up.URL, o.ReadinessTimeout),
	}
	handler := NewHandler(Config{
		Authenticator: pending, Upstream: up, Readiness: checks,
		Public: public, Metrics: m, Log: log, Modes: modes, ClientIP: clientIP,
		AccessLog: NewAccessLog(accessOut, format),
	})

	// Side servers first, so a port clash fails before the secure port serves.
	var side []*http.Server
	var readyAddr, metricsAddr net.Addr
	if o.ReadinessProbePort > 0 {
		mux := http.NewServeMux()
		mux.Handle("/ready", ReadyHandler(checks, log))
		srv, addr, err := listenPlain(net.JoinHostPort("", strconv.Itoa(o.ReadinessProbePort)), mux, log)
		if err != nil {
			return fmt.Errorf("--readiness-probe-port: %w", err)
		}
		side, readyAddr = append(side, srv), addr
	}
	if o.MetricsServingAddress != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
		srv, addr, err := listenPlain(o.MetricsServingAddress, mux, log)
		if err != nil {
			closeAll(side)
			return fmt.Errorf("--metrics-serving-address: %w", err)
		}
		side, metricsAddr = append(side, srv), addr
	}
	defer closeAll(side)

	certCtx, stopCerts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCerts()
	secure, err := serveSecure(certCtx, serving, handler, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("oidc-proxy serving", "address", serving.Listener.Addr().String(), "apiserver", up.URL.String())
	if s.OnServing != nil {
		s.OnServing(serving.Listener.Addr(), readyAddr, metricsAddr)
	}

	authErr := make(chan error, 1)
	go func() {
		a, err := s.NewAuthenticator(ctx)
		if err != nil {
			authErr <- err
			return
		}
		pending.Set(a)
		log.Info("authenticator ready to verify tokens")
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: readiness now fails", "delay", o.ShutdownDelay, "drainTimeout", o.ShutdownTimeout)
	case err := <-authErr:
		runErr = fmt.Errorf("authenticator: %w", err)
	}
	draining.Store(true)
	if runErr == nil && o.ShutdownDelay > 0 {
		t := time.NewTimer(o.ShutdownDelay)
		<-t.C
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := secure.Shutdown(drainCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", "timeout", o.ShutdownTimeout, "err", err)
		_ = secure.Close()
	}
	log.Info("oidc-proxy stopped")
	return runErr
}

// listenPlain serves h over plain HTTP on addr with inbound limits.
func listenPlain(addr string, h http.Handler, log *slog.Logger) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("plain HTTP server stopped", "address", ln.Addr().String(), "err", err)
		}
	}()
	return srv, ln.Addr(), nil
}

func closeAll(servers []*http.Server) {
	for _, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
}

// generatedChain returns the PEM of the self-signed serving certificate
// MaybeDefaultWithSelfSignedCerts generated, from --cert-dir or memory.
func generatedChain(o *Options) ([]byte, error) {
	if f := o.SecureServing.ServerCert.CertKey.CertFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read generated serving certificate: %w", err)
		}
		return data, nil
	}
	if g := o.SecureServing.ServerCert.GeneratedCert; g != nil {
		cert, _ := g.CurrentCertKeyContent()
		return cert, nil
	}
	return nil, nil
}

func mergePublic(a, b map[string]http.Handler) map[string]http.Handler {
	m := make(map[string]http.Handler, len(a)+len(b))
	maps.Copy(m, a)
	maps.Copy(m, b)
	return m
}
