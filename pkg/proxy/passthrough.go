package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// passthroughAuthenticator decides which requests are forwarded with the
// client's own token instead of impersonation: every request with
// --disable-impersonation, and with --token-passthrough those whose token
// the OIDC authenticator refuses but the API server accepts (TokenReview).
type passthroughAuthenticator struct {
	oidc Authenticator
	// disable marks every authenticated request as passthrough.
	disable bool
	// review checks non-OIDC tokens (nil: no token passthrough).
	review    authenticator.Token
	audiences authenticator.Audiences
	forbidden ForbiddenFunc
	notReady  NotReadyFunc
}

func (p *passthroughAuthenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	resp, ok, err := p.oidc.AuthenticateToken(ctx, token)
	if ok {
		if p.disable {
			markPassthrough(ctx, token)
		}
		return resp, ok, err
	}
	// A token the OIDC authenticator recognised but cannot judge yet, or
	// whose identity it refuses, is not given to the API server.
	if p.review == nil || token == "" || errors.Is(err, ErrNotReady) ||
		(err != nil && p.notReady != nil && p.notReady(err)) {
		return resp, ok, err
	}
	if _, isForbidden := forbiddenReason(p.forbidden, err); isForbidden {
		return resp, ok, err
	}
	rctx := ctx
	if len(p.audiences) > 0 {
		rctx = authenticator.WithAudiences(ctx, p.audiences)
	}
	rresp, rok, rerr := p.review.AuthenticateToken(rctx, token)
	if rok && rresp != nil && rresp.User != nil && rresp.User.GetName() != "" {
		markPassthrough(ctx, token)
		return rresp, true, nil
	}
	switch {
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

func markPassthrough(ctx context.Context, token string) {
	if rec := recordFrom(ctx); rec != nil {
		rec.modes.passthrough = true
		rec.modes.token = token
	}
}

// withPassthroughBranch sends passthrough requests to passthrough and the
// rest to impersonating.
func withPassthroughBranch(impersonating, passthrough http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec := recordFrom(r.Context()); rec != nil && rec.modes.passthrough {
			passthrough.ServeHTTP(w, r)
			return
		}
		impersonating.ServeHTTP(w, r)
	})
}

// withTokenRestored prepares a passthrough request: X-Remote-*, any other
// Authorization, the WebSocket bearer protocol and Connection options
// naming identity headers are removed, then the client's token is set as
// "Authorization: Bearer". The client's Impersonate-* headers stay: the API
// server authorises them itself, for the user of that token.
func withTokenRestored(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, rec := withRecord(w, r)
		if rec.modes.token == "" {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error in oidc-proxy: no token to pass through")
			return
		}
		impersonate := map[string][]string{}
		for k, v := range r.Header {
			if hasPrefixFold(k, impersonatePrefix) {
				impersonate[k] = v
			}
		}
		stripIdentity(r.Header)
		for k, v := range impersonate {
			r.Header[k] = v
		}
		r.Header.Set("Authorization", "Bearer "+rec.modes.token)
		next.ServeHTTP(w, r)
	})
}

// passthroughTransport sends passthrough requests over the API server
// transport without the proxy's credentials, after checking them, and the
// others to impersonating.
type passthroughTransport struct {
	impersonating, passthrough http.RoundTripper
}

func (t passthroughTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := recordFrom(req.Context())
	if rec == nil || !rec.modes.passthrough {
		return t.impersonating.RoundTrip(req)
	}
	if err := checkPassthroughOutbound(req, rec); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.passthrough.RoundTrip(req)
}

// checkPassthroughOutbound: the request leaves with exactly the client's
// token and nothing the proxy would have added.
func checkPassthroughOutbound(req *http.Request, rec *record) error {
	if got := req.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+rec.modes.token {
		return fmt.Errorf("%w: passthrough request without the client's token", errIdentityAssertion)
	}
	for k, v := range req.Header {
		switch {
		case hasPrefixFold(k, remotePrefix):
			return fmt.Errorf("%w: client header %s still present", errIdentityAssertion, k)
		case strings.EqualFold(k, "Sec-WebSocket-Protocol"):
			for _, p := range v {
				if strings.Contains(p, bearerProtocolPrefix) {
					return fmt.Errorf("%w: WebSocket bearer protocol still present", errIdentityAssertion)
				}
			}
		}
	}
	return nil
}
