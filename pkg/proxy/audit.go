package proxy

import (
	"fmt"
	"net/http"
	"os"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/audit"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/server"
	serverfilters "k8s.io/apiserver/pkg/server/filters"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
)

// Audit writes kube-apiserver audit events (k8s.io/apiserver's audit
// filters, policy and backends) for the requests the proxy handles: the
// authenticated user, the impersonated user of kubectl --as, kube-apiserver's
// request info (verb list/get/watch, resource, namespace; /api and /apis),
// the response code, and failed authentications (401, 403) too.
type Audit struct {
	Backend audit.Backend
	Policy  audit.PolicyRuleEvaluator
}

// NewAudit builds the policy and the backends from kube-apiserver's audit
// flags; nil when auditing is off (no policy file, or no backend).
func NewAudit(o *apiserveroptions.AuditOptions) (*Audit, error) {
	if p := o.LogOptions.Path; p != "" && p != "-" {
		// The log backend rotates by renaming its file: given a device such
		// as /dev/null it would rename the device away and create a regular
		// file in its place. kube-apiserver's "-" means standard output.
		if fi, err := os.Stat(p); err == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("audit: --audit-log-path %s is not a regular file (use \"-\" for standard output, or omit the flag for no log backend)", p)
		}
	}
	var c server.Config
	if err := o.ApplyTo(&c); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if c.AuditBackend == nil || c.AuditPolicyRuleEvaluator == nil {
		return nil, nil
	}
	return &Audit{Backend: c.AuditBackend, Policy: c.AuditPolicyRuleEvaluator}, nil
}

// longRunning marks requests whose audit event also gets the
// ResponseStarted stage, as kube-apiserver does.
var longRunning = serverfilters.BasicLongRunningRequestCheck(
	sets.NewString("watch", "proxy"),
	sets.NewString("attach", "exec", "proxy", "log", "portforward"),
)

// wrapOuter sits outside authentication: the audit context (Audit-ID).
// The request info comes from WithRequestInfo, outside it.
func (a *Audit) wrapOuter(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	h := genericfilters.WithAuditInit(next)
	return genericfilters.WithRequestReceivedTimestamp(h)
}

// wrapFailed audits a failed authentication (401, 403, 503).
func (a *Audit) wrapFailed() func(http.Handler) http.Handler {
	if a == nil {
		return nil
	}
	return func(failed http.Handler) http.Handler {
		return genericfilters.WithFailedAuthenticationAudit(failed, a.Backend, a.Policy)
	}
}

// wrapAuthenticated audits an authenticated request; the event's user is
// the one authentication put in the context (request.WithUser).
func (a *Audit) wrapAuthenticated(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return genericfilters.WithAudit(next, a.Backend, a.Policy, longRunning)
}
