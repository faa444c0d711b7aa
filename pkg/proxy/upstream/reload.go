package upstream

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
)

// credentialReload rebuilds the transports when the files of the proxy's
// own credential change (a kubeconfig's tokenFile, client-certificate and
// client-key): client-go reads them when a transport is built, then the
// token file at most once a minute and the certificate only for new
// connections, which a busy HTTP/2 connection never opens. The new
// transports carry every new request at once; requests and watches
// already running finish on the old ones, whose connections close when
// idle (IdleConnTimeout).
type credentialReload struct {
	cfg             *rest.Config
	t               Timeouts
	files           []string
	normal, upgrade *swappable

	mu   sync.Mutex
	hash [sha256.Size]byte
	old  []*http.Transport
}

// credentialFiles are the files cfg's credential is read from.
func credentialFiles(cfg *rest.Config) []string {
	var files []string
	if cfg.BearerTokenFile != "" {
		files = append(files, cfg.BearerTokenFile)
	}
	if cfg.CertFile != "" && len(cfg.CertData) == 0 && cfg.KeyFile != "" && len(cfg.KeyData) == 0 {
		files = append(files, cfg.CertFile, cfg.KeyFile)
	}
	return files
}

// swappable is a RoundTripper whose delegate is replaced atomically.
type swappable struct {
	rt atomic.Pointer[http.RoundTripper]
}

func newSwappable(rt http.RoundTripper) *swappable {
	s := &swappable{}
	s.rt.Store(&rt)
	return s
}

func (s *swappable) RoundTrip(r *http.Request) (*http.Response, error) {
	return (*s.rt.Load()).RoundTrip(r)
}

func (s *swappable) swap(rt http.RoundTripper) { s.rt.Store(&rt) }

// hashFiles is the SHA-256 of the files' contents.
func hashFiles(files []string) ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		fmt.Fprintf(h, "%d:", len(data))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, nil
}

// reload rebuilds the transports if the files changed and the new
// credential is complete (a certificate that matches its key); it reports
// whether it did. A change caught half-written is retried at the next call.
func (c *credentialReload) reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, err := hashFiles(c.files)
	if err != nil {
		return false, fmt.Errorf("read the proxy's credential files: %w", err)
	}
	if sum == c.hash {
		return false, nil
	}
	if slices.Contains(c.files, c.cfg.CertFile) {
		if _, err := tls.LoadX509KeyPair(c.cfg.CertFile, c.cfg.KeyFile); err != nil {
			return false, fmt.Errorf("the proxy's client certificate: %w", err)
		}
	}
	normal, upgrade, bases, err := build(c.cfg, c.t)
	if err != nil {
		return false, err
	}
	c.normal.swap(normal)
	c.upgrade.swap(upgrade)
	for _, o := range c.old {
		o.CloseIdleConnections()
	}
	c.old, c.hash = bases, sum
	return true, nil
}

// RunCredentialReload checks the proxy's credential files every interval
// until ctx ends and switches to new transports when they change (see
// credentialReload). It returns at once when the credential has no files.
func (a *APIServer) RunCredentialReload(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if a.reload == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			switch done, err := a.reload.reload(); {
			case err != nil:
				log.Warn("the proxy's API server credential files changed but cannot be used yet; keeping the current credential", "err", err)
			case done:
				log.Info("the proxy's API server credential files changed: new requests use them")
			}
		}
	}
}
