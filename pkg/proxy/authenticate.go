package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

// WithAuthentication authenticates the bearer token of the request, taken
// from "Authorization: Bearer" or, for WebSocket requests, from the
// "base64url.bearer.authorization.k8s.io." entry of Sec-WebSocket-Protocol
// (kube-apiserver's own request authenticators). On success the user is put
// in the request's context (request.WithUser) and record, for the steps that
// decide the forward plan; otherwise the
// client gets a Status: 401 with WWW-Authenticate (also while the token's
// issuer has not been discovered yet), or the Status that the
// authenticator's typed refusal means (writeAuthFailure). A request that
// carries no token at all is authenticated by a's anonymous authenticator
// when a has one (authn.AnonymousAuthenticator: system:anonymous on the
// listed paths), as kube-apiserver's union.NewFailOnError does: a refused
// token is never anonymous.
func WithAuthentication(next http.Handler, a authn.Authenticator) http.Handler {
	anon, _ := a.(authn.AnonymousAuthenticator)
	return withAuthentication(next, a, anon, nil)
}

// withAuthentication is WithAuthentication where the token authenticator
// a and the anonymous one (anon, may be nil) are given apart, and the
// answer to a failed authentication is served by wrapFailed(the Status
// writer) when given (the audit of failed authentications).
func withAuthentication(next http.Handler, a authn.Authenticator, anon authn.AnonymousAuthenticator, wrapFailed func(http.Handler) http.Handler) http.Handler {
	bearer := bearertoken.New(a)
	ws := websocket.NewProtocolAuthenticator(a)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		resp, ok, err := bearer.AuthenticateRequest(r)
		if !ok && err == nil {
			resp, ok, err = ws.AuthenticateRequest(r)
		}
		if !ok && err == nil && anon != nil {
			if ar := anon.Anonymous(); ar != nil {
				resp, ok, err = ar.AuthenticateRequest(r)
			}
		}
		if ok && (resp == nil || resp.User == nil || resp.User.GetName() == "") {
			ok, err = false, errors.New("the token maps to an empty username")
		}
		if !ok {
			if wrapFailed == nil {
				writeAuthFailure(w, r, rec, err)
				return
			}
			wrapFailed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeAuthFailure(w, r, rec, err)
			})).ServeHTTP(w, r)
			return
		}
		rec.identity = resp.User
		next.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), resp.User)))
	})
}

// writeAuthFailure answers a failed authentication with the Status its
// error means (the authn error types): 403 for a refused identity, 401
// naming the cause while the token's issuer is not discovered yet, 503 with
// Retry-After while no token can be judged, 429 with Retry-After when a
// review is rate-limited, and 401 with WWW-Authenticate for everything else.
func writeAuthFailure(w http.ResponseWriter, r *http.Request, rec *record, err error) {
	// The authenticators only edit the headers on success, so the
	// presented token is still there to be redacted from messages.
	secrets := tokenCandidates(r)
	if err == nil {
		rec.authFailure = "no bearer token"
	} else {
		rec.authFailure = redact(err.Error(), secrets)
	}
	var (
		forbidden   *authn.ForbiddenIdentityError
		notReady    *authn.IssuerNotReadyError
		unavailable *authn.UnavailableError
		tooMany     *authn.TooManyRequestsError
	)
	switch {
	case errors.As(err, &tooMany):
		w.Header().Set("Retry-After", retryAfterSeconds(tooMany.RetryAfter))
		writeStatus(w, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests,
			"Too many requests: oidc-proxy is reviewing as many unknown tokens as it may; retry later")
	case errors.As(err, &unavailable):
		w.Header().Set("Retry-After", "1")
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			"oidc-proxy is starting: the authenticator is not ready yet")
	case errors.As(err, &notReady):
		// Not the token's fault, so no error="invalid_token".
		w.Header().Set("WWW-Authenticate", `Bearer realm="kubernetes"`)
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized,
			"Unauthorized: the token's identity provider is not reachable yet, so the token cannot be verified")
	case errors.As(err, &forbidden):
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, redact(forbidden.Reason, secrets))
	default:
		challenge := `Bearer realm="kubernetes"`
		if len(secrets) > 0 {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
	}
}

