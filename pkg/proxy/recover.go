package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WithRecovery turns a panic in next into a 500 Status answer. The stack
// goes to the log, never to the client. http.ErrAbortHandler is re-raised so
// net/http aborts the connection (httputil.ReverseProxy uses it when the
// upstream body breaks mid-stream and headers were already sent).
func WithRecovery(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			log.Error("panic while serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec.code != 0 {
				// Too late for a Status: abort the connection so the client
				// sees a broken response rather than a truncated success.
				panic(http.ErrAbortHandler)
			}
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy")
		}()
		next.ServeHTTP(w, r)
	})
}
