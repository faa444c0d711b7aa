package upstream

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/testpki"
)

// seen records the token and client certificate of each request.
type seen struct {
	mu     sync.Mutex
	tokens map[string]int
	certs  map[string]int
}

func (s *seen) count(token, cn string) (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[token], s.certs[cn]
}

// The proxy's credential files (a kubeconfig's tokenFile, client-certificate
// and client-key) are re-read when they change, without a restart: while a
// loop of requests runs (ordinary and upgrade transports), the token file
// and the certificate are replaced; the API server then sees the new token
// and the new certificate, and no request fails. Requests on connections
// opened before the change finish on them.
func TestCredentialFilesReload(t *testing.T) {
	ca := testpki.NewCA(t)
	s := &seen{tokens: map[string]int{}, certs: map[string]int{}}
	up := apiservertest.NewWithClientCA(t, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.tokens[r.Header.Get("Authorization")]++
		s.certs[r.TLS.PeerCertificates[0].Subject.CommonName]++
		s.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}, ca.Pool())
	dir := t.TempDir()
	tokenFile, certFile, keyFile := filepath.Join(dir, "token"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	testpki.WriteFile(t, tokenFile, []byte("token-before"))
	ca.WriteClientCert(t, "proxy-before", certFile, keyFile)
	cfg := &rest.Config{Host: up.URL, BearerTokenFile: tokenFile, TLSClientConfig: rest.TLSClientConfig{
		CAData:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}),
		CertFile: certFile, KeyFile: keyFile,
	}}
	a, err := New(cfg, Timeouts{Dial: 5 * time.Second, TLSHandshake: 5 * time.Second, ResponseHeader: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.RunCredentialReload(ctx, 50*time.Millisecond, slog.New(slog.DiscardHandler))

	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		ok, fail atomic.Int64
		firstErr atomic.Value
	)
	for _, rt := range []http.RoundTripper{a.HTTP2, a.HTTP1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodGet, up.URL+"/api", nil)
				res, err := rt.RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				if err != nil {
					fail.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("requests with the first credentials", func() bool {
		tok, cert := s.count("Bearer token-before", "proxy-before")
		return tok > 10 && cert > 10
	})
	testpki.WriteFile(t, tokenFile, []byte("token-after"))
	ca.WriteClientCert(t, "proxy-after", certFile, keyFile)
	waitFor("requests with the new token and certificate", func() bool {
		tok, cert := s.count("Bearer token-after", "proxy-after")
		return tok > 10 && cert > 10
	})
	stop.Store(true)
	wg.Wait()
	if n := fail.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during the rotation, first: %v", n, n+ok.Load(), firstErr.Load())
	}
}
