package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/request"
	clientscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"
)

// EndUserImpersonation authorises a client's Impersonate-* headers (kubectl
// --as, --as-group, --as-uid, --as-user-extra) with kube-apiserver's own
// impersonation filter (k8s.io/apiserver WithConstrainedImpersonation):
// constrained impersonation (the impersonate:MODE and impersonate-on:MODE:VERB
// verbs of KEP-5284) and legacy impersonation ("impersonate" on users,
// groups, serviceaccounts, uids and userextras/KEY) behave exactly as at the
// API server, system:authenticated included. Before the filter, every value
// is checked canonical (identity.Check: 400 otherwise) and extra keys are
// decoded to their one canonical form. Then it decides the request's
// forward plan: the impersonated identity (or the authenticated one) with
// the configured extras (--extra-user-headers, remote-client-ip) and, for
// an impersonation, the real user's extras.
type EndUserImpersonation struct {
	// Authorizer answers the checks; in the server a cached
	// SubjectAccessReview authorizer (k8s.io/apiserver webhook). Nil
	// refuses every client impersonation with 403.
	Authorizer ImpersonationAuthorizer
	// Timeout bounds each check.
	Timeout time.Duration
	// OriginalUserPrefix names the extras carrying the real user.
	OriginalUserPrefix string
	// Extra is added to every forwarded identity.
	Extra map[string][]string
	// ClientIP, when set, resolves the client address; with AddClientIP it
	// is forwarded as the extra remote-client-ip.
	ClientIP    *ClientIPResolver
	AddClientIP bool
	Log         *slog.Logger
}

// ImpersonationAuthorizer answers one impersonation check; the one method
// of k8s.io/apiserver's authorizer.Authorizer the filter uses.
type ImpersonationAuthorizer = authorizer.UnconditionalAuthorizer

// impersonationRequest is what a client's Impersonate-* headers ask for,
// every value canonical and every extra key in its canonical form.
type impersonationRequest struct {
	user, uid   string
	groups      []string
	groupsGiven bool
	extra       map[string][]string
}

// errMalformedImpersonation marks a client mistake (400).
var errMalformedImpersonation = errors.New("malformed impersonation request")

// parseImpersonation reads the Impersonate-* headers with kube-apiserver's
// semantics; nil when there are none.
func parseImpersonation(h http.Header) (*impersonationRequest, error) {
	found := false
	for k := range h {
		if hasPrefixFold(k, impersonatePrefix) {
			found = true
			break
		}
	}
	if !found {
		return nil, nil
	}
	req := &impersonationRequest{extra: map[string][]string{}}
	// Headers come canonicalised from net/http; still accept any case.
	values := func(name string) []string {
		var out []string
		for k, v := range h {
			if strings.EqualFold(k, name) {
				out = append(out, v...)
			}
		}
		return out
	}
	// Every value must reach kube-apiserver unchanged (identity.Check):
	// the check is on the value as given, never a trimmed copy.
	canonical := func(header string, f identity.Field, v string) error {
		if err := identity.Check(f, v); err != nil {
			return fmt.Errorf("%w: %s: %w", errMalformedImpersonation, header, err)
		}
		return nil
	}
	if users := values(authenticationv1.ImpersonateUserHeader); len(users) > 0 {
		if len(users) > 1 {
			return nil, fmt.Errorf("%w: %d Impersonate-User headers, at most one is allowed", errMalformedImpersonation, len(users))
		}
		req.user = users[0]
		if req.user != "" {
			if err := canonical(authenticationv1.ImpersonateUserHeader, identity.Username, req.user); err != nil {
				return nil, err
			}
		}
	}
	for _, g := range values(authenticationv1.ImpersonateGroupHeader) {
		if err := canonical(authenticationv1.ImpersonateGroupHeader, identity.Group, g); err != nil {
			return nil, err
		}
		req.groupsGiven = true
		req.groups = append(req.groups, g)
	}
	extraKeys := []string{}
	for k := range h {
		if hasPrefixFold(k, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			extraKeys = append(extraKeys, k)
		}
	}
	slices.Sort(extraKeys)
	// The key is percent-decoded, then lower-cased (identity.CanonicalExtraKey):
	// the reserved-key checks, the authorisation and the forwarded header
	// all use that form, which is what kube-apiserver decodes from the
	// header the proxy writes. Two headers naming one key are refused
	// rather than merged.
	headerOf := make(map[string]string, len(extraKeys))
	for _, k := range extraKeys {
		key, err := identity.CanonicalExtraKey(k[len(authenticationv1.ImpersonateUserExtraHeaderPrefix):])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errMalformedImpersonation, k, err)
		}
		if other, dup := headerOf[key]; dup {
			return nil, fmt.Errorf("%w: %s and %s both name the extra %q; send each key once", errMalformedImpersonation, other, k, key)
		}
		headerOf[key] = k
		for _, v := range h[k] {
			if err := identity.CheckExtra(key, []string{v}); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", errMalformedImpersonation, k, err)
			}
			req.extra[key] = append(req.extra[key], v)
		}
	}
	if uids := values(authenticationv1.ImpersonateUIDHeader); len(uids) > 0 {
		if len(uids) > 1 {
			return nil, fmt.Errorf("%w: %d Impersonate-Uid headers, at most one is allowed", errMalformedImpersonation, len(uids))
		}
		req.uid = uids[0]
		if req.uid != "" {
			if err := canonical(authenticationv1.ImpersonateUIDHeader, identity.UID, req.uid); err != nil {
				return nil, err
			}
		}
	}
	if req.user == "" {
		var asked []string
		if req.groupsGiven {
			asked = append(asked, "groups")
		}
		if len(req.extra) > 0 {
			asked = append(asked, "extras")
		}
		if req.uid != "" {
			asked = append(asked, "a uid")
		}
		if len(asked) == 0 {
			return nil, nil // only empty headers: no impersonation, as kube-apiserver
		}
		return nil, fmt.Errorf("%w: requested %s without impersonating a user (set Impersonate-User, kubectl --as)", errMalformedImpersonation, strings.Join(asked, ", "))
	}
	return req, nil
}

