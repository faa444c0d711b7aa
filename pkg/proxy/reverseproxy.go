package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// NewReverseProxy returns the handler that forwards to target, requests
// answered whole through whole and streams through streams: each an
// httputil.ReverseProxy that handles 101 upgrades itself, sets
// X-Forwarded-For to the chain WithClientAddress resolved followed by the
// connection's peer (the client's own X-Forwarded-Host and -Proto are
// dropped), reports failures as Status objects (502 when the API server
// cannot be reached or rejects the proxy's own credentials, 500 when the
// outbound identity check fails), and ends watches cleanly once drain is
// done (endWatchesOnDrain; nil: never).
//
// How the body is copied depends on the request (answeredWhole):
//   - A long-running request (watch, logs -f, exec, proxy...) or a
//     non-resource path streams: for a response without a Content-Length
//     httputil.ReverseProxy flushes after each write, so events reach the
//     client as the API server sends them.
//   - Any other resource request (get, list, create...) is one the API
//     server answers as a whole within its request timeout; a client gains
//     nothing from its parts arriving early. Its body without a
//     Content-Length (a LIST, which kube-apiserver streams) is copied in
//     full 32 KiB reads and never flushed part way, so it leaves in a few
//     large writes instead of a chunk, a TLS record and a system call (or
//     three) for every HTTP/2 frame from the API server.
//
// FlushInterval stays 0 on purpose: -1 would also flush the headers and
// body of every ordinary response separately and start a timer per request
// (about 30% of a bare proxy's cost, see docs/benchmarks.md) for no gain.
func NewReverseProxy(drain context.Context, target *url.URL, whole, streams http.RoundTripper, log *slog.Logger) http.Handler {
	wholeRP := newReverseProxy(drain, target, whole, true, log)
	streamsRP := newReverseProxy(drain, target, streams, false, log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answeredWhole(r) {
			wholeRP.ServeHTTP(&unflushedWriter{w}, r)
			return
		}
		streamsRP.ServeHTTP(w, r)
	})
}

// newReverseProxy is the reverse proxy of requests answered whole (whole:
// bodies copied in full reads through 32 KiB buffers) or of streams (8 KiB
// buffers).
func newReverseProxy(drain context.Context, target *url.URL, rt http.RoundTripper, whole bool, log *slog.Logger) *httputil.ReverseProxy {
	rejected, endWatches := proxyCredentialRejected(log), endWatchesOnDrain(drain)
	buffers := streamBuffers
	if whole {
		buffers = copyBuffers
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if rec := recordFrom(pr.In.Context()); rec != nil {
				rec.forwarded = true
			}
			pr.SetURL(target)
			// WithClientAddress left only the resolved client and trusted
			// hops; SetXForwarded appends the peer.
			if xff, ok := pr.In.Header["X-Forwarded-For"]; ok {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetXForwarded()
		},
		Transport:    rt,
		ErrorHandler: upstreamErrorHandler(log),
		ModifyResponse: func(res *http.Response) error {
			if whole && res.ContentLength < 0 {
				res.Body = fullReads{res.Body}
			}
			endWatches(res)
			return rejected(res)
		},
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool: buffers,
	}
}

// answeredWhole reports whether r is a resource request that kube-apiserver
// answers as a whole: not long-running by kube-apiserver's own check
// (watch and proxy verbs; attach, exec, log, portforward and proxy
// subresources). Non-resource paths and requests without a RequestInfo are
// not.
func answeredWhole(r *http.Request) bool {
	info, ok := request.RequestInfoFrom(r.Context())
	return ok && info.IsResourceRequest && !longRunning(r, info)
}

// unflushedWriter drops the reverse proxy's flushes of a response answered
// as a whole: the server flushes it when the handler returns, and its
// buffered writer writes out whatever does not fit in between. Hijack and
// the rest reach the writer underneath through Unwrap.
type unflushedWriter struct{ http.ResponseWriter }

