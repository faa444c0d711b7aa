package apiserverbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	"github.com/kube-oidc/kube-oidc/internal/loadbench"
)

// bareEnv carries bareConfig (JSON) to this test binary re-executed as the
// bare proxy.
const bareEnv = "APISERVERBENCH_BARE"

type bareConfig struct {
	Listen   string      // 127.0.0.1:PORT
	CertFile string      // serving certificate
	KeyFile  string      //
	Upstream string      // the API server
	CAPEM    []byte      // the API server's serving CA
	HTTP2    bool        // HTTP/2 to the API server (else an HTTP/1.1 keep-alive pool)
	Header   http.Header // the proxy's credential and the user's Impersonate-* headers
}

type bareProxy struct {
	url     string
	caPEM   []byte
	process *harness.Process
}

// whoAmI is the user oidc-proxy forwards the token's requests as.
func whoAmI(ctx context.Context, cfg *rest.Config) (authnv1.UserInfo, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return authnv1.UserInfo{}, err
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authnv1.UserInfo{}, err
	}
	return r.Status.UserInfo, nil
}

// startBare re-executes this test binary as a bare httputil.ReverseProxy to
// api that forwards every request with the proxy's credential and user's
// identity as fixed Impersonate-* headers, and waits until it answers.
func startBare(b *testing.B, api *harness.APIServer, user authnv1.UserInfo, http2 bool) bareProxy {
	dir := b.TempDir()
	ca, err := harness.NewCA("apiserverbench bare proxy CA")
	if err != nil {
		b.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteServingCert(dir, "bare")
	if err != nil {
		b.Fatal(err)
	}
	port, err := harness.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+api.ProxyToken)
	h.Set("Impersonate-User", user.Username)
	if user.UID != "" {
		h.Set("Impersonate-Uid", user.UID)
	}
	for _, g := range user.Groups {
		if g != "system:authenticated" { // the API server adds it
			h.Add("Impersonate-Group", g)
		}
	}
	for k, vs := range user.Extra {
		for _, v := range vs {
			h.Add("Impersonate-Extra-"+url.PathEscape(k), v)
		}
	}
	cfg, err := json.Marshal(bareConfig{
		Listen: fmt.Sprintf("127.0.0.1:%d", port), CertFile: certFile, KeyFile: keyFile,
		Upstream: api.URL, CAPEM: api.CAPEM, HTTP2: http2, Header: h,
	})
	if err != nil {
		b.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// The configuration holds the proxy's token: pass it in a file, not in
	// the environment of a process listing.
	cfgFile := filepath.Join(dir, "bare.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	p, err := harness.StartProcess("bare-proxy", dir, []string{bareEnv + "=" + cfgFile}, self)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	bp := bareProxy{url: "https://" + fmt.Sprintf("127.0.0.1:%d", port), caPEM: ca.CertPEM, process: p}
	client := &http.Client{Transport: loadbench.ClientTransport(ca.CertPEM, false), Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if exited, err := p.Exited(); exited {
			b.Fatalf("bare proxy exited: %v\n%s", err, p.Describe())
		}
		req, _ := http.NewRequest(http.MethodGet, bp.url+"/readyz", nil)
		if res, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return bp
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("bare proxy not ready in 30 s\n%s", p.Describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveBare is the bare proxy process: it serves until it is signalled.
func serveBare(cfgFile string) {
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		log.Fatalf("bare proxy: %v", err)
	}
	var cfg bareConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		log.Fatalf("bare proxy: %s: %v", cfgFile, err)
	}
	upstream, err := url.Parse(cfg.Upstream)
	if err != nil {
		log.Fatalf("bare proxy: upstream: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CAPEM) {
		log.Fatal("bare proxy: no upstream CA")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   cfg.HTTP2,
	}
	if !cfg.HTTP2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		log.Fatalf("bare proxy: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Fatalf("bare proxy: %v", err)
	}
	srv := &http.Server{
		Handler:   loadbench.BareProxy(upstream, tr, cfg.Header),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	log.Fatal(srv.ServeTLS(ln, "", ""))
}
