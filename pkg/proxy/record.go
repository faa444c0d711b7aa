package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
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
	// passthroughToken is set by authentication when the request is to be
	// forwarded with the client's own token (never logged).
	passthroughToken string
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
// writer that captures the status code) when no outer handler did.
func withRecord(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, *record) {
	if rec := recordFrom(r.Context()); rec != nil {
		return w, r, rec
	}
	sw := &statusWriter{ResponseWriter: w, record: record{start: time.Now(), verb: kubeVerb(r)}}
	sw.rec = &sw.record // one allocation for the writer, the record and its context
	sw.ctx = recordContext{Context: r.Context(), rec: sw.rec}
	r = r.WithContext(&sw.ctx)
	return sw, r, sw.rec
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

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// kubeVerb is the Kubernetes verb of a request exactly as kube-apiserver's
// RequestInfoFactory (prefixes "api" and "apis", "api" groupless) computes
// it: list vs get vs watch, deletecollection, the /watch/ and /proxy/ path
// verbs, and the lowercased method for non-resource paths; bounded to
// verbs ("other" otherwise, and for paths the factory rejects). It
// reads the path in place instead of building a RequestInfo, so it
// allocates nothing; TestKubeVerbMatchesRequestInfoFactory and
// FuzzKubeVerb hold it equal to the factory.
func kubeVerb(r *http.Request) string {
	var parts pathParts
	parts.split(r.URL.Path)
	if parts.n < 3 || (parts.at(0) != "api" && parts.at(0) != "apis") {
		return methodVerb(r.Method)
	}
	i := 1 // after the API prefix
	if parts.at(0) == "apis" {
		if parts.n-i < 3 {
			return methodVerb(r.Method)
		}
		i++ // group
	}
	i++ // version
	var verb string
	switch parts.at(i) {
	case "proxy", "watch":
		if parts.n-i < 2 {
			return "other" // the factory's error: no kind after the verb
		}
		verb = parts.at(i)
		i++
	default:
		switch r.Method {
		case http.MethodPost:
			verb = "create"
		case http.MethodGet, http.MethodHead:
			verb = "get"
		case http.MethodPut:
			verb = "update"
		case http.MethodPatch:
			verb = "patch"
		case http.MethodDelete:
			verb = "delete"
		default:
			return "other" // the factory's empty verb
		}
	}
	if parts.at(i) == "namespaces" && parts.n-i > 2 && parts.at(i+2) != "status" && parts.at(i+2) != "finalize" {
		i += 2
	}
	// The resource parts start at i: resource, name, subresource.
	hasName := parts.n-i >= 2 && parts.at(i+1) != ""
	switch {
	case verb == "get" && !hasName:
		if watchParam(r.URL.RawQuery) {
			return "watch"
		}
		return "list"
	case verb == "delete" && !hasName:
		return "deletecollection"
	}
	return verb
}

// methodVerb is the verb of a non-resource request: the lowercased method.
func methodVerb(method string) string {
	switch method {
	case http.MethodGet:
		return "get"
	case http.MethodPost:
		return "post"
	case http.MethodPut:
		return "put"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	case http.MethodHead:
		return "head"
	case http.MethodOptions:
		return "options"
	case http.MethodConnect:
		return "connect"
	}
	if v := strings.ToLower(method); v != "other" && verbIndex(v) >= 0 {
		return v
	}
	return "other"
}

// verbs is the bounded set kubeVerb answers (the metrics' verb label):
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

// maxParts is how many leading path segments kubeVerb looks at: prefix,
// group, version, path verb, "namespaces", namespace, resource, name.
const maxParts = 10

// pathParts are the segments of a path with its leading and trailing
// slashes trimmed, as the factory's splitPath gives them: n counts them
// all, the first maxParts are kept (as substrings, no allocation).
type pathParts struct {
	p [maxParts]string
	n int
}

func (pp *pathParts) split(path string) {
	path = strings.Trim(path, "/")
	if path == "" {
		return
	}
	for {
		seg, rest, more := strings.Cut(path, "/")
		if pp.n < maxParts {
			pp.p[pp.n] = seg
		}
		pp.n++
		if !more {
			return
		}
		path = rest
	}
}

// at is segment i, or "" past the end (callers check n where it matters).
func (pp *pathParts) at(i int) string {
	if i < maxParts {
		return pp.p[i]
	}
	return ""
}

// watchParam tells whether the query asks for a watch, as the factory's
// decoding of ListOptions does: the first "watch" value, true unless it is
// "0" or "false" (any case). Queries with escapes or semicolons take the
// exact route through url.ParseQuery.
func watchParam(rawQuery string) bool {
	if rawQuery == "" {
		return false
	}
	if strings.ContainsAny(rawQuery, "%;") {
		vals := parseQuery(rawQuery)["watch"]
		return len(vals) > 0 && vals[0] != "0" && !strings.EqualFold(vals[0], "false")
	}
	for q := rawQuery; q != ""; {
		var seg string
		seg, q, _ = strings.Cut(q, "&")
		key, value, _ := strings.Cut(seg, "=")
		if key == "watch" {
			// '+' decodes to a space, which never makes "0" or "false".
			return value != "0" && !strings.EqualFold(value, "false")
		}
	}
	return false
}

func parseQuery(q string) url.Values {
	v, _ := url.ParseQuery(q) // the factory ignores the error too
	return v
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
