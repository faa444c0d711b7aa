package proxy

import (
	"context"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
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
	// outbound is the identity forwarded to the API server when it is not
	// identity (end-user impersonation); nil otherwise. The access log
	// shows both.
	outbound user.Info
	// forwarded is set once the request is passed to the API server.
	forwarded bool
	// impersonation is the exact set of Impersonate-* headers the proxy
	// decided to send; the outbound assertion compares against it.
	impersonation http.Header
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

// withRecord returns the request's record, creating it (and a response
// writer that captures the status code) when no outer handler did.
func withRecord(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, *record) {
	if rec := recordFrom(r.Context()); rec != nil {
		return w, r, rec
	}
	sw := &statusWriter{ResponseWriter: w, record: record{start: time.Now(), verb: kubeVerb(r)}}
	sw.rec = &sw.record // one allocation for both
	r = r.WithContext(contextWithRecord(r.Context(), sw.rec))
	return sw, r, sw.rec
}

// statusWriter captures the status code. Flush and Hijack reach the
// underlying writer through Unwrap (http.ResponseController), which is how
// httputil.ReverseProxy streams watches and hijacks upgraded connections.
type statusWriter struct {
	http.ResponseWriter
	rec    *record
	record record
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

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var requestInfoFactory = &request.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// knownVerbs bounds the verb label of metrics: anything else is "other".
var knownVerbs = map[string]bool{
	"get": true, "list": true, "watch": true, "create": true, "update": true,
	"patch": true, "delete": true, "deletecollection": true, "proxy": true,
	"connect": true, "post": true, "put": true, "head": true, "options": true,
}

// kubeVerb is the Kubernetes verb of a request, as kube-apiserver computes it
// (list vs get vs watch; the legacy /api prefix counts), bounded to known verbs.
func kubeVerb(r *http.Request) string {
	info, err := requestInfoFactory.NewRequestInfo(r)
	if err != nil || info == nil {
		return "other"
	}
	v := strings.ToLower(info.Verb)
	if !info.IsResourceRequest {
		v = strings.ToLower(r.Method)
	}
	if !knownVerbs[v] {
		return "other"
	}
	return v
}

func contextWithRecord(ctx context.Context, rec *record) context.Context {
	return context.WithValue(ctx, recordKey{}, rec)
}
