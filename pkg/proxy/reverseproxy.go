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
)

// NewReverseProxy returns the httputil.ReverseProxy that forwards to target
// through rt. It streams: for every response without a Content-Length
// (watches, logs -f, event streams) httputil.ReverseProxy flushes after each
// write, so events reach the client as the API server sends them. The
// FlushInterval stays 0 on purpose: -1 would also flush the headers and
// body of every ordinary response separately and start a timer per request
// (about 30% of a bare proxy's cost, see docs/benchmarks.md) for no gain.
// handles 101 upgrades itself, sets X-Forwarded-For to the chain
// WithClientAddress resolved followed by the connection's peer (the client's
// own X-Forwarded-Host and -Proto are dropped), reports failures as Status
// objects: 502 when the API server cannot be reached or rejects the proxy's
// own credentials, 500 when the outbound identity check fails, and ends
// watches cleanly once drain is done (endWatchesOnDrain; nil: never).
func NewReverseProxy(drain context.Context, target *url.URL, rt http.RoundTripper, log *slog.Logger) *httputil.ReverseProxy {
	rejected, endWatches := proxyCredentialRejected(log), endWatchesOnDrain(drain)
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
			endWatches(res)
			return rejected(res)
		},
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool: copyBuffers,
	}
}

// copyBuffers recycles the 32 KiB body copy buffers across requests.
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