// header is the request in the canonical Impersonate-* headers that
// kube-apiserver's impersonation filter reads back as exactly req: extra
// keys escaped as client-go escapes them.
func (req *impersonationRequest) header() http.Header {
	h := http.Header{authenticationv1.ImpersonateUserHeader: {req.user}}
	if req.uid != "" {
		h[authenticationv1.ImpersonateUIDHeader] = []string{req.uid}
	}
	if len(req.groups) > 0 {
		h[authenticationv1.ImpersonateGroupHeader] = slices.Clone(req.groups)
	}
	if len(req.extra) > 0 {
		for _, e := range appendImpersonation(nil, &user.DefaultInfo{Name: req.user, Extra: req.extra}) {
			if strings.HasPrefix(e.key, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
				h[e.key] = e.values
			}
		}
	}
	return h
}

// realUserKey is the context key of the authenticated user while the
// impersonation filter runs (the filter replaces request.UserFrom with
// the impersonated user).
type realUserKey struct{}

// Wrap returns the handler step. It runs after authentication, which put
// the authenticated user in the context (request.WithUser), and decides
// the forward plan that next acts on.
func (e *EndUserImpersonation) Wrap(next http.Handler) http.Handler {
	reviews := &reviewAuthorizer{next: e.Authorizer, timeout: e.Timeout}
	if e.Authorizer == nil {
		reviews = nil
	}
	impersonated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fw, ok := w.(*reviewFailureWriter); ok {
			w = fw.ResponseWriter // allowed: the writer is out of the way
		}
		real, _ := r.Context().Value(realUserKey{}).(user.Info)
		target, ok := request.UserFrom(r.Context())
		if real == nil || !ok {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: no impersonated user")
			return
		}
		clientIP := e.clientIP(r)
		forward := e.withExtras(target, clientIP)
		if err := addOriginalUser(forward, real, e.OriginalUserPrefix); err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: "+err.Error())
			return
		}
		e.forward(w, r, forward, true, clientIP, next)
	})
	var filter http.Handler
	if reviews != nil {
		filter = impersonation.WithConstrainedImpersonation(impersonated, reviews, statusCodecs)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		real, ok := request.UserFrom(r.Context())
		if !ok || real == nil || real.GetName() == "" {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: no authenticated user")
			return
		}
		req, err := parseImpersonation(r.Header)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		if req == nil {
			clientIP := e.clientIP(r)
			e.forward(w, r, e.forwarded(real, clientIP), false, clientIP, next)
			return
		}
		if filter == nil {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, "impersonation is not allowed through oidc-proxy")
			return
		}
		for k := range req.extra {
			if strings.HasPrefix(k, e.OriginalUserPrefix) || (e.AddClientIP && k == ClientIPExtraKey) {
				writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
					fmt.Sprintf("the extra %q is set by oidc-proxy and cannot be impersonated", k))
				return
			}
		}
		// The filter reads the canonical headers; the client's own are
		// gone (stripped again before forwarding in any case).
		for k := range r.Header {
			if hasPrefixFold(k, impersonatePrefix) {
				delete(r.Header, k)
			}
		}
		maps.Copy(r.Header, req.header())
		failed := new(reviewFailed)
		ctx := context.WithValue(r.Context(), realUserKey{}, real)
		ctx = context.WithValue(ctx, reviewFailedKey{}, failed)
		ctx = request.WithUser(ctx, asAuthenticated(real))
		fw := &reviewFailureWriter{ResponseWriter: w, failed: failed, log: e.Log, user: real.GetName()}
		filter.ServeHTTP(fw, r.WithContext(ctx))
	})
}

// clientIP is the client address when something needs it ("" otherwise).
func (e *EndUserImpersonation) clientIP(r *http.Request) string {
	if e.ClientIP == nil {
		return ""
	}
	return e.ClientIP.Resolve(r)
}

