package proxy

import (
	"log/slog"
	"net/http"
)

// Config is what NewHandler needs.
type Config struct {
	// Authenticator verifies bearer tokens (pkg/proxy/authn).
	Authenticator Authenticator
	// Forbidden recognises authentication errors that mean 403.
	Forbidden ForbiddenFunc
	// NotReady recognises authentication errors that mean the token's
	// issuer is not discovered yet (401 with a message saying so).
	NotReady NotReadyFunc
	// Upstream is the API server and the transports to it.
	Upstream *Upstream
	// Readiness are the /readyz checks.
	Readiness []Check
	// Public handlers are served without authentication at exact paths
	// (for example a discovery document); they must not forward anything.
	Public  map[string]http.Handler
	Metrics *Metrics
	Log     *slog.Logger
	// AccessLog receives one line per request; nil writes none.
	AccessLog *AccessLog
	// Modes are end-user impersonation, passthrough and audit (modes.go);
	// nil refuses client impersonation and audits nothing.
	Modes *Modes
	// ClientIP resolves the client address (--trusted-proxy-cidrs); nil
	// trusts no proxy: X-Forwarded-For is always dropped.
	ClientIP *ClientIPResolver
}

// NewHandler builds the handler chain, outermost first:
//
//	client address (X-Forwarded-For resolved or dropped) -> access log -> metrics -> panic recovery -> /healthz /livez /readyz
//	-> public paths -> [audit init, request info] -> authenticate (+ audit
//	of failures) -> [audit] -> passthrough requests: client token restored
//	-> reverse proxy | others: authorise client Impersonate-* (or refuse
//	them without Modes) -> strip client identity headers -> set
//	Impersonate-* for the user -> reverse proxy -> [outbound identity
//	assertion -> metrics -> HTTP/2 or HTTP/1.1 upgrade transport with the
//	proxy's credentials, or without them for passthrough]
//
// Recovery sits inside the log and the metrics so a panic is logged and
// counted as the 500 the client gets.
func NewHandler(c Config) http.Handler {
	var rt http.RoundTripper = upgradeRouter{normal: c.Upstream.Normal, upgrade: c.Upstream.Upgrade}
	if c.Metrics != nil {
		rt = instrumentedTransport{next: rt, m: c.Metrics}
	}
	rt = identityAssertion{next: rt}
	rt = c.Modes.transport(rt, c.Metrics)

	rp := http.Handler(NewReverseProxy(c.Upstream.URL, rt, c.Log))
	h := WithImpersonation(rp)
	h = WithIdentityStripped(h)
	h = c.Modes.wrapAuthenticated(h, rp)
	h = withAuthentication(h, c.Modes.authenticator(c.Authenticator, c.Forbidden, c.NotReady), c.Forbidden, c.NotReady, c.Modes.audit().wrapFailed())
	h = c.Modes.audit().wrapOuter(h)
	h = WithPublic(h, c.Public)
	h = WithHealth(h, ReadyHandler(c.Readiness, c.Log))
	h = WithRecovery(h, c.Log)
	if c.Metrics != nil {
		h = WithMetrics(h, c.Metrics)
	}
	if c.AccessLog != nil {
		h = WithAccessLog(h, c.AccessLog)
	}
	return WithClientAddress(h, c.ClientIP)
}

// WithPublic serves the given handlers at their exact paths without
// authentication, and passes everything else to next.
func WithPublic(next http.Handler, public map[string]http.Handler) http.Handler {
	if len(public) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := public[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
