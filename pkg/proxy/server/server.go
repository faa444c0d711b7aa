// Package server runs oidc-proxy: its flags (Options), the start-up stages
// (Server.Complete builds and checks the configuration, CompletedServer.New
// builds the handler chain and the side servers, RunnableServer.Run serves
// and drains) and TLS serving.
package server

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

	"github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apiserver/pkg/server"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/tracing"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"

	"github.com/kube-oidc/kube-oidc/pkg/proxy"
)

// Server runs oidc-proxy: the secure port with the handler chain, the
// readiness probe port and the metrics address.
type Server struct {
	Options *Options
	// NewAuthenticator builds the authenticator; the server already
	// listens (and answers 503 / not ready) while it runs. An error stops Run.
	NewAuthenticator func(ctx context.Context) (authn.Authenticator, error)
	// Registry receives the proxy's metrics (and should hold the
	// authenticator's); /metrics serves it with the metrics of the
	// Kubernetes libraries (gatherer).
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
	// Pages, when set, builds the browser pages (proxy.Config.Pages) with
	// the proxy's chain and its current serving certificate (PEM, leaf
	// first); New calls it after Complete has called PublicFor.
	Pages func(api http.Handler, servingCert func() []byte) proxy.Pages
	// OnServing, when set, is told the bound addresses once everything
	// listens (readiness or metrics nil when disabled).
	OnServing func(secure, readiness, metrics net.Addr)
}

// Run builds the configuration (Complete), the servers (New) and serves
// them until ctx ends (RunnableServer.Run).
func (s *Server) Run(ctx context.Context) error {
	c, err := s.Complete()
	if err != nil {
		return err
	}
	r, err := c.New()
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// CompletedServer is a Server whose configuration is complete and checked:
// the upstream and its transports, the modes, the serving certificate and
// secure listener, the public handlers, the access-log format and the
// client-address resolver. Nothing serves or runs in the background yet.
type CompletedServer struct {
	s         *Server
	up        *upstream.APIServer
	modes     *proxy.Modes
	serving   *server.SecureServingInfo
	public    map[string]http.Handler
	format    accesslog.Format
	accessOut io.Writer
	clientIP  *proxy.ClientIPResolver
	// proxyProtocol is the --proxy-protocol connection policy (nil: off).
	proxyProtocol proxyproto.ConnPolicyFunc
}

// Complete builds and checks everything the flags describe, so that a
// mistake fails here, before anything is served: the upstream REST config
// and transports, the modes, the serving certificate (a self-signed one
// when none is given) and the secure listener, the public handlers.
func (s *Server) Complete() (*CompletedServer, error) {
	o, log := s.Options, s.Log
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	if o.TracerProvider != nil {
		// Forwarded requests, SubjectAccessReviews and TokenReviews.
		cfg.Wrap(tracing.Transport(o.TracerProvider))
	}
	up, err := upstream.New(cfg, o.UpstreamTimeouts)
	if err != nil {
		return nil, err
	}
	modes, err := proxy.NewModes(cfg, o.Modes, o.UpstreamTimeouts, log)
	if err != nil {
		return nil, err
	}
	format, err := accesslog.ParseFormat(o.AccessLogFormat)
	if err != nil {
		return nil, fmt.Errorf("--access-log-format: %w", err)
	}
	clientIP, err := proxy.NewClientIPResolver(o.Modes.TrustedProxyCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxy-cidrs: %w", err)
	}
	proxyProtocol, err := o.proxyProtocolPolicy()
	if err != nil {
		return nil, err
	}

	hadCert := o.SecureServing.ServerCert.CertKey.CertFile != ""
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("self-signed serving certificate in --cert-dir %q: %w", o.SecureServing.ServerCert.CertDirectory, err)
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
				return nil, err
			}
		}
		more, err := s.PublicFor(generated)
		if err != nil {
			return nil, err
		}
		public = mergePublic(s.Public, more)
	}
	// Binds the secure port (as kube-apiserver's options do), so a port
	// clash is a configuration error.
	var serving *server.SecureServingInfo
	if err := o.SecureServing.ApplyTo(&serving); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	if serving == nil {
		return nil, errors.New("secure serving is disabled: set --secure-port")
	}
	accessOut := s.AccessLogOut
	if accessOut == nil {
		accessOut = os.Stderr
	}
	return &CompletedServer{s: s, up: up, modes: modes, serving: serving, public: public,
		format: format, accessOut: accessOut, clientIP: clientIP, proxyProtocol: proxyProtocol}, nil
}

// RunnableServer is a CompletedServer with its metrics registered, its
// handler chain built and its side servers (readiness probe, metrics)
// listening; Run serves the secure port and drains.
type RunnableServer struct {
	c        *CompletedServer
	pending  *proxy.PendingAuthenticator
	draining *atomic.Bool
	// drain is cancelled when the listener closes: watches end then.
	drain       context.Context
	startDrain  context.CancelFunc
	handler     http.Handler
	side        []*http.Server
	readyAddr   net.Addr
	metricsAddr net.Addr
}

