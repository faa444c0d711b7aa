package proxy

import (
	"log/slog"
	"net/http"
	"time"
)

// WithAccessLog writes one structured line per request when it is done:
// user, groups, verb, method, path, code, duration and the peer address of
// the connection (never X-Forwarded-For, which clients can forge). The
// query string and headers are never logged, so no token can leak here.
func WithAccessLog(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		defer func() {
			attrs := []slog.Attr{
				slog.String("user", rec.user),
				slog.Any("groups", rec.groups),
				slog.String("verb", rec.verb),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("code", rec.code),
				slog.Duration("duration", time.Since(rec.start)),
				slog.String("peer", r.RemoteAddr),
			}
			if rec.authFailure != "" {
				attrs = append(attrs, slog.String("authFailure", rec.authFailure))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(w, r)
	})
}
