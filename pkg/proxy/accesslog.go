package proxy

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"
)

// AccessLog writes one line per finished request to its writer, in a
// format of pkg/proxy/accesslog. Each line is handed to the writer in one
// Write call, so lines from concurrent requests never interleave.
type AccessLog struct {
	w      io.Writer
	format accesslog.Format
	bufs   sync.Pool // *[]byte line buffers
}

// NewAccessLog returns an access log writing format lines to w.
func NewAccessLog(w io.Writer, format accesslog.Format) *AccessLog {
	return &AccessLog{w: w, format: format, bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// log writes the line for a finished request.
func (l *AccessLog) log(r *http.Request, rec *record, end time.Time) {
	e := accesslog.Entry{
		Start:         rec.start,
		End:           end,
		Verb:          rec.verb,
		Method:        r.Method,
		Path:          r.URL.Path,
		RequestURI:    r.RequestURI,
		Code:          rec.code,
		Peer:          r.RemoteAddr,
		Inbound:       rec.identity,
		Outbound:      rec.ImpersonatedUser(), // kubectl --as: both identities are logged
		AuthAttempted: rec.identity != nil || rec.authFailure != "",
		Forwarded:     rec.forwarded,
		AuthFailure:   rec.authFailure,
	}
	if l.format == accesslog.SIEM {
		e.ForwardedFor = r.Header.Values("X-Forwarded-For")
		if e.RequestURI == "" {
			e.RequestURI = r.URL.RequestURI()
		}
	}
	bp := l.bufs.Get().(*[]byte)
	b := l.format.Append((*bp)[:0], &e)
	if len(b) > 0 {
		_, _ = l.w.Write(b)
	}
	if cap(b) <= 64<<10 { // do not keep a buffer grown by a huge line
		*bp = b
		l.bufs.Put(bp)
	}
}

// WithAccessLog writes one line per request to l when the request is done:
// in the JSON format user, groups, verb, method, path, code, duration and
// the peer address of the connection (never X-Forwarded-For, which clients
// can forge); in the SIEM format kube-oidc-proxy's AuSuccess / AuFail line.
// Headers are never logged; the JSON line has no query string, and the SIEM
// line redacts credential-like query values, so no token can leak here.
func WithAccessLog(next http.Handler, l *AccessLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		defer func() { l.log(r, rec, time.Now()) }()
		next.ServeHTTP(w, r)
	})
}
