package proxy

import (
	"context"
	"errors"
	"net/http"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"
)

// forwardPlan is how one request leaves for the API server. It is decided
// once, after authentication and client impersonation, stored in the
// request's context (withPlan) and never changed: the steps after it
// (the forwarded headers, the outbound check, the choice of transport)
// only read it.
type forwardPlan struct {
	// token is set for a passthrough (--disable-impersonation,
	// --token-passthrough): the client's own bearer token is forwarded,
	// the proxy's credential and Impersonate-* are not. Never logged.
	token string
	// user is the identity impersonated upstream (nil for a passthrough).
	user user.Info
	// impersonated: user is the one the client asked for with
	// Impersonate-* (kubectl --as) and was authorised to use.
	impersonated bool
	// headers are the Impersonate-* headers for user, encoded as client-go
	// encodes them; the outbound check compares the request against them.
	headers headerList
	// clientIP is the client address as --trusted-proxy-cidrs resolves it
	// ("" when nothing asked for it).
	clientIP string

	// headerBuf backs headers and valBuf their user, uid and group values
	// for the usual identity (user, uid, a few groups, one extra); ctx is
	// the request context carrying the plan (withPlan): all live in the
	// plan's own allocation.
	headerBuf [4]headerValues
	valBuf    [8]string
	ctx       planContext
}

// impersonationPlan forwards u with Impersonate-* headers. An identity
// with a value HTTP would alter in transit (identity.CheckUser) or without
// a name has no plan.
func impersonationPlan(u user.Info, impersonated bool, clientIP string) (*forwardPlan, error) {
	if u == nil || u.GetName() == "" {
		return nil, errors.New("no user to impersonate")
	}
	if err := identity.CheckUser(u); err != nil {
		return nil, err
	}
	p := &forwardPlan{user: u, impersonated: impersonated, clientIP: clientIP}
	p.headers = appendImpersonationVals(p.headerBuf[:0], p.valBuf[:0], u)
	return p, nil
}

// passthroughPlan forwards the client's own token.
func passthroughPlan(token string) (*forwardPlan, error) {
	if token == "" {
		return nil, errors.New("no token to pass through")
	}
	return &forwardPlan{token: token}, nil
}

func (p *forwardPlan) passthrough() bool { return p.token != "" }

type planKey struct{}

// errPlanDecided means a second step tried to decide a request's plan.
var errPlanDecided = errors.New("the request's forward plan is already decided")

// withPlan stores p as the request's plan; a request has exactly one. The
// request's record keeps it too, for the access log, which runs after the
// request.
func withPlan(r *http.Request, p *forwardPlan) (*http.Request, error) {
	ctx := r.Context()
	if planFrom(ctx) != nil || p.ctx.Context != nil {
		return r, errPlanDecided
	}
	if rec := recordFrom(ctx); rec != nil {
		rec.plan = p
	}
	p.ctx = planContext{Context: ctx, plan: p}
	return r.WithContext(&p.ctx), nil
}

// planContext is what context.WithValue(ctx, planKey{}, plan) gives,
// embedded in the plan so that storing it allocates nothing more.
// Deadlines, cancellation and every other value come from the parent.
type planContext struct {
	context.Context
	plan *forwardPlan
}

func (c *planContext) Value(key any) any {
	if _, ok := key.(planKey); ok {
		return c.plan
	}
	return c.Context.Value(key)
}

// planFrom is the request's plan, nil before it is decided.
func planFrom(ctx context.Context) *forwardPlan {
	p, _ := ctx.Value(planKey{}).(*forwardPlan)
	return p
}
