package proxy

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/util/sets"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

// Config is what NewHandler needs.
type Config struct {
	// Authenticator verifies bearer tokens; its typed refusals (authn's
	// error types) decide the Status of a failed authentication.
	Authenticator authn.Authenticator
	// Upstream is the API server and the transports to it.
	Upstream *upstream.APIServer
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
	// Drain is done when the server starts draining: watches then end
	// cleanly at their next event boundary. Nil ends none.
	Drain context.Context
	// Pages, when set, builds the browser pages (pkg/proxy/web), served
	// like the public handlers without API authentication and forwarding
	// nothing themselves. It is given the complete chain (api), through
	// which the pages make their API requests with a person's own token.
	Pages func(api http.Handler) Pages
	// Tracer, when set, gives each request a span (withTracing); nil adds
	// no step.
	Tracer trace.Tracer
}

// Pages are browser pages served next to the API.
type Pages interface {
	http.Handler
	// Serves reports whether r is a page request (else the API's).
	Serves(r *http.Request) bool
}

// NewHandler builds the handler chain, outermost first:
//
//	[tracing: the request span] -> client address (X-Forwarded-For resolved or dropped) -> access log
//	(the record, with kube-apiserver's RequestInfo) -> metrics -> panic
//	recovery -> /healthz /livez /readyz -> public paths -> [pages] -> RequestInfo
//	(when no record computed it) -> [audit init] -> authenticate (the
//	bearer token, or none: system:anonymous on the anonymous paths; +
//	audit of failures; the user in request.UserFrom) -> [audit] -> decide the
//	forward plan (withPlanDecision):
//	passthrough (the client's token) | client Impersonate-* authorised by
//	kube-apiserver's impersonation filter, or refused without Modes | the
//	authenticated user -> headers of the plan (every client identity
//	header stripped) -> reverse proxy (NewReverseProxy: a request answered
//	as a whole, or a stream) -> [plan transport: the outbound request
//	checked against the plan -> metrics -> the proxy's credentials ->
//	HTTP/1.1 keep-alive pool for requests answered whole and upgrades,
//	HTTP/2 for the other streams; or the passthrough transport]
//
// The plan (plan.go) is decided once per request and read by every later
// step; nothing after the decision can change who is forwarded. Recovery
// sits inside the log and the metrics so a panic is logged and counted as
// the 500 the client gets.
func NewHandler(c Config) http.Handler {
	// chain is the complete handler, for the pages' own API requests.
	var chain http.Handler
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { chain.ServeHTTP(w, r) })

	forwarding := func(rt http.RoundTripper) http.RoundTripper {
		if c.Metrics != nil {
			rt = instrumentedTransport{next: rt, m: c.Metrics}
		}
		return c.Modes.transport(rt, c.Metrics)
	}
	whole, streams := forwarding(c.Upstream.HTTP1), forwarding(c.Upstream.Transport())

	audit := c.Modes.audit()

	h := withPlanHeaders(NewReverseProxy(c.Drain, c.Upstream.URL, whole, streams, c.Log))
	h = withPlanDecision(h, c.Modes)
	h = audit.wrapAuthenticated(h)
	anon, _ := c.Authenticator.(authn.AnonymousAuthenticator)
	h = withAuthentication(h, c.Modes.authenticator(c.Authenticator), anon, audit.wrapFailed())
	h = audit.wrapOuter(h)
	h = WithRequestInfo(h)
	if c.Pages != nil {
		h = withPages(h, c.Pages(api))
	}
	h = WithPublic(h, c.Public)
	h = WithHealth(h, ReadyHandler(c.Readiness, c.Log))
	h = WithRecovery(h, c.Log)
	if c.Metrics != nil {
		h = WithMetrics(h, c.Metrics)
	}
	if c.AccessLog != nil {
		h = WithAccessLog(h, c.AccessLog)
	}
	h = WithClientAddress(h, c.ClientIP)
	if c.Tracer != nil {
		h = withTracing(h, c.Tracer, c.ClientIP)
	}
	chain = h
	return h
}

// requestInfoFactory is kube-apiserver's: prefixes "api" and "apis",
// "api" groupless.
var requestInfoFactory = &request.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// WithRequestInfo makes sure kube-apiserver's RequestInfo of the request
// is in its context (k8s.io/apiserver's filter): the verb, resource,
// namespace and name that audit and the impersonation filter's constrained
// checks (impersonate-on:MODE:VERB) read. The record (withRecord) already
// computed it for the metrics and the access log; only a request without
// one is computed here. A path the factory cannot parse is a 500, as at
// kube-apiserver.
func WithRequestInfo(next http.Handler) http.Handler {
	compute := genericfilters.WithRequestInfo(next, requestInfoFactory)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := request.RequestInfoFrom(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		compute.ServeHTTP(w, r)
	})
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

// withPages serves the requests pages says are theirs and passes every
// other to next.
func withPages(next http.Handler, pages Pages) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pages.Serves(r) {
			pages.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
