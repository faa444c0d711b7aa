package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

// Check is one readiness condition. Check returns nil when it holds.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// WithHealth answers /healthz, /livez and /readyz itself, without
// authentication, and passes every other request to next. /healthz and
// /livez say the process serves; /readyz runs ready.
func WithHealth(next, ready http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/livez":
			writePlain(w, http.StatusOK, "ok")
		case "/readyz":
			ready.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// ReadyHandler runs every check on each call (nothing is remembered between
// probes, so readiness follows the authenticator and the API server both
// ways). It answers 200 "ok" or 503 naming the failed checks; the reasons
// go to the log only, as kube-apiserver withholds them from anonymous callers.
// With ?verbose every check is listed.
func ReadyHandler(checks []Check, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		failed := false
		for _, c := range checks {
			if err := c.Check(r.Context()); err != nil {
				failed = true
				log.Warn("readiness check failed", "check", c.Name, "err", err)
				fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.Name)
				continue
			}
			fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
		}
		_, verbose := r.URL.Query()["verbose"]
		switch {
		case failed:
			b.WriteString("readyz check failed")
			writePlain(w, http.StatusServiceUnavailable, b.String())
		case verbose:
			b.WriteString("readyz check passed")
			writePlain(w, http.StatusOK, b.String())
		default:
			writePlain(w, http.StatusOK, "ok")
		}
	})
}

func writePlain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// AuthenticatorCheck is ready when the authenticator's HealthCheck is nil.
func AuthenticatorCheck(a authn.Authenticator) Check {
	return Check{Name: "authenticator", Check: func(context.Context) error { return a.HealthCheck() }}
}

// UpstreamCheck is ready when the API server answers 200 on /readyz to the
// proxy's own credentials (rt carries them) within timeout.
func UpstreamCheck(rt http.RoundTripper, server *url.URL, timeout time.Duration) Check {
	target := server.JoinPath("/readyz").String()
	return Check{Name: "apiserver", Check: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return fmt.Errorf("build API server readiness request: %w", err)
		}
		res, err := rt.RoundTrip(req)
		if err != nil {
			return fmt.Errorf("API server readiness: %w", err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("API server /readyz answered %d", res.StatusCode)
		}
		return nil
	}}
}
