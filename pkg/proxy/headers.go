package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/transport"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"
)

const bearerProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// secWebSocketProtocol is the canonical form of the Sec-WebSocket-Protocol
// header name (as http.CanonicalHeaderKey gives it): Header.Values and Del
// allocate a canonical copy of any name that is not in this form.
const secWebSocketProtocol = "Sec-Websocket-Protocol"

const (
	impersonatePrefix = "Impersonate-"
	remotePrefix      = "X-Remote-"
)

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isIdentityHeader tells whether a header name carries identity a client
// must never pass to the API server: Authorization, Impersonate-* (including
// Impersonate-Uid and Impersonate-Extra-*) and X-Remote-* (the request-header
// authentication of aggregated API servers).
func isIdentityHeader(name string) bool {
	return strings.EqualFold(name, "Authorization") ||
		hasPrefixFold(name, impersonatePrefix) ||
		hasPrefixFold(name, remotePrefix)
}

// WithImpersonationRefused answers 403 to any request carrying an
// Impersonate-* header: the proxy impersonates on the user's behalf, so
// letting a client choose the identity would bypass authentication. (A later
// issue authorises client impersonation with a SubjectAccessReview.)
func WithImpersonationRefused(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			if hasPrefixFold(k, impersonatePrefix) {
				names = append(names, k)
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("impersonation is not allowed through oidc-proxy (request carries %s)", strings.Join(names, ", ")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WithIdentityStripped removes everything identity-related the client sent:
// Authorization, Impersonate-*, X-Remote-*, the bearer entry of
// Sec-WebSocket-Protocol, and any Connection option naming one of those
// headers (a client could otherwise make the reverse proxy drop the proxy's
// own Impersonate-* headers as hop-by-hop).
func WithIdentityStripped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stripIdentity(r.Header)
		next.ServeHTTP(w, r)
	})
}

func stripIdentity(h http.Header) {
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
		}
	}
	if vals := h.Values(secWebSocketProtocol); len(vals) > 0 {
		kept := filterList(vals, func(p string) bool { return !strings.HasPrefix(p, bearerProtocolPrefix) })
		h.Del(secWebSocketProtocol)
		if len(kept) > 0 {
			h.Set(secWebSocketProtocol, strings.Join(kept, ", "))
		}
	}
	if vals := h.Values("Connection"); len(vals) > 0 {
		kept := filterList(vals, func(p string) bool { return !isIdentityHeader(p) })
		h.Del("Connection")
		if len(kept) > 0 {
			h.Set("Connection", strings.Join(kept, ", "))
		}
	}
}

// filterList splits comma-separated header values and keeps the entries
// for which keep is true.
func filterList(vals []string, keep func(string) bool) []string {
	var kept []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" && keep(p) {
				kept = append(kept, p)
			}
		}
	}
	return kept
}

// WithImpersonation sets Impersonate-User, one Impersonate-Group per group
// (plus system:authenticated), Impersonate-Uid when the user has one, and
// Impersonate-Extra-<key> with the key escaped exactly as client-go does, for
// the user that WithAuthentication recorded. Without a user it fails
// closed with 500; an identity with a value HTTP would alter in transit
// (identity.CheckUser) is refused with 403.
func WithImpersonation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		u := rec.forwardIdentity()
		if u == nil || u.GetName() == "" {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: no authenticated user")
			return
		}
		if err := identity.CheckUser(u); err != nil {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("the identity cannot be forwarded unchanged to the API server: %v", err))
			return
		}
		rec.impersonation = appendImpersonation(rec.impersonationBuf[:0], u)
		for _, e := range rec.impersonation {
			r.Header[e.key] = e.values // the reverse proxy deep-copies headers for the outbound request
		}
		next.ServeHTTP(w, r)
	})
}

// ImpersonationHeaders returns the Impersonate-* headers for u, the same
// as client-go's impersonating round tripper sets (a test holds them
// equal). Extra keys are escaped by that round tripper itself, so their
// percent-encoding is exactly what kube-apiserver decodes.
func ImpersonationHeaders(u user.Info) http.Header {
	l := appendImpersonation(nil, u)
	h := make(http.Header, len(l))
	for _, e := range l {
		h[e.key] = e.values
	}
	return h
}

// headerValues is one header with its values.
type headerValues struct {
	key    string
	values []string
}

// headerList is a few headers with distinct canonical names: the
// Impersonate-* headers the proxy decided on, kept in the request's record
// without a map of their own.
type headerList []headerValues

// values are the values of the header named exactly key (nil if absent).
func (l headerList) values(key string) []string {
	for i := range l {
		if l[i].key == key {
			return l[i].values
		}
	}
	return nil
}

