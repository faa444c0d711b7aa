package proxy

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
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
// letting a client choose the identity would bypass authentication. It is
// the step used when the proxy runs without modes (EndUserImpersonation).
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

// withUserPlan decides the plan of a request whose client did not
// impersonate: the authenticated user (request.UserFrom), as is.
func withUserPlan(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		p, err := impersonationPlan(u, false, "")
		if err != nil {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("the identity cannot be forwarded unchanged to the API server: %v", err))
			return
		}
		if r, err = withPlan(r, p); err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: "+err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withPlanHeaders sets the identity headers the request's plan names, and
// nothing the client sent: for an impersonation, everything
// identity-related the client sent is removed (stripIdentity) and the
// plan's Impersonate-* headers are set; for a passthrough, the client's
// Impersonate-* headers stay (the API server authorises them for the user
// of the token), the rest is removed and the client's token is set as
// "Authorization: Bearer". Without a plan the request fails closed (500).
func withPlanHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := planFrom(r.Context())
		switch {
		case p == nil:
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: no forward plan for the request")
			return
		case p.passthrough():
			impersonate := map[string][]string{}
			for k, v := range r.Header {
				if hasPrefixFold(k, impersonatePrefix) {
					impersonate[k] = v
				}
			}
			stripIdentity(r.Header)
			maps.Copy(r.Header, impersonate)
			r.Header.Set("Authorization", "Bearer "+p.token)
		default:
			stripIdentity(r.Header)
			for _, e := range p.headers {
				r.Header[e.key] = e.values // the reverse proxy deep-copies headers for the outbound request
			}
		}
		next.ServeHTTP(w, r)
	})
}

// stripIdentity removes everything identity-related the client sent:
// Authorization, Impersonate-*, X-Remote-*, the bearer entry of
// Sec-WebSocket-Protocol, and any Connection option naming one of those
// headers (a client could otherwise make the reverse proxy drop the proxy's
// own Impersonate-* headers as hop-by-hop).
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
	return appendImpersonationVals(dst, nil, u)
}

// appendImpersonationVals is appendImpersonation with the user, uid and
// group values in vals' backing array when they fit (the plan's own).
func appendImpersonationVals(dst headerList, vals []string, u user.Info) headerList {
	groups := u.GetGroups()
	uid := u.GetUID()
	// One backing array for the user, uid and group values; each header
	// gets a capacity-limited slice of it, so an append copies out.
	if need := len(groups) + 3; cap(vals) < need {
		vals = make([]string, 0, need)
	}
	vals = append(vals[:0], u.GetName())
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
		dst = appendExtras(dst, u.GetName(), extra)
	}
	return dst
}

// appendExtras appends the Impersonate-Extra-* headers for extra as
// client-go's impersonating round tripper sets them (it escapes the keys).
func appendExtras(dst headerList, name string, extra map[string][]string) headerList {
	capture := roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		for k, v := range req.Header {
			if strings.HasPrefix(k, transport.ImpersonateUserExtraHeaderPrefix) {
				dst = append(dst, headerValues{k, v})
			}
		}
		return nil, nil
	})
	rt := transport.NewImpersonatingRoundTripper(transport.ImpersonationConfig{UserName: name, Extra: extra}, capture)
	_, _ = rt.RoundTrip(&http.Request{Header: http.Header{}}) // capture returns no response: no body to close
	return dst
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// errIdentityAssertion marks an outbound request that failed the final
// identity check; it is answered with 500 and never sent.
var errIdentityAssertion = errors.New("outbound identity check failed")

// planTransport is the last step before the request leaves (defence in
// depth, as Pinniped's impersonation proxy does): the outbound request
// must match its plan exactly, and then goes to the transport the plan
// names. An impersonation carries exactly the plan's Impersonate-*
// headers, each as kube-apiserver will decode it (checkWireIdentity), and
// no Authorization, X-Remote-* or WebSocket bearer protocol from the
// client; the proxy's own credential is added after it, by client-go's
// wrappers. A passthrough carries exactly the client's token and none of
// X-Remote-* or the WebSocket bearer protocol.
type planTransport struct {
	impersonating http.RoundTripper
	// passthrough reaches the API server without the proxy's credentials
	// (nil: passthrough is off and such a plan is refused).
	passthrough http.RoundTripper
}

func (t planTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := planFrom(req.Context())
	next, err := t.pick(p)
	if err == nil {
		if p.passthrough() {
			err = checkPassthroughOutbound(req, p)
		} else {
			err = checkOutbound(req, p)
		}
	}
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return next.RoundTrip(req)
}

func (t planTransport) pick(p *forwardPlan) (http.RoundTripper, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: no forward plan for this request", errIdentityAssertion)
	case !p.passthrough():
		return t.impersonating, nil
	case t.passthrough == nil:
		return nil, fmt.Errorf("%w: a passthrough plan without passthrough", errIdentityAssertion)
	}
	return t.passthrough, nil
}

func checkOutbound(req *http.Request, p *forwardPlan) error {
	if u := p.headers.values(transport.ImpersonateUserHeader); len(u) != 1 || u[0] == "" {
		return fmt.Errorf("%w: no impersonated identity for this request", errIdentityAssertion)
	}
	for k, v := range req.Header {
		switch {
		case strings.EqualFold(k, "Authorization"), hasPrefixFold(k, remotePrefix):
			return fmt.Errorf("%w: client header %s still present", errIdentityAssertion, k)
		case hasPrefixFold(k, impersonatePrefix):
			if !slices.Equal(v, p.headers.values(k)) {
				return fmt.Errorf("%w: header %s is not the one the proxy set", errIdentityAssertion, k)
			}
			if err := checkWireIdentity(k, v); err != nil {
				return fmt.Errorf("%w: header %s: %w", errIdentityAssertion, k, err)
			}
		case strings.EqualFold(k, "Sec-WebSocket-Protocol"):
			if hasBearerProtocol(v) {
				return fmt.Errorf("%w: WebSocket bearer protocol still present", errIdentityAssertion)
			}
		}
	}
	for _, e := range p.headers {
		if !slices.Equal(req.Header[e.key], e.values) {
			return fmt.Errorf("%w: header %s missing from the outbound request", errIdentityAssertion, e.key)
		}
	}
	return nil
}

// checkPassthroughOutbound: the request leaves with exactly the client's
// token and nothing the proxy would have added.
func checkPassthroughOutbound(req *http.Request, p *forwardPlan) error {
	if got := req.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+p.token {
		return fmt.Errorf("%w: passthrough request without the client's token", errIdentityAssertion)
	}
	for k, v := range req.Header {
		switch {
		case hasPrefixFold(k, remotePrefix):
			return fmt.Errorf("%w: client header %s still present", errIdentityAssertion, k)
		case strings.EqualFold(k, "Sec-WebSocket-Protocol"):
			if hasBearerProtocol(v) {
				return fmt.Errorf("%w: WebSocket bearer protocol still present", errIdentityAssertion)
			}
		}
	}
	return nil
}

func hasBearerProtocol(values []string) bool {
	for _, p := range values {
		if strings.Contains(p, bearerProtocolPrefix) {
			return true
		}
	}
	return false
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