func (w *unflushedWriter) Flush()                      {}
func (w *unflushedWriter) FlushError() error           { return nil }
func (w *unflushedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fullReads fills each read buffer completely unless the body ends or
// fails first (its error is returned with the bytes read before it), so a
// body that arrives in many small frames is copied in few large writes.
type fullReads struct{ io.ReadCloser }

func (b fullReads) Read(p []byte) (n int, err error) {
	for n < len(p) && err == nil {
		var m int
		m, err = b.ReadCloser.Read(p[n:])
		n += m
	}
	return n, err
}

// copyBuffers recycles the 32 KiB body copy buffers of requests answered
// whole across requests.
var copyBuffers httputil.BufferPool = &bufferPool{pool: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

const copyBufferSize = 32 << 10

// bufferPool holds the buffers as array pointers, which a sync.Pool stores
// without allocating (a slice would be boxed on every Put).
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte { return p.pool.Get().(*[copyBufferSize]byte)[:] }

func (p *bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		p.pool.Put((*[copyBufferSize]byte)(b))
	}
}

// streamBuffers are the copy buffers of streams. A watch holds its buffer
// for as long as it is open, mostly idle in a read, so thousands of open
// watches hold thousands of buffers: 8 KiB each (a typical event in one
// read, a large one in several) rather than 32 KiB.
var streamBuffers httputil.BufferPool = &streamBufferPool{pool: sync.Pool{New: func() any { return new([streamBufferSize]byte) }}}

const streamBufferSize = 8 << 10

type streamBufferPool struct{ pool sync.Pool }

func (p *streamBufferPool) Get() []byte { return p.pool.Get().(*[streamBufferSize]byte)[:] }

func (p *streamBufferPool) Put(b []byte) {
	if len(b) == streamBufferSize {
		p.pool.Put((*[streamBufferSize]byte)(b))
	}
}

func upstreamErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		switch {
		case errors.Is(err, errIdentityAssertion):
			log.Error("refused to forward a request", "path", r.URL.Path, "err", err)
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError,
				"Internal error in oidc-proxy: the request was not forwarded")
		case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
			// The client went away; nobody reads this answer.
			log.Debug("client closed the request", "path", r.URL.Path)
			writeStatus(w, 499, metav1.StatusReasonUnknown, "client closed the request")
		default:
			log.Warn("API server request failed", "path", r.URL.Path, "err", err)
			writeStatus(w, http.StatusBadGateway, metav1.StatusReason("BadGateway"),
				"oidc-proxy could not reach the Kubernetes API server")
		}
	}
}

// proxyCredentialRejected turns an upstream 401 into 502. Users reach the
// API server through impersonation, so a 401 there means the proxy's own
// credential was refused; passing 401 on would make kubectl's credential
// plugin throw away a good user token and log in again, in a loop.
func proxyCredentialRejected(log *slog.Logger) func(*http.Response) error {
	return func(res *http.Response) error {
		if res.StatusCode != http.StatusUnauthorized {
			return nil
		}
		if p := planFrom(res.Request.Context()); p != nil && p.passthrough() {
			return nil // the client's own token was refused: its 401 is the answer
		}
		log.Error("the API server rejected oidc-proxy's own credentials (401); check --kubeconfig or the service account", "path", res.Request.URL.Path)
		_ = res.Body.Close()
		body, _ := json.Marshal(metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure,
			Message:  "the Kubernetes API server rejected oidc-proxy's own credentials",
			Reason:   metav1.StatusReason("BadGateway"),
			Code:     http.StatusBadGateway,
		})
		res.StatusCode = http.StatusBadGateway
		res.Status = "502 Bad Gateway"
		res.Header = http.Header{
			"Content-Type":   {"application/json"},
			"Content-Length": {strconv.Itoa(len(body))},
		}
		res.ContentLength = int64(len(body))
		res.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
}
