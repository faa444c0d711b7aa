package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

const saToken = "service-account-token-abcdef"

func TestDisableImpersonationForwardsTheUsersToken(t *testing.T) {
	tests := []struct {
		name         string
		header       http.Header
		upstreamCode int
		wantCode     int
		// wantImpersonate are the Impersonate-* headers the API server gets
		wantImpersonate http.Header
	}{
		{name: "token forwarded unchanged, no impersonation", wantCode: 200, wantImpersonate: http.Header{}},
		{name: "client --as is left to the API server", header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"g"}},
			wantCode: 200, wantImpersonate: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"g"}}},
		{name: "X-Remote-* is still stripped", header: http.Header{"X-Remote-User": {"admin"}}, wantCode: 200, wantImpersonate: http.Header{}},
		{name: "the API server's 401 for the user's token is passed on", upstreamCode: 401, wantCode: 401, wantImpersonate: http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{upstreamCode: tt.upstreamCode}
			up := newUpstream(t, api.handler)
			o := NewModeOptions()
			o.DisableImpersonation = true
			p := newModesProxy(t, up, newFakeAuth(), o)
			hdr := bearer(aliceToken)
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/pods", hdr)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", res.StatusCode, tt.wantCode, body)
			}
			f := forwarded(up)
			if len(f) != 1 {
				t.Fatalf("forwarded %d requests", len(f))
			}
			h := f[0].Header
			if got := h.Values("Authorization"); !slices.Equal(got, []string{"Bearer " + aliceToken}) {
				t.Errorf("Authorization %q, want the user's own token only", got)
			}
			got := http.Header{}
			for k, v := range h {
				if hasPrefixFold(k, "Impersonate-") {
					got[k] = v
				}
				if hasPrefixFold(k, "X-Remote-") {
					t.Errorf("%s reached the API server", k)
				}
			}
			if len(got) != len(tt.wantImpersonate) {
				t.Errorf("Impersonate headers %v, want %v", got, tt.wantImpersonate)
			}
			for k, v := range tt.wantImpersonate {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if sars, trs := api.reviews(); len(sars)+len(trs) != 0 {
				t.Errorf("reviews made: %v %v", sars, trs)
			}
		})
	}
}

func TestTokenPassthrough(t *testing.T) {
	saUser := authenticationv1.UserInfo{Username: "system:serviceaccount:argocd:server", UID: "sa-1",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"}}
	tests := []struct {
		name      string
		token     string
		audiences []string // --token-passthrough-audiences
		reported  []string // audiences in the TokenReview status
		wantCode  int
		// wantReviews is the number of TokenReviews after two identical requests.
		wantReviews int
		wantToken   bool // forwarded with the token, without the proxy's credential
	}{
		{name: "accepted service-account token is forwarded unchanged, review cached", token: saToken,
			wantCode: 200, wantReviews: 1, wantToken: true},
		{name: "audiences are asked for and must be reported", token: saToken, audiences: []string{"argo"}, reported: []string{"argo"},
			wantCode: 200, wantReviews: 1, wantToken: true},
		{name: "a token for another audience is refused", token: saToken, audiences: []string{"argo"}, reported: []string{"https://kubernetes.default.svc"},
			wantCode: 401, wantReviews: 1},
		{name: "a token the API server refuses is 401, refusal cached briefly", token: "unknown-token-123456",
			wantCode: 401, wantReviews: 1},
		{name: "an OIDC token is never sent for review", token: aliceToken, wantCode: 200, wantReviews: 0},
		{name: "a refused OIDC identity (403) is not sent for review", token: "forbidden-token-123456", wantCode: 403, wantReviews: 0},
		{name: "a token of an issuer not discovered yet (401) is not sent for review", token: "pending-token-123456", wantCode: 401, wantReviews: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{tokens: map[string]authenticationv1.UserInfo{saToken: saUser}, tokenAuds: tt.reported}
			up := newUpstream(t, api.handler)
			auth := newFakeAuth()
			auth.errs["forbidden-token-123456"] = &authn.ForbiddenIdentityError{Reason: "system: group"}
			auth.errs["pending-token-123456"] = &authn.IssuerNotReadyError{Issuer: "https://pending.example"}
			o := NewModeOptions()
			o.TokenPassthrough = true
			o.TokenPassthroughAudiences = tt.audiences
			p := newModesProxy(t, up, auth, o)
			for range 2 {
				res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/argocd/pods", bearer(tt.token))
				if res.StatusCode != tt.wantCode {
					t.Fatalf("code %d, want %d: %s", res.StatusCode, tt.wantCode, body)
				}
				if tt.wantCode != 200 {
					decodeStatus(t, res, body, tt.wantCode)
				}
			}
			_, trs := api.reviews()
			if len(trs) != tt.wantReviews {
				t.Errorf("%d TokenReviews for two identical requests, want %d", len(trs), tt.wantReviews)
			}
			for _, tr := range trs {
				if tr.Token != tt.token || !slices.Equal(tr.Audiences, tt.audiences) {
					t.Errorf("TokenReview spec %+v", tr)
				}
			}
			f := forwarded(up)
			if tt.wantCode != 200 {
				if len(f) != 0 {
					t.Fatalf("forwarded %d requests", len(f))
				}
				return
			}
			if len(f) != 2 {
				t.Fatalf("forwarded %d requests, want 2", len(f))
			}
			h := f[0].Header
			if tt.wantToken {
				if got := h.Values("Authorization"); !slices.Equal(got, []string{"Bearer " + tt.token}) {
					t.Errorf("Authorization %q, want the client's token", got)
				}
				if h.Get("Impersonate-User") != "" {
					t.Errorf("passthrough request impersonates %q", h.Get("Impersonate-User"))
				}
			} else if h.Get("Authorization") != "Bearer "+proxyCredential || h.Get("Impersonate-User") != alice.Name {
				t.Errorf("OIDC request not impersonated: %v", h)
			}
		})
	}
}

