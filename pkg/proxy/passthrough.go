package proxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

// IssuerClaimer is implemented by an Authenticator that can tell, without
// verifying anything, whether a token is shaped as a JWT of one of its
// configured issuers (its iss claim). With token passthrough such tokens
// are refused by the OIDC authenticator alone, never sent to TokenReview:
// an expired or forged OIDC token is not another credential to try.
type IssuerClaimer interface {
	ClaimsIssuer(token string) bool
}

// TokenReviewLimit bounds the TokenReviews the proxy sends for callers that
// have not authenticated (--token-passthrough): at most QPS a second on
// average, Burst at once. Cached decisions are not counted.
type TokenReviewLimit struct {
	QPS   float64
	Burst int
}

// DefaultTokenReviewLimit is the default of --token-passthrough-review-qps
// and --token-passthrough-review-burst.
var DefaultTokenReviewLimit = TokenReviewLimit{QPS: 20, Burst: 50}

func (l *TokenReviewLimit) addFlags(fs *pflag.FlagSet) {
	fs.Float64Var(&l.QPS, "token-passthrough-review-qps", l.QPS,
		"With --token-passthrough, the TokenReviews sent per second on average for tokens not in the review cache (every distinct unknown token costs one); beyond it the client gets 429 with Retry-After. 0 means no limit.")
	fs.IntVar(&l.Burst, "token-passthrough-review-burst", l.Burst,
		"With --token-passthrough, the TokenReviews that may be sent at once above --token-passthrough-review-qps.")
}

func (l TokenReviewLimit) validate() []error {
	var errs []error
	if l.QPS < 0 || math.IsNaN(l.QPS) || math.IsInf(l.QPS, 0) {
		errs = append(errs, fmt.Errorf("--token-passthrough-review-qps must be a finite number >= 0, got %v", l.QPS))
	}
	if l.QPS > 0 && l.Burst < 1 {
		errs = append(errs, fmt.Errorf("--token-passthrough-review-burst must be at least 1, got %d", l.Burst))
	}
	return errs
}

// limitedTokenReview refuses reviews beyond the limit with
// *authn.TooManyRequestsError.
type limitedTokenReview struct {
	next    authenticator.Token
	limiter *rate.Limiter
}

func (l *limitedTokenReview) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	r := l.limiter.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return nil, false, &authn.TooManyRequestsError{RetryAfter: max(d, tokenRefusedTTL)}
	}
	return l.next.AuthenticateToken(ctx, token)
}

// newTokenReviewCache puts review behind the limit and the decision cache
// (successes for tokenReviewTTL, refusals and errors for tokenRefusedTTL, as
// kube-apiserver reports an invalid token with an error). A refusal for the
// limit is cached like any error, so Retry-After is never shorter than
// tokenRefusedTTL. The counter returned is for the requests refused with 429
// (passthroughAuthenticator counts them; register it).
func newTokenReviewCache(review authenticator.Token, l TokenReviewLimit) (authenticator.Token, prometheus.Counter) {
	throttled := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oidc_proxy_token_reviews_throttled_total",
		Help: "Requests refused with 429 because the TokenReview rate limit for tokens not in the review cache (--token-passthrough-review-qps) was reached.",
	})
	if l.QPS > 0 {
		review = &limitedTokenReview{next: review, limiter: rate.NewLimiter(rate.Limit(l.QPS), l.Burst)}
	}
	return tokencache.New(review, true, tokenReviewTTL, tokenRefusedTTL), throttled
}

// passthroughAuthenticator decides which requests are forwarded with the
// client's own token instead of impersonation: every request with
// --disable-impersonation, and with --token-passthrough those whose token
// the OIDC authenticator refuses but the API server accepts (TokenReview).
type passthroughAuthenticator struct {
	oidc authn.Authenticator
	// disable marks every authenticated request as passthrough.
	disable bool
	// review checks non-OIDC tokens (nil: no token passthrough).
	review    authenticator.Token
	audiences authenticator.Audiences
	// throttled counts the requests refused for the TokenReview limit.
	throttled prometheus.Counter
}

func (p *passthroughAuthenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	resp, ok, err := p.oidc.AuthenticateToken(ctx, token)
	if ok {
		if p.disable {
			return passthroughResponse(resp, token), true, nil
		}
		return resp, ok, err
	}
	// A token the OIDC authenticator recognised but cannot judge yet, or
	// whose identity it refuses, is not given to the API server.
	if p.review == nil || token == "" || recognisedRefusal(err) {
		return resp, ok, err
	}
	if c, isClaimer := p.oidc.(IssuerClaimer); isClaimer && c.ClaimsIssuer(token) {
		return resp, ok, err
	}
	rctx := ctx
	if len(p.audiences) > 0 {
		rctx = authenticator.WithAudiences(ctx, p.audiences)
	}
	rresp, rok, rerr := p.review.AuthenticateToken(rctx, token)
	if rok && rresp != nil && rresp.User != nil && rresp.User.GetName() != "" {
		return passthroughResponse(rresp, token), true, nil
	}
	var tooMany *authn.TooManyRequestsError
	switch {
	case errors.As(rerr, &tooMany):
		if p.throttled != nil {
			p.throttled.Inc()
		}
		return nil, false, rerr
	case err != nil && rerr != nil:
		return nil, false, fmt.Errorf("%w; TokenReview: %v", err, rerr)
	case err != nil:
		return nil, false, fmt.Errorf("%w; TokenReview: not authenticated", err)
	case rerr != nil:
		return nil, false, fmt.Errorf("TokenReview: %w", rerr)
	}
	return nil, false, errors.New("TokenReview: not authenticated")
}

func (p *passthroughAuthenticator) HealthCheck() error { return p.oidc.HealthCheck() }

// passthroughUser is an authenticated user whose requests are forwarded
// with its own token: the decision travels with the user
// (request.WithUser), so no later step can make or unmake it.
type passthroughUser struct {
	user.Info
	token string
}

// String names the user without the token, for any %v of it.
func (u *passthroughUser) String() string { return "passthrough user " + u.GetName() }

// GoString is String, for %#v.
func (u *passthroughUser) GoString() string { return u.String() }

func passthroughResponse(r *authenticator.Response, token string) *authenticator.Response {
	return &authenticator.Response{Audiences: r.Audiences, User: &passthroughUser{Info: r.User, token: token}}
}

// withPassthroughBranch decides the plan of a request whose authenticated
// user is a passthroughUser (the client's token) and sends it to
// passthrough; the rest go to impersonating, which decides their plan.
func withPassthroughBranch(impersonating, passthrough http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		pu, ok := u.(*passthroughUser)
		if !ok {
			impersonating.ServeHTTP(w, r)
			return
		}
		p, err := passthroughPlan(pu.token)
		if err == nil {
			r, err = withPlan(r, p)
		}
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: "+err.Error())
			return
		}
		passthrough.ServeHTTP(w, r)
	})
}
