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
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"
)

// EndUserImpersonation authorises a client's Impersonate-* headers (kubectl
// --as, --as-group, --as-uid, --as-user-extra) the way kube-apiserver does:
// one "impersonate" check per distinct requested value, for the
// authenticated user, against users, groups, serviceaccounts
// (system:serviceaccount:NS:NAME), uids and userextras/KEY. It also adds the
// configured extras (--extra-user-headers, remote-client-ip) to whatever
// identity is forwarded.
type EndUserImpersonation struct {
	// Authorizer answers the checks; in the server a cached
	// SubjectAccessReview authorizer (k8s.io/apiserver webhook). Nil
	// refuses every client impersonation with 403.
	Authorizer ImpersonationAuthorizer
	// Timeout bounds all checks of one request (they run in parallel).
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

// ImpersonationAuthorizer answers one "impersonate" check; the one method
// of k8s.io/apiserver's authorizer.Authorizer the proxy uses.
type ImpersonationAuthorizer interface {
	Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error)
}

// impersonationCheck is one "impersonate" authorisation.
type impersonationCheck struct {
	resource, subresource, group, namespace, name string
}

func (c impersonationCheck) attributes(u user.Info) *authorizer.AttributesRecord {
	version := ""
	if c.group == authenticationv1.GroupName {
		version = "v1"
	}
	return &authorizer.AttributesRecord{
		User: u, Verb: "impersonate", ResourceRequest: true,
		APIGroup: c.group, APIVersion: version, Resource: c.resource, Subresource: c.subresource,
		Namespace: c.namespace, Name: c.name,
	}
}

// impersonationRequest is what a client's Impersonate-* headers ask for.
type impersonationRequest struct {
	user, uid      string
	groups         []string
	groupsGiven    bool
	extra          map[string][]string
	checks         []impersonationCheck // distinct, in header order
	serviceAccount struct{ namespace, name string }
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
	seen := map[impersonationCheck]bool{}
	add := func(c impersonationCheck) {
		if !seen[c] {
			seen[c] = true
			req.checks = append(req.checks, c)
		}
	}
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
	if req.user != "" {
		if ns, name, err := serviceaccount.SplitUsername(req.user); err == nil {
			req.serviceAccount.namespace, req.serviceAccount.name = ns, name
			add(impersonationCheck{resource: "serviceaccounts", namespace: ns, name: name})
		} else {
			add(impersonationCheck{resource: "users", name: req.user})
		}
	}
	for _, g := range values(authenticationv1.ImpersonateGroupHeader) {
		if err := canonical(authenticationv1.ImpersonateGroupHeader, identity.Group, g); err != nil {
			return nil, err
		}
		req.groupsGiven = true
		req.groups = append(req.groups, g)
		add(impersonationCheck{resource: "groups", name: g})
	}
	extraKeys := []string{}
	for k := range h {
		if hasPrefixFold(k, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			extraKeys = append(extraKeys, k)
		}
	}
	slices.Sort(extraKeys)
	// The key is percent-decoded, then lower-cased (identity.CanonicalExtraKey):
	// the reserved-key checks, the review and the forwarded header all use
	// that form, which is what kube-apiserver decodes from the forwarded
	// header. Two headers naming one key are refused rather than merged.
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
			add(impersonationCheck{resource: "userextras", subresource: key, group: authenticationv1.GroupName, name: v})
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
			add(impersonationCheck{resource: "uids", group: authenticationv1.GroupName, name: req.uid})
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

// identity is the impersonated user exactly as kube-apiserver builds it:
// a service account's groups when none were given, then
// system:authenticated (system:unauthenticated for system:anonymous) unless
// given.
func (req *impersonationRequest) identity() *user.DefaultInfo {
	groups := slices.Clone(req.groups)
	if !req.groupsGiven && req.serviceAccount.name != "" {
		groups = serviceaccount.MakeGroupNames(req.serviceAccount.namespace)
	}
	if req.user != user.Anonymous {
		if !slices.Contains(groups, user.AllAuthenticated) && !slices.Contains(groups, user.AllUnauthenticated) {
			groups = append(groups, user.AllAuthenticated)
		}
	} else if !slices.Contains(groups, user.AllUnauthenticated) {
		groups = append(groups, user.AllUnauthenticated)
	}
	return &user.DefaultInfo{Name: req.user, UID: req.uid, Groups: groups, Extra: maps.Clone(req.extra)}
}

// checkResult is the outcome of one check.
type checkResult struct {
	decision authorizer.Decision
	reason   string
	err      error
}

// authorize runs every check in parallel under the timeout. It returns the
// first denied check in header order, or an error when a check could not
// be answered.
func (e *EndUserImpersonation) authorize(ctx context.Context, real user.Info, checks []impersonationCheck) (*impersonationCheck, string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	results := make([]checkResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			d, reason, err := e.Authorizer.Authorize(ctx, c.attributes(real))
			results[i] = checkResult{d, reason, err}
		})
	}
	wg.Wait()
	var firstErr error
	for i, res := range results {
		if res.decision == authorizer.DecisionAllow {
			continue
		}
		if res.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("impersonate %s %q: %w", checks[i].resource, checks[i].name, res.err)
			}
			continue
		}
		return &checks[i], res.reason, nil
	}
	return nil, "", firstErr
}

// Wrap returns the handler step. It runs after authentication and before
// the client's identity headers are stripped.
func (e *EndUserImpersonation) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		real := rec.identity
		if real == nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: no authenticated user")
			return
		}
		if e.ClientIP != nil {
			rec.modes.clientIP = e.ClientIP.Resolve(r)
		}
		req, err := parseImpersonation(r.Header)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		if req == nil {
			if len(e.Extra) > 0 || (e.AddClientIP && rec.modes.clientIP != "") {
				rec.modes.forward = e.withExtras(real, rec.modes.clientIP)
			}
			next.ServeHTTP(w, r)
			return
		}
		if e.Authorizer == nil {
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
		requestor := asAuthenticated(real)
		denied, reason, err := e.authorize(r.Context(), requestor, req.checks)
		switch {
		case denied != nil:
			st := responsewriters.ForbiddenStatusError(denied.attributes(requestor), reason)
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, st.ErrStatus.Message)
			return
		case err != nil:
			if e.Log != nil {
				e.Log.Warn("impersonation check failed", "user", real.GetName(), "err", err)
			}
			w.Header().Set("Retry-After", "1")
			writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
				"oidc-proxy could not check the impersonation permission with the API server; retry")
			return
		}
		target := req.identity()
		audit.LogImpersonatedUser(r.Context(), target, "")
		forward := e.withExtras(target, rec.modes.clientIP)
		if err := addOriginalUser(forward, real, e.OriginalUserPrefix); err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: "+err.Error())
			return
		}
		rec.modes.forward = forward
		rec.modes.impersonated = true
		next.ServeHTTP(w, r)
	})
}

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