func TestReviewClientIsNotRateLimited(t *testing.T) {
	up := newUpstream(t, nil)
	c := reviewClientConfig(up.RESTConfig(proxyCredential))
	if c.QPS >= 0 || c.RateLimiter != nil {
		t.Errorf("review client QPS %v, RateLimiter %v: client-go would throttle reviews", c.QPS, c.RateLimiter)
	}
	if orig := up.RESTConfig(proxyCredential); orig.QPS != 0 {
		t.Errorf("the proxy's own config was changed")
	}
}

// issuerAuth is fakeAuth that recognises JWTs of its issuers, as authn does.
type issuerAuth struct {
	*fakeAuth
	issuers []string
}

func (a issuerAuth) ClaimsIssuer(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Iss string }
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		return false
	}
	return slices.Contains(a.issuers, claims.Iss)
}

// unsignedJWT is a JWT-shaped token with the given iss claim.
func unsignedJWT(iss, sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"iss":"`+iss+`","sub":"`+sub+`"}`)) + "." + enc([]byte("signature-bytes"))
}

func TestTokenPassthroughNeverReviewsTokensOfTheOIDCIssuers(t *testing.T) {
	tests := []struct {
		name        string
		token       string
		wantReviews int
	}{
		{"expired or forged token of a configured issuer: refused by OIDC alone", unsignedJWT("https://issuer.example", "eve"), 0},
		{"JWT of another issuer (a service-account token): reviewed", unsignedJWT("https://kubernetes.default.svc", "sa"), 1},
		{"not a JWT: reviewed", "opaque-token-123456", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{}
			up := newUpstream(t, api.handler)
			o := NewModeOptions()
			o.TokenPassthrough = true
			p := newModesProxy(t, up, issuerAuth{fakeAuth: newFakeAuth(), issuers: []string{"https://issuer.example"}}, o)
			res, body := p.do(t, http.MethodGet, "/api/v1/pods", bearer(tt.token))
			decodeStatus(t, res, body, http.StatusUnauthorized)
			if _, trs := api.reviews(); len(trs) != tt.wantReviews {
				t.Errorf("%d TokenReviews, want %d", len(trs), tt.wantReviews)
			}
		})
	}
}

func TestTokenReviewsOfUnknownTokensAreRateLimited(t *testing.T) {
	saUser := authenticationv1.UserInfo{Username: "system:serviceaccount:argocd:server", UID: "sa-1"}
	api := &fakeKubeAPI{tokens: map[string]authenticationv1.UserInfo{saToken: saUser}}
	up := newUpstream(t, api.handler)
	o := NewModeOptions()
	if err := pflagSet(o).Parse([]string{"--token-passthrough", "--token-passthrough-review-qps=0.01", "--token-passthrough-review-burst=2"}); err != nil {
		t.Fatal(err)
	}
	p := newModesProxy(t, up, newFakeAuth(), o)
	steps := []struct {
		token    string
		wantCode int
	}{
		{saToken, 200},                // reviewed (1 of the burst of 2), cached
		{"garbage-token-000001", 401}, // reviewed (2 of 2)
		{"garbage-token-000002", 429}, // over the limit: not reviewed
		{"garbage-token-000003", 429}, // nor this one
		{saToken, 200},                // the cached decision still serves
		{aliceToken, 200},             // OIDC tokens never need a review
		{"garbage-token-000002", 429}, // still over the limit (and the refusal cached)
	}
	for i, s := range steps {
		res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/argocd/pods", bearer(s.token))
		if res.StatusCode != s.wantCode {
			t.Fatalf("step %d: code %d, want %d: %s", i, res.StatusCode, s.wantCode, body)
		}
		if s.wantCode == http.StatusTooManyRequests {
			st := decodeStatus(t, res, body, http.StatusTooManyRequests)
			if st.Reason != metav1.StatusReasonTooManyRequests {
				t.Errorf("step %d: reason %q", i, st.Reason)
			}
			if ra := res.Header.Get("Retry-After"); ra != "100" {
				t.Errorf("step %d: Retry-After %q, want 100 (one review per 100 s)", i, ra)
			}
		}
	}
	if _, trs := api.reviews(); len(trs) != 2 {
		t.Errorf("%d TokenReviews, want 2", len(trs))
	}
	mfs, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "oidc_proxy_token_reviews_throttled_total" {
			got = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 3 {
		t.Errorf("oidc_proxy_token_reviews_throttled_total %v, want 3", got)
	}
}

// The passthrough decision travels with the authenticated user; printing
// that user in any form never shows the client's token.
func TestPassthroughUserDoesNotPrintTheToken(t *testing.T) {
	const token = "client-own-token-0123456789"
	resp := passthroughResponse(&authenticator.Response{User: alice}, token)
	u, ok := resp.User.(*passthroughUser)
	if !ok || u.GetName() != alice.Name || u.token != token {
		t.Fatalf("passthroughResponse = %#v", resp.User)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, resp.User); strings.Contains(got, token) {
			t.Errorf("%s of the user shows the token: %s", format, got)
		}
	}
}