// forward decides the plan for u and passes the request on.
func (e *EndUserImpersonation) forward(w http.ResponseWriter, r *http.Request, u user.Info, impersonated bool, clientIP string, next http.Handler) {
	p, err := impersonationPlan(u, impersonated, clientIP)
	if err != nil {
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf("the identity cannot be forwarded unchanged to the API server: %v", err))
		return
	}
	r, err = withPlan(r, p)
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: "+err.Error())
		return
	}
	next.ServeHTTP(w, r)
}

// statusCodecs encode the filter's errors as Status objects.
var statusCodecs = clientscheme.Codecs.WithoutConversion()

// reviewAuthorizer bounds each check by the timeout and, when a check
// cannot be answered (the API server unreachable, the review timed out),
// marks the request so the refusal becomes a 503: the filter itself would
// answer 403, which tells the user a right is missing when it is not.
type reviewAuthorizer struct {
	next    authorizer.UnconditionalAuthorizer
	timeout time.Duration
}

type reviewFailedKey struct{}

// reviewFailed holds the first error of a request's checks.
type reviewFailed struct {
	mu  sync.Mutex
	err error
}

func (a *reviewAuthorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	actx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	d, reason, err := a.next.Authorize(actx, attrs)
	if err != nil && d != authorizer.DecisionAllow {
		if f, ok := ctx.Value(reviewFailedKey{}).(*reviewFailed); ok {
			f.mu.Lock()
			if f.err == nil {
				f.err = fmt.Errorf("%s %s %q: %w", attrs.GetVerb(), attrs.GetResource(), attrs.GetName(), err)
			}
			f.mu.Unlock()
		}
	}
	return d, reason, err
}

// reviewFailureWriter turns the filter's refusal into 503 with Retry-After
// when a check could not be answered. Once the filter passes the request
// on, the next step unwraps it.
type reviewFailureWriter struct {
	http.ResponseWriter
	failed   *reviewFailed
	log      *slog.Logger
	user     string
	replaced bool
}

func (w *reviewFailureWriter) WriteHeader(code int) {
	w.failed.mu.Lock()
	err := w.failed.err
	w.failed.mu.Unlock()
	if err == nil || code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	if w.log != nil {
		w.log.Warn("impersonation check failed", "user", w.user, "err", err)
	}
	w.ResponseWriter.Header().Del("Content-Type")
	w.ResponseWriter.Header().Set("Retry-After", "1")
	writeStatus(w.ResponseWriter, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
		"oidc-proxy could not check the impersonation permission with the API server; retry")
}

func (w *reviewFailureWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the filter's own body, replaced
	}
	return w.ResponseWriter.Write(b)
}

func (w *reviewFailureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// asAuthenticated is u as kube-apiserver's authentication filter hands it
// to authorization: with system:authenticated among its groups (unless it
// has system:authenticated or system:unauthenticated already).
func asAuthenticated(u user.Info) user.Info {
	groups := u.GetGroups()
	if slices.Contains(groups, user.AllAuthenticated) || slices.Contains(groups, user.AllUnauthenticated) {
		return u
	}
	return &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: append(slices.Clip(groups), user.AllAuthenticated), Extra: u.GetExtra()}
}

// forwarded is the identity forwarded for the authenticated user u: u
// itself when there is nothing to add (the authenticator hands each
// request its own copy), else withExtras.
func (e *EndUserImpersonation) forwarded(u user.Info, clientIP string) user.Info {
	if len(e.Extra) == 0 && (!e.AddClientIP || clientIP == "") {
		return u
	}
	return e.withExtras(u, clientIP)
}

// withExtras copies u and adds the configured extras and the client IP.
func (e *EndUserImpersonation) withExtras(u user.Info, clientIP string) *user.DefaultInfo {
	extra := make(map[string][]string, len(u.GetExtra())+len(e.Extra)+1)
	for k, v := range u.GetExtra() {
		extra[k] = slices.Clone(v)
	}
	for k, v := range e.Extra {
		extra[k] = append(extra[k], v...)
	}
	if e.AddClientIP && clientIP != "" {
		extra[ClientIPExtraKey] = append(extra[ClientIPExtraKey], clientIP)
	}
	if len(extra) == 0 {
		extra = nil
	}
	return &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: slices.Clone(u.GetGroups()), Extra: extra}
}

// addOriginalUser names the real user in u's extras: <prefix>user,
// <prefix>groups, <prefix>uid and <prefix>extra (JSON), as kube-oidc-proxy.
func addOriginalUser(u *user.DefaultInfo, real user.Info, prefix string) error {
	if u.Extra == nil {
		u.Extra = map[string][]string{}
	}
	u.Extra[prefix+"user"] = []string{real.GetName()}
	if g := real.GetGroups(); len(g) > 0 {
		u.Extra[prefix+"groups"] = slices.Clone(g)
	}
	if uid := real.GetUID(); uid != "" {
		u.Extra[prefix+"uid"] = []string{uid}
	}
	if x := real.GetExtra(); len(x) > 0 {
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Errorf("encode the real user's extras: %w", err)
		}
		u.Extra[prefix+"extra"] = []string{string(b)}
	}
	return nil
}