// New registers the metrics, builds the handler chain (with an
// authenticator that answers 503 until Run has built the real one) and
// starts the side servers, so that a port clash there fails before the
// secure port serves. When New fails, nothing is left listening.
func (c *CompletedServer) New() (_ *RunnableServer, err error) {
	s, o, log := c.s, c.s.Options, c.s.Log
	defer func() {
		if err != nil {
			_ = c.serving.Listener.Close()
		}
	}()
	m, err := proxy.NewMetrics(s.Registry)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if tc := c.modes.TokenReviewsThrottled; tc != nil {
		if err := s.Registry.Register(tc); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}

	r := &RunnableServer{c: c, pending: proxy.NewPendingAuthenticator(), draining: new(atomic.Bool)}
	r.drain, r.startDrain = context.WithCancel(context.Background())
	checks := []proxy.Check{
		{Name: "shutdown", Check: func(context.Context) error {
			if r.draining.Load() {
				return errors.New("shutting down")
			}
			return nil
		}},
		proxy.AuthenticatorCheck(r.pending),
		proxy.UpstreamCheck(c.up.HTTP2, c.up.URL, o.ReadinessTimeout),
	}
	r.handler = proxy.NewHandler(proxy.Config{
		Authenticator: r.pending, Upstream: c.up, Readiness: checks,
		Public: c.public, Metrics: m, Log: log, Modes: c.modes, ClientIP: c.clientIP,
		AccessLog: proxy.NewAccessLog(c.accessOut, c.format), Drain: r.drain, Pages: c.pages(),
		Tracer: tracer(o.TracerProvider),
	})

	if o.ReadinessProbePort > 0 {
		mux := http.NewServeMux()
		mux.Handle("/ready", proxy.ReadyHandler(checks, log))
		// Liveness without the secure port, which --proxy-protocol closes
		// to the kubelet.
		mux.Handle("/livez", proxy.WithHealth(http.NotFoundHandler(), nil))
		srv, addr, err := listenPlain(net.JoinHostPort("", strconv.Itoa(o.ReadinessProbePort)), mux, log)
		if err != nil {
			return nil, fmt.Errorf("--readiness-probe-port: %w", err)
		}
		r.side, r.readyAddr = append(r.side, srv), addr
	}
	if o.MetricsServingAddress != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(gatherer(s.Registry), promhttp.HandlerOpts{}))
		srv, addr, err := listenPlain(o.MetricsServingAddress, mux, log)
		if err != nil {
			closeAll(r.side)
			return nil, fmt.Errorf("--metrics-serving-address: %w", err)
		}
		r.side, r.metricsAddr = append(r.side, srv), addr
	}
	return r, nil
}

// Run serves until ctx ends, then drains: /readyz fails, after
// ShutdownDelay the listener closes and in-flight requests get up to
// ShutdownTimeout to finish; watches end cleanly at their next event
// boundary then, so clients re-watch elsewhere instead of holding the
// drain. Hijacked (upgraded) connections are not waited for. The authenticator is built while the server already
// listens; its failure stops Run.
func (r *RunnableServer) Run(ctx context.Context) error {
	c, s, o, log := r.c, r.c.s, r.c.s.Options, r.c.s.Log
	defer closeAll(r.side)
	if a := c.modes.Audit; a != nil {
		stop := make(chan struct{})
		if err := a.Backend.Run(stop); err != nil {
			_ = c.serving.Listener.Close()
			return fmt.Errorf("start the audit backend: %w", err)
		}
		defer func() { // after the drain below: flushes pending events
			close(stop)
			a.Backend.Shutdown()
		}()
	}

	certCtx, stopCerts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCerts()
	secure, err := serveSecure(certCtx, c.serving, c.proxyProtocol, r.handler, log)
	if err != nil {
		_ = c.serving.Listener.Close()
		return fmt.Errorf("serve: %w", err)
	}
	go c.up.RunCredentialReload(certCtx, credentialReloadInterval, log)
	log.Info("oidc-proxy serving", "address", c.serving.Listener.Addr().String(), "apiserver", c.up.URL.String())
	if s.OnServing != nil {
		s.OnServing(c.serving.Listener.Addr(), r.readyAddr, r.metricsAddr)
	}

	authErr := make(chan error, 1)
	go func() {
		a, err := s.NewAuthenticator(ctx)
		if err != nil {
			authErr <- err
			return
		}
		if err := checkAnonymous(a, c.modes); err != nil {
			authErr <- err
			return
		}
		r.pending.Set(a)
		log.Info("authenticator ready to verify tokens")
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: readiness now fails", "delay", o.ShutdownDelay, "drainTimeout", o.ShutdownTimeout)
	case err := <-authErr:
		runErr = fmt.Errorf("authenticator: %w", err)
	}
	r.draining.Store(true)
	if runErr == nil && o.ShutdownDelay > 0 {
		t := time.NewTimer(o.ShutdownDelay)
		<-t.C
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	r.startDrain()
	if err := secure.Shutdown(drainCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", "timeout", o.ShutdownTimeout, "err", err)
		_ = secure.Close()
	}
	log.Info("oidc-proxy stopped")
	return runErr
}

// credentialReloadInterval is how often the files of the proxy's own API
// server credential are checked for changes.
const credentialReloadInterval = 10 * time.Second

// checkAnonymous refuses an anonymous section with --disable-impersonation:
// anonymous requests are forwarded by impersonating system:anonymous, which
// that mode turns off.
func checkAnonymous(a authn.Authenticator, m *proxy.Modes) error {
	anon, ok := a.(authn.AnonymousAuthenticator)
	if !ok || anon.Anonymous() == nil || !m.DisableImpersonation {
		return nil
	}
	return errors.New("the authentication configuration's anonymous section needs impersonation (the proxy forwards system:anonymous with Impersonate-User), which --disable-impersonation turns off: remove the anonymous section or --disable-impersonation")
}

// tracer is the request spans' tracer, nil when tracing is off.
func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracing.ServiceName)
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

// pages binds Server.Pages to the serving certificate (nil without pages).
func (c *CompletedServer) pages() func(api http.Handler) proxy.Pages {
	if c.s.Pages == nil {
		return nil
	}
	cert := func() []byte {
		if c.serving.Cert == nil {
			return nil
		}
		pem, _ := c.serving.Cert.CurrentCertKeyContent()
		return pem
	}
	return func(api http.Handler) proxy.Pages { return c.s.Pages(api, cert) }
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
