package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/internal/syncbuf"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

// waitFor polls cond until it holds; the OIDC authenticator of
// k8s.io/apiserver retries discovery every 10s, so 30s bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const proxyCredential = "proxy-own-credential-xyz"

// noTokens is an authenticator that accepts no token.
type noTokens struct{}

func (noTokens) AuthenticateToken(context.Context, string) (*authenticator.Response, bool, error) {
	return nil, false, nil
}
func (noTokens) HealthCheck() error { return nil }

// writeKubeconfig writes the proxy's own kubeconfig for the fake API server.
func writeKubeconfig(t *testing.T, up *apiservertest.Server) string {
	t.Helper()
	rc := up.RESTConfig(proxyCredential)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fake"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{Token: proxyCredential}
	cfg.Contexts["fake"] = &clientcmdapi.Context{Cluster: "fake", AuthInfo: "proxy"}
	cfg.CurrentContext = "fake"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type runningServer struct {
	secure, ready, metrics string
	client                 *http.Client
	certDir                string
	accessLog              *lockedBuffer
	cancel                 context.CancelFunc
	done                   chan error
}

// startServer runs Server.Run with the real authenticator for provider p.
func startServer(t *testing.T, up *apiservertest.Server, p *oidctest.Provider, mods ...func(*Options)) *runningServer {
	t.Helper()
	ao := authn.NewOptions()
	ao.IssuerURL = p.Issuer
	ao.ClientID = p.ClientID
	ao.CAFile = p.CAFile(t)
	ao.GroupsClaim = "groups"
	return startServerWith(t, up, ao, mods...)
}

// startServerWith runs Server.Run with the real authenticator built from ao.
func startServerWith(t *testing.T, up *apiservertest.Server, ao *authn.Options, mods ...func(*Options)) *runningServer {
	t.Helper()
	o := NewOptions()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.SecureServing.Listener = ln
	certDir := t.TempDir()
	o.SecureServing.ServerCert.CertDirectory = certDir
	o.Kubeconfig = writeKubeconfig(t, up)
	o.ReadinessProbePort = freePort(t)
	o.MetricsServingAddress = "127.0.0.1:0"
	for _, m := range mods {
		m(o)
	}
	if errs := o.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	ao.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	addrs := make(chan [3]net.Addr, 1)
	accessLog := &lockedBuffer{}
	srv := &Server{
		Options: o,
		NewAuthenticator: func(ctx context.Context) (authn.Authenticator, error) {
			return authn.New(ctx, ao, reg)
		},
		Registry:     reg,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		AccessLogOut: accessLog,
		OnServing:    func(s, r, m net.Addr) { addrs <- [3]net.Addr{s, r, m} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var a [3]net.Addr
	select {
	case a = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	rs := &runningServer{
		secure: "https://" + a[0].String(), ready: "http://" + a[1].String(), metrics: "http://" + a[2].String(),
		certDir: certDir, cancel: cancel, done: done, accessLog: accessLog,
	}
	t.Cleanup(func() { rs.stop(t) })
	if o.SecureServing.ServerCert.CertKey.CertFile != filepath.Join(certDir, "oidc-proxy.crt") {
		return rs // the test brought its own certificate
	}
	// The self-signed certificate was written to --cert-dir: trust exactly it.
	pemBytes, err := os.ReadFile(filepath.Join(certDir, "oidc-proxy.crt"))
	if err != nil {
		t.Fatalf("self-signed certificate not in --cert-dir: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("bad generated certificate")
	}
	rs.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	return rs
}

// lockedBuffer is safe to read while other goroutines write it.
type lockedBuffer = syncbuf.Buffer

func (rs *runningServer) stop(t *testing.T) {
	if rs.cancel == nil {
		return
	}
	rs.cancel()
	rs.cancel = nil
	select {
	case err := <-rs.done:
		if err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

func (rs *runningServer) get(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := rs.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

const watchEvent = `{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a"}}}` + "\n"

func TestServerEndToEndWithRealAuthenticator(t *testing.T) {
	p := oidctest.New(t)
	p.User.Groups = []string{"dev"}
	p.SetDown(true) // the issuer is unreachable when the proxy starts
	up := apiservertest.New(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" { // one event, then an idle watch
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, watchEvent)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	rs := startServer(t, up, p)

	forwarded := func() int {
		n := 0
		for _, r := range up.Requests() {
			if r.Path != "/readyz" {
				n++
			}
		}
		return n
	}
	good := p.IDToken(p.User)

	t.Run("issuer down at start: not ready, tokens get 401, nothing forwarded", func(t *testing.T) {
		if code, _, _ := rs.get(t, rs.secure+"/healthz", ""); code != 200 {
			t.Fatalf("/healthz = %d", code)
		}
		if code, _, _ := rs.get(t, rs.secure+"/readyz", ""); code != 503 {
			t.Fatalf("/readyz = %d, want 503", code)
		}
		if code, _, _ := rs.get(t, rs.ready+"/ready", ""); code != 503 {
			t.Fatalf("probe port /ready = %d, want 503", code)
		}
		waitFor(t, "the authenticator to be built", func() bool {
			code, body, hdr := rs.get(t, rs.secure+"/api/v1/pods", good)
			// 503 only while the authenticator is still being built.
			return code == 401 && strings.Contains(body, "identity provider is not reachable yet") && hdr.Get("WWW-Authenticate") != ""
		})
		if n := forwarded(); n != 0 {
			t.Fatalf("%d requests forwarded while not ready", n)
		}
	})

	p.SetDown(false)
	t.Run("issuer up: ready, valid token forwarded with impersonation", func(t *testing.T) {
		waitFor(t, "readiness", func() bool { code, _, _ := rs.get(t, rs.secure+"/readyz", ""); return code == 200 })
		if code, _, _ := rs.get(t, rs.ready+"/ready", ""); code != 200 {
			t.Fatalf("probe port /ready = %d, want 200", code)
		}
		code, body, _ := rs.get(t, rs.secure+"/api/v1/namespaces/default/pods", good)
		if code != 200 || body != "ok" {
			t.Fatalf("valid token: %d %s", code, body)
		}
		reqs := up.Requests()
		last := reqs[len(reqs)-1]
		wantUser := p.Issuer + "#" + p.User.Subject
		if got := last.Header.Get("Impersonate-User"); got != wantUser {
			t.Errorf("Impersonate-User %q, want %q", got, wantUser)
		}
		if got := last.Header.Values("Impersonate-Group"); !slices.Equal(got, []string{"dev", "system:authenticated"}) {
			t.Errorf("Impersonate-Group %q", got)
		}
		if got := last.Header.Get("Authorization"); got != "Bearer "+proxyCredential {
			t.Errorf("Authorization %q", got)
		}
	})

	t.Run("hostile tokens are all 401 and never forwarded", func(t *testing.T) {
		before := forwarded()
		for kind, tok := range p.HostileTokens(t, p.User) {
			code, body, hdr := rs.get(t, rs.secure+"/api/v1/pods", tok)
			if code != 401 || !strings.Contains(body, `"kind":"Status"`) || hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %d %s", kind, code, body)
			}
		}
		if n := forwarded() - before; n != 0 {
			t.Fatalf("%d hostile requests forwarded", n)
		}
	})

	t.Run("system: group from the IdP is 403", func(t *testing.T) {
		u := p.User
		u.Groups = []string{"system:masters"}
		code, body, _ := rs.get(t, rs.secure+"/api/v1/pods", p.IDToken(u))
		if code != 403 || !strings.Contains(body, "system:") {
			t.Fatalf("%d %s", code, body)
		}
	})

	t.Run("padded system: claims are 403 naming the claim, plain and upgrade, never forwarded", func(t *testing.T) {
		before := forwarded()
		h1 := rs.client.Transport.(*http.Transport).Clone()
		h1.Protocols = new(http.Protocols)
		h1.Protocols.SetHTTP1(true) // only HTTP/1.1, as kubectl exec's SPDY upgrade
		h1.TLSClientConfig = h1.TLSClientConfig.Clone()
		h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
		h1Client := &http.Client{Transport: h1}
		for _, u := range []oidctest.User{
			{Subject: p.User.Subject, Groups: []string{" system:masters"}},
			{Subject: p.User.Subject, Groups: []string{"\tsystem:nodes"}},
			{Subject: p.User.Subject, Groups: []string{"system:masters "}},
		} {
			tok := p.IDToken(u)
			for _, kind := range []string{"plain", "upgrade"} {
				method, path := http.MethodGet, "/api/v1/namespaces/default/pods"
				c := rs.client
				if kind == "upgrade" {
					method, path, c = http.MethodPost, "/api/v1/namespaces/default/pods/p/exec?command=sh", h1Client
				}
				req, _ := http.NewRequest(method, rs.secure+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				if kind == "upgrade" {
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set("Upgrade", "SPDY/3.1")
					req.Header.Set("X-Stream-Protocol-Version", "v4.channel.k8s.io")
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 403 || !strings.Contains(string(b), `(from claim \"groups\")`) || !strings.Contains(string(b), `"kind":"Status"`) {
					t.Errorf("%q %s: %d %s", u.Groups, kind, res.StatusCode, b)
				}
			}
		}
		if n := forwarded() - before; n != 0 {
			t.Fatalf("%d requests with padded claims forwarded", n)
		}
	})

	t.Run("metrics endpoint", func(t *testing.T) {
		res, err := http.Get(rs.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{
			`oidc_proxy_http_requests_total{code="200",verb="list"}`,
			`oidc_proxy_http_requests_total{code="401",verb="list"}`,
			"oidc_proxy_upstream_request_duration_seconds_bucket",
			"go_goroutines",
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(string(b), good) {
			t.Error("token in /metrics")
		}
	})

	t.Run("shutdown ends watches cleanly, drains and stops", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, rs.secure+"/api/v1/namespaces/default/configmaps?watch=true", nil)
		req.Header.Set("Authorization", "Bearer "+good)
		res, err := rs.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		first := make([]byte, len(watchEvent))
		if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != watchEvent {
			t.Fatalf("watch: %q %v", first, err)
		}
		// --shutdown-timeout is 60s and stop waits 30s: an open watch
		// that held the drain would fail it.
		rs.stop(t)
		if rest, err := io.ReadAll(res.Body); err != nil || len(rest) != 0 {
			t.Fatalf("the watch ended with %q, %v; want its normal end", rest, err)
		}
		if _, err := rs.client.Get(rs.secure + "/healthz"); err == nil {
			t.Fatal("still serving after shutdown")
		}
		if _, err := http.Get(rs.ready + "/ready"); err == nil {
			t.Fatal("probe port still serving after shutdown")
		}
	})
}

func TestServerRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"missing kubeconfig", func(o *Options) { o.Kubeconfig = filepath.Join(t.TempDir(), "nope") }, "load the proxy's API server credentials"},
		{"kubeconfig impersonating", func(o *Options) { o.ClientOverrides.AuthInfo.Impersonate = "admin" }, "must not set 'as'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := apiservertest.New(t, nil)
			o := NewOptions()
			o.Kubeconfig = writeKubeconfig(t, up)
			tt.mod(o)
			_, err := o.RESTConfig()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestServerFailsBeforeServing: a configuration mistake fails in Complete
// or New, with nothing left listening and no authenticator built; only a
// server that got through both serves.
func TestServerFailsBeforeServing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		mod     func(*Options, *Server)
		stage   string // "complete" or "new"
		wantErr string
	}{
		{"missing kubeconfig", func(o *Options, _ *Server) { o.Kubeconfig = filepath.Join(t.TempDir(), "nope") }, "complete", "load the proxy's API server credentials"},
		{"access-log format", func(o *Options, _ *Server) { o.AccessLogFormat = "xml" }, "complete", "--access-log-format"},
		{"trusted proxy CIDR", func(o *Options, _ *Server) { o.Modes.TrustedProxyCIDRs = []string{"10.0.0.0/33"} }, "complete", "--trusted-proxy-cidrs"},
		{"public handlers", func(_ *Options, s *Server) {
			s.PublicFor = func([]byte) (map[string]http.Handler, error) { return nil, errors.New("no discovery document") }
		}, "complete", "no discovery document"},
		{"metrics address in use", func(o *Options, _ *Server) { o.MetricsServingAddress = busy.Addr().String() }, "new", "--metrics-serving-address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := apiservertest.New(t, nil)
			o := NewOptions()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			secureAddr := ln.Addr().String()
			o.SecureServing.Listener = ln
			o.SecureServing.ServerCert.CertDirectory = t.TempDir()
			o.Kubeconfig = writeKubeconfig(t, up)
			o.MetricsServingAddress = ""
			built := false
			srv := &Server{
				Options: o,
				NewAuthenticator: func(context.Context) (authn.Authenticator, error) {
					built = true
					return noTokens{}, nil
				},
				Registry: prometheus.NewRegistry(),
				Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			tt.mod(o, srv)
			c, err := srv.Complete()
			if tt.stage == "complete" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Complete: %v, want an error with %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if _, err := c.New(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want an error with %q", err, tt.wantErr)
				}
			}
			if built {
				t.Error("the authenticator was built for a server that never served")
			}
			if tt.stage == "new" {
				// The secure listener Complete bound is closed again.
				again, err := net.Listen("tcp", secureAddr)
				if err != nil {
					t.Fatalf("secure address still held after New failed: %v", err)
				}
				again.Close()
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"defaults are valid", func(*Options) {}, ""},
		{"negative probe port", func(o *Options) { o.ReadinessProbePort = -1 }, "--readiness-probe-port"},
		{"bad metrics address", func(o *Options) { o.MetricsServingAddress = "nonsense" }, "--metrics-serving-address"},
		{"zero header timeout", func(o *Options) { o.UpstreamTimeouts.ResponseHeader = 0 }, "--upstream-response-header-timeout"},
		{"secure port off", func(o *Options) { o.SecureServing.BindPort = 0 }, "--secure-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			tt.mod(o)
			errs := o.Validate()
			joined := errors.Join(errs...)
			if tt.want == "" {
				if joined != nil {
					t.Fatalf("unexpected errors: %v", joined)
				}
				return
			}
			if joined == nil || !strings.Contains(joined.Error(), tt.want) {
				t.Fatalf("errors %v, want one about %s", joined, tt.want)
			}
		})
	}
}

func TestServingCertificateReloadsWithoutRestart(t *testing.T) {
	p := oidctest.New(t)
	up := apiservertest.New(t, nil)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair := func(host string) []byte {
		cert, key, err := certutil.GenerateSelfSignedCertKey(host, []net.IP{net.ParseIP("127.0.0.1")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Replace atomically, as a Secret volume or cert-manager does.
		for _, f := range []struct {
			path string
			data []byte
		}{{keyFile, key}, {certFile, cert}} {
			tmp := f.path + ".tmp"
			if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, f.path); err != nil {
				t.Fatal(err)
			}
		}
		block, _ := pem.Decode(cert)
		return block.Bytes
	}
	first := writePair("first.example")
	rs := startServer(t, up, p, func(o *Options) {
		o.SecureServing.ServerCert.CertKey.CertFile = certFile
		o.SecureServing.ServerCert.CertKey.KeyFile = keyFile
	})
	served := func() []byte {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(rs.secure, "https://"), &tls.Config{InsecureSkipVerify: true}) // the test inspects the served certificate, it need not trust it
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	if !bytes.Equal(served(), first) {
		t.Fatal("the server does not serve --tls-cert-file")
	}
	second := writePair("second.example")
	waitFor(t, "the new certificate to be served", func() bool { return bytes.Equal(served(), second) })
}

// anonymousTokens is noTokens with an anonymous authenticator for every path.
type anonymousTokens struct{ noTokens }

func (anonymousTokens) Anonymous() authenticator.Request {
	return authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
		return nil, false, nil
	})
}

// An anonymous section forwards system:anonymous by impersonation, which
// --disable-impersonation turns off: Run stops with an error saying so
// instead of forwarding anonymous requests some other way.
func TestServerRefusesAnonymousWithoutImpersonation(t *testing.T) {
	up := apiservertest.New(t, nil)
	o := NewOptions()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.SecureServing.Listener = ln
	o.SecureServing.ServerCert.CertDirectory = t.TempDir()
	o.Kubeconfig = writeKubeconfig(t, up)
	o.MetricsServingAddress = ""
	o.ShutdownTimeout = time.Second
	o.Modes.DisableImpersonation = true
	srv := &Server{
		Options: o,
		NewAuthenticator: func(context.Context) (authn.Authenticator, error) {
			return anonymousTokens{}, nil
		},
		Registry: prometheus.NewRegistry(),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "anonymous") || !strings.Contains(err.Error(), "--disable-impersonation") {
		t.Fatalf("Run: %v, want an error naming the anonymous section and --disable-impersonation", err)
	}
}
