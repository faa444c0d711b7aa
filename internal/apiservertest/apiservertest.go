// Package apiservertest is a recording fake Kubernetes API server for the
// proxy's tests: TLS with HTTP/2, every request recorded as it arrived.
package apiservertest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// Request is one request as the fake API server saw it.
type Request struct {
	Method, Path string
	ProtoMajor   int
	Header       http.Header
}

// Server is the fake API server.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Request
	// handler answers after the request is recorded; nil: 200 with an
	// empty PodList.
	handler http.HandlerFunc
}

// New starts the fake API server (closed when the test ends); h answers
// each request after it is recorded (nil: 200 with an empty PodList).
func New(t testing.TB, h http.HandlerFunc) *Server {
	t.Helper()
	return newServer(t, h, nil)
}

// NewWithClientCA is New with TLS client authentication required: every
// connection must present a client certificate signed by one of clientCAs
// (as kube-apiserver's --client-ca-file).
func NewWithClientCA(t testing.TB, h http.HandlerFunc, clientCAs *x509.CertPool) *Server {
	t.Helper()
	return newServer(t, h, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs})
}

func newServer(t testing.TB, h http.HandlerFunc, tlsConfig *tls.Config) *Server {
	t.Helper()
	u := &Server{handler: h}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, Request{Method: r.Method, Path: r.URL.Path, ProtoMajor: r.ProtoMajor, Header: r.Header.Clone()})
		u.mu.Unlock()
		if u.handler != nil {
			u.handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","items":[]}`)
	}))
	u.EnableHTTP2 = true
	u.TLS = tlsConfig
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

// Requests returns the requests received so far.
func (u *Server) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.reqs...)
}

// RESTConfig is a client config for the fake API server that sends token.
func (u *Server) RESTConfig(token string) *rest.Config {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.Certificate().Raw})
	return &rest.Config{Host: u.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}