// appendImpersonation appends the headers ImpersonationHeaders returns.
func appendImpersonation(dst headerList, u user.Info) headerList {
	groups := u.GetGroups()
	uid := u.GetUID()
	// One backing array for the user, uid and group values; each header
	// gets a capacity-limited slice of it, so an append copies out.
	vals := make([]string, 0, len(groups)+3)
	vals = append(vals, u.GetName())
	dst = append(dst, headerValues{transport.ImpersonateUserHeader, vals[0:1:1]})
	if uid != "" {
		vals = append(vals, uid)
		dst = append(dst, headerValues{transport.ImpersonateUIDHeader, vals[1:2:2]})
	}
	start := len(vals)
	vals = append(vals, groups...)
	if !slices.Contains(groups, user.AllAuthenticated) && !slices.Contains(groups, user.AllUnauthenticated) {
		vals = append(vals, user.AllAuthenticated)
	}
	dst = append(dst, headerValues{transport.ImpersonateGroupHeader, vals[start:len(vals):len(vals)]})
	if extra := u.GetExtra(); len(extra) > 0 {
		capture := roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			for k, v := range req.Header {
				if strings.HasPrefix(k, transport.ImpersonateUserExtraHeaderPrefix) {
					dst = append(dst, headerValues{k, v})
				}
			}
			return nil, nil
		})
		rt := transport.NewImpersonatingRoundTripper(transport.ImpersonationConfig{UserName: u.GetName(), Extra: extra}, capture)
		_, _ = rt.RoundTrip(&http.Request{Header: http.Header{}}) // capture returns no response: no body to close
	}
	return dst
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// errIdentityAssertion marks an outbound request that failed the final
// identity check; it is answered with 500 and never sent.
var errIdentityAssertion = errors.New("outbound identity check failed")

// identityAssertion is the last step before the request leaves (defence in
// depth, as Pinniped's impersonation proxy does): the outbound request must
// carry exactly the Impersonate-* headers the proxy decided on, and no
// Authorization, X-Remote-* or WebSocket bearer protocol from the client.
// The proxy's own credentials are added after it, by client-go's wrappers.
type identityAssertion struct{ next http.RoundTripper }

func (t identityAssertion) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkOutbound(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

func checkOutbound(req *http.Request) error {
	rec := recordFrom(req.Context())
	if rec == nil || len(rec.impersonation) == 0 || len(rec.impersonation.values(transport.ImpersonateUserHeader)) == 0 ||
		rec.impersonation.values(transport.ImpersonateUserHeader)[0] == "" {
		return fmt.Errorf("%w: no impersonated identity for this request", errIdentityAssertion)
	}
	for k, v := range req.Header {
		switch {
		case strings.EqualFold(k, "Authorization"), hasPrefixFold(k, remotePrefix):
			return fmt.Errorf("%w: client header %s still present", errIdentityAssertion, k)
		case hasPrefixFold(k, impersonatePrefix):
			if !slices.Equal(v, rec.impersonation.values(k)) {
				return fmt.Errorf("%w: header %s is not the one the proxy set", errIdentityAssertion, k)
			}
			if err := checkWireIdentity(k, v); err != nil {
				return fmt.Errorf("%w: header %s: %w", errIdentityAssertion, k, err)
			}
		case strings.EqualFold(k, "Sec-WebSocket-Protocol"):
			for _, p := range v {
				if strings.Contains(p, bearerProtocolPrefix) {
					return fmt.Errorf("%w: WebSocket bearer protocol still present", errIdentityAssertion)
				}
			}
		}
	}
	for _, e := range rec.impersonation {
		if !slices.Equal(req.Header[e.key], e.values) {
			return fmt.Errorf("%w: header %s missing from the outbound request", errIdentityAssertion, e.key)
		}
	}
	return nil
}

// checkWireIdentity checks one outbound Impersonate-* header as
// kube-apiserver will read it: every value canonical, and for an extra the
// key kube-apiserver decodes from the header name (lower case, then
// percent-decoding) canonical too.
func checkWireIdentity(name string, values []string) error {
	if hasPrefixFold(name, transport.ImpersonateUserExtraHeaderPrefix) {
		if p := identity.HeaderKeyProblem(name[len(transport.ImpersonateUserExtraHeaderPrefix):]); p != "" {
			return fmt.Errorf("extra key of %s %s", name, p)
		}
	}
	for _, v := range values {
		if p := identity.Problem(v); p != "" {
			return fmt.Errorf("value %s %s", identity.Quote(v), p)
		}
	}
	return nil
}