// retryAfterSeconds is d as a Retry-After header value (at least 1).
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// recognisedRefusal tells whether err says the OIDC authenticator
// recognised the token (it refused its identity, or cannot judge it yet)
// rather than that the token is not one of its issuers'.
func recognisedRefusal(err error) bool {
	var (
		forbidden   *authn.ForbiddenIdentityError
		notReady    *authn.IssuerNotReadyError
		unavailable *authn.UnavailableError
	)
	return errors.As(err, &forbidden) || errors.As(err, &notReady) || errors.As(err, &unavailable)
}

// tokenCandidates collects the strings a token could show up as in an error
// message: the raw bearer value, the decoded WebSocket token and each
// JWT segment, so redact can remove them.
func tokenCandidates(r *http.Request) []string {
	var raw []string
	if auth := strings.TrimSpace(r.Header.Get("Authorization")); auth != "" {
		raw = append(raw, auth)
		if _, rest, found := strings.Cut(auth, " "); found {
			raw = append(raw, strings.TrimSpace(rest))
			// bearertoken's token: the second space-separated field, even
			// when more follow ("Bearer TOKEN extra").
			if tok, _, more := strings.Cut(rest, " "); more && tok != "" {
				raw = append(raw, tok)
			}
		}
	}
	for _, h := range r.Header.Values(secWebSocketProtocol) {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			if enc, ok := strings.CutPrefix(p, bearerProtocolPrefix); ok {
				raw = append(raw, p, enc)
				if dec, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
					raw = append(raw, string(dec))
				}
			}
		}
	}
	var out []string
	for _, s := range raw {
		out = append(out, s)
		for _, seg := range strings.Split(s, ".") {
			if len(seg) >= 8 {
				out = append(out, seg)
			}
		}
	}
	return out
}

// redact removes every candidate secret from msg.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 8 {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return msg
}

// PendingAuthenticator answers *authn.UnavailableError until Set gives it the real
// authenticator, so the server can listen (and report not ready) while the
// authenticator is still being built.
type PendingAuthenticator struct {
	ready chan struct{}
	a     authn.Authenticator
}

// NewPendingAuthenticator returns an authenticator that is not ready yet.
func NewPendingAuthenticator() *PendingAuthenticator {
	return &PendingAuthenticator{ready: make(chan struct{})}
}

// Set installs the real authenticator; call it once.
func (p *PendingAuthenticator) Set(a authn.Authenticator) {
	p.a = a
	close(p.ready)
}

func (p *PendingAuthenticator) get() authn.Authenticator {
	select {
	case <-p.ready:
		return p.a
	default:
		return nil
	}
}

// errStarting is PendingAuthenticator's answer before Set.
var errStarting = &authn.UnavailableError{Reason: "oidc-proxy is starting"}

// AuthenticateToken implements authn.Authenticator.
func (p *PendingAuthenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	a := p.get()
	if a == nil {
		return nil, false, errStarting
	}
	return a.AuthenticateToken(ctx, token)
}

// ClaimsIssuer implements IssuerClaimer for the real authenticator; false
// before Set. (Before Set no token is judged at all: errStarting.)
func (p *PendingAuthenticator) ClaimsIssuer(token string) bool {
	c, ok := p.get().(IssuerClaimer)
	return ok && c.ClaimsIssuer(token)
}

// Anonymous implements authn.AnonymousAuthenticator: the real
// authenticator's, nil before Set (a request without a token is a 401 then).
func (p *PendingAuthenticator) Anonymous() authenticator.Request {
	if a, ok := p.get().(authn.AnonymousAuthenticator); ok {
		return a.Anonymous()
	}
	return nil
}

// HealthCheck implements authn.Authenticator.
func (p *PendingAuthenticator) HealthCheck() error {
	a := p.get()
	if a == nil {
		return errStarting
	}
	return a.HealthCheck()
}
