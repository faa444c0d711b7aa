package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/pires/go-proxyproto"
	"k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// Inbound limits of the secure port (the values kube-apiserver uses).
const (
	readHeaderTimeout = 32 * time.Second // slowloris: headers must arrive within this
	idleTimeout       = 90 * time.Second // keep-alive connections without requests are closed
	maxHeaderBytes    = 1 << 20
	tcpKeepAlive      = 3 * time.Minute
)

// serveSecure serves h over TLS on the listener prepared by
// SecureServingOptions, with the certificates of info reloaded from disk by
// k8s.io/apiserver's dynamic certificate controllers (as kube-apiserver's
// SecureServingInfo.Serve does), but on Go's own HTTP/1.1 and HTTP/2
// servers: SecureServingInfo.Serve uses golang.org/x/net/http2's server,
// which measured markedly slower for a proxy (docs/benchmarks.md).
// With a PROXY protocol policy (nil: off), each connection is read through
// its PROXY header first (withProxyProtocol), below TLS.
// The server stops accepting when ctx ends; Shutdown drains it.
func serveSecure(ctx context.Context, info *server.SecureServingInfo, proxyProtocol proxyproto.ConnPolicyFunc, h http.Handler, log *slog.Logger) (*http.Server, error) {
	if info.Listener == nil {
		return nil, errors.New("secure serving has no listener")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if info.DisableHTTP2 {
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	if info.MinTLSVersion > 0 {
		tlsConfig.MinVersion = info.MinTLSVersion
	}
	if len(info.CipherSuites) > 0 {
		tlsConfig.CipherSuites = info.CipherSuites
	}
	if len(info.CurvePreferences) > 0 {
		tlsConfig.CurvePreferences = info.CurvePreferences
	}
	if info.Cert == nil && len(info.SNICerts) == 0 {
		return nil, errors.New("no serving certificate")
	}
	certs := dynamiccertificates.NewDynamicServingCertificateController(tlsConfig, nil, info.Cert, info.SNICerts, nil)
	if info.Cert != nil {
		info.Cert.AddListener(certs)
		if c, ok := info.Cert.(dynamiccertificates.ControllerRunner); ok {
			if err := c.RunOnce(ctx); err != nil {
				return nil, fmt.Errorf("load serving certificate: %w", err)
			}
			go c.Run(ctx, 1)
		}
	}
	for _, sni := range info.SNICerts {
		sni.AddListener(certs)
		if c, ok := sni.(dynamiccertificates.ControllerRunner); ok {
			if err := c.RunOnce(ctx); err != nil {
				return nil, fmt.Errorf("load SNI certificate: %w", err)
			}
			go c.Run(ctx, 1)
		}
	}
	if err := certs.RunOnce(); err != nil {
		return nil, fmt.Errorf("serving certificates: %w", err)
	}
	go certs.Run(1, ctx.Done())
	tlsConfig.GetConfigForClient = certs.GetConfigForClient

	h2 := &http.HTTP2Config{MaxConcurrentStreams: 100}
	if info.HTTP2MaxStreamsPerConnection > 0 {
		h2.MaxConcurrentStreams = info.HTTP2MaxStreamsPerConnection
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             h2,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if info.DisableHTTP2 {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	ln := withProxyProtocol(keepAliveListener{info.Listener}, proxyProtocol)
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("secure server stopped", "err", err)
		}
	}()
	return srv, nil
}

// keepAliveListener turns on TCP keep-alive for accepted connections, so
// dead clients (a closed laptop under a watch) are noticed.
type keepAliveListener struct{ net.Listener }

func (l keepAliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: tcpKeepAlive, Interval: 15 * time.Second, Count: 9})
	}
	return c, nil
}
