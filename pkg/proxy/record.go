package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// record is what the handlers of one request learn about it, shared through
// the request context: the access log and the metrics read it when the
// request is done.
type record struct {
	start time.Time
	verb  string
	// code is the status code written to the client (0 if none yet).
	code int
	// authFailure is why authentication failed, for the log (never a token).
	authFailure string
	// identity is the authenticated user (set by WithAuthentication).
	identity user.Info
	// forwarded is set once the request is passed to the API server.
	forwarded bool
	// plan is the request's forward plan once decided (withPlan), for the
	// access log; the forwarding steps read it from the context.
	plan *forwardPlan
}

// ImpersonatedUser is the identity a client asked for with Impersonate-*
// headers and was authorised to use (nil when it did not impersonate). The
// authenticated (real) user stays in the record's identity. For the access
// log.
func (r *record) ImpersonatedUser() user.Info {
	if r.plan == nil || !r.plan.impersonated {
		return nil
	}
	return r.plan.user
}

// OutboundUser is the identity the API server sees for this request, or nil
// when the request is passed through with the client's own token or was
// never planned.
func (r *record) OutboundUser() user.Info {
	if r.plan == nil {
		return nil
	}
	return r.plan.user
}

// Passthrough tells whether the request was forwarded with the client's
// own token (--disable-impersonation, --token-passthrough).
func (r *record) Passthrough() bool { return r.plan != nil && r.plan.passthrough() }

// ClientIP is the client's address as resolved with --trusted-proxy-cidrs
// ("" when nothing resolved it).
func (r *record) ClientIP() string {
	if r.plan == nil {
		return ""
	}
	return r.plan.clientIP
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

// withRecord returns the request's record, creating it (and a response
// writer that captures the status code, and kube-apiserver's RequestInfo
// of the request in its context, unless a step before it computed one)
// when no outer handler did.
func withRecord(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, *record) {
	if rec := recordFrom(r.Context()); rec != nil {
		return w, r, rec
	}
	start := time.Now()
	info, computed := request.RequestInfoFrom(r.Context())
	var err error
	if !computed {
		info, err = requestInfoFactory.NewRequestInfo(r)
	}
	sw := &statusWriter{ResponseWriter: w, record: record{start: start, verb: verbLabel(info, err)}}
	sw.rec = &sw.record // one allocation for the writer, the record and its context
	sw.ctx = recordContext{Context: r.Context(), rec: sw.rec}
	var ctx context.Context = &sw.ctx
	if err == nil && !computed {
		// Computed once per request: audit, the impersonation filter and
		// the access log read this one (WithRequestInfo keeps it).
		ctx = request.WithRequestInfo(ctx, info)
	}
	return sw, r.WithContext(ctx), sw.rec
}

// statusWriter captures the status code. Flush and Hijack reach the
// underlying writer through Unwrap (http.ResponseController), which is how
// httputil.ReverseProxy streams watches and hijacks upgraded connections.
type statusWriter struct {
	http.ResponseWriter
	rec    *record
	record record
	ctx    recordContext
}

func (w *statusWriter) WriteHeader(code int) {
	if w.rec.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.rec.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.rec.code == 0 {
		w.rec.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets code that type-asserts http.Flusher (not only
// http.ResponseController) stream through this writer.
func (w *statusWriter) Flush() {
	if w.rec.code == 0 {
		w.rec.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack records 101 Switching Protocols: httputil.ReverseProxy hijacks the
// client's connection only to write the upstream's 101 response on it
// itself, so WriteHeader never sees that code.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.rec.code == 0 {
		w.rec.code = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// verbLabel is the request's Kubernetes verb from kube-apiserver's
// RequestInfo (list vs get vs watch, deletecollection, the /watch/ and
// /proxy/ path verbs, the lowercased method for non-resource paths),
// bounded to verbs: "other" for any other verb and for paths the factory
// rejects.
func verbLabel(info *request.RequestInfo, err error) string {
	if err != nil || info == nil || verbIndex(info.Verb) < 0 {
		return "other"
	}
	return info.Verb
}

// verbs is the bounded set of verbLabel (the metrics' verb label):
// any other verb is "other".
var verbs = [...]string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"proxy", "connect", "post", "put", "head", "options", "other"}

func verbIndex(v string) int {
	for i, name := range verbs {
		if name == v {
			return i
		}
	}
	return -1
}

func contextWithRecord(ctx context.Context, rec *record) context.Context {
	return &recordContext{Context: ctx, rec: rec}
}

// recordContext is the request context carrying the record: what
// context.WithValue(ctx, recordKey{}, rec) gives, but embeddable in the
// statusWriter so that withRecord allocates once. Deadlines, cancellation
// and every other value come from the parent.
type recordContext struct {
	context.Context
	rec *record
}

func (c *recordContext) Value(key any) any {
	if _, ok := key.(recordKey); ok {
		return c.rec
	}
	return c.Context.Value(key)
}
