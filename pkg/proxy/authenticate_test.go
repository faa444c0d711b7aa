package proxy

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/websocket"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

// tokenCapture records the token kube-apiserver's request authenticators
// extract and refuses it.
type tokenCapture struct{ tokens []string }

func (c *tokenCapture) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	c.tokens = append(c.tokens, token)
	return nil, false, nil
}

// FuzzTokenCandidates holds tokenCandidates against k8s.io/apiserver's
// bearer-token and WebSocket-protocol request authenticators (the ones
// WithAuthentication uses): whatever token they extract from the
// Authorization and Sec-WebSocket-Protocol headers, redact removes it (and
// each of its JWT segments of 8 bytes or more) from a message with the
// candidates, so no authentication failure can log it.
func FuzzTokenCandidates(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add("Bearer eyJhbGciOi.eyJpc3MiOiJodHRw.c2lnbmF0dXJl", "")
	f.Add("bearer   padded-token-123456  ", "")
	f.Add("Basic dXNlcjpwYXNzd29yZA==", "")
	f.Add("", "base64url.bearer.authorization.k8s.io."+enc([]byte("ws-token-0123456789"))+", channel.k8s.io")
	f.Add("", "channel.k8s.io,base64url.bearer.authorization.k8s.io."+enc([]byte("a.bbbbbbbbbb.c")))
	f.Add("Bearer x", "base64url.bearer.authorization.k8s.io.!!notbase64!!")
	f.Add("Bearer\ttab-separated-token", " base64url.bearer.authorization.k8s.io. ")
	f.Fuzz(func(t *testing.T, authorization, protocols string) {
		r, _ := http.NewRequest(http.MethodGet, "/api", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if protocols != "" {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Protocol", protocols)
		}
		candidates := tokenCandidates(r)
		capture := &tokenCapture{}
		_, _, _ = bearertoken.New(capture).AuthenticateRequest(r.Clone(context.Background()))
		_, _, _ = websocket.NewProtocolAuthenticator(capture).AuthenticateRequest(r.Clone(context.Background()))
		for _, tok := range capture.tokens {
			secrets := []string{tok}
			for _, seg := range strings.Split(tok, ".") {
				if len(seg) >= 8 {
					secrets = append(secrets, seg)
				}
			}
			msg := redact("invalid bearer token "+tok+": ["+tok+"]", candidates)
			for _, s := range secrets {
				if len(s) >= 8 && strings.Contains(msg, s) {
					t.Fatalf("token %q extracted by k8s.io/apiserver survives redaction: %q (candidates %q)", tok, msg, candidates)
				}
			}
		}
	})
}

// anonAuth is fakeAuth with kube-apiserver's anonymous authenticator for
// the conditions' paths.
type anonAuth struct {
	*fakeAuth
	anon authenticator.Request
}

func (a *anonAuth) Anonymous() authenticator.Request { return a.anon }

func newAnonAuth(paths ...string) *anonAuth {
	var conds []apiserver.AnonymousAuthCondition
	for _, p := range paths {
		conds = append(conds, apiserver.AnonymousAuthCondition{Path: p})
	}
	return &anonAuth{fakeAuth: newFakeAuth(), anon: anonymous.NewAuthenticator(conds)}
}

// Requests without a token on the anonymous paths are forwarded as
// system:anonymous in system:unauthenticated with the proxy's credential;
// every other request without a token, and every request with a bad
// token (anonymous path or not, as kube-apiserver's union of its token
// authenticators and the anonymous one fails on error), is a 401 that
// reaches nothing.
func TestAnonymousPaths(t *testing.T) {
	const jwks, wellKnown = "/openid/v1/jwks", "/.well-known/openid-configuration"
	tests := []struct {
		name      string
		auth      authn.Authenticator
		path      string
		hdr       http.Header
		wantCode  int
		wantUser  string
		wantGroup []string
	}{
		{"discovery document", newAnonAuth(wellKnown, jwks), wellKnown, nil, 200, "system:anonymous", []string{"system:unauthenticated"}},
		{"JWKS", newAnonAuth(wellKnown, jwks), jwks, nil, 200, "system:anonymous", []string{"system:unauthenticated"}},
		{"unlisted path", newAnonAuth(wellKnown, jwks), "/api", nil, 401, "", nil},
		{"listed path with a suffix", newAnonAuth(wellKnown, jwks), jwks + "/x", nil, 401, "", nil},
		{"bad token on a listed path", newAnonAuth(wellKnown, jwks), jwks, bearer("bad-token-0123456789"), 401, "", nil},
		{"empty bearer on a listed path", newAnonAuth(wellKnown, jwks), jwks, http.Header{"Authorization": {"Bearer "}}, 200, "system:anonymous", []string{"system:unauthenticated"}},
		{"good token on a listed path", newAnonAuth(wellKnown, jwks), jwks, bearer(aliceToken), 200, "alice@example.com", []string{"dev", "ops", "system:authenticated"}},
		{"no anonymous section", newFakeAuth(), jwks, nil, 401, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			p := newTestProxy(t, up, tt.auth)
			res, body := p.do(t, http.MethodGet, tt.path, tt.hdr)
			reqs := up.Requests()
			if tt.wantCode != http.StatusOK {
				decodeStatus(t, res, body, tt.wantCode)
				if len(reqs) != 0 {
					t.Fatalf("refused request reached the API server: %+v", reqs)
				}
				return
			}
			if res.StatusCode != http.StatusOK || len(reqs) != 1 {
				t.Fatalf("status %d, %d upstream requests; body %s", res.StatusCode, len(reqs), body)
			}
			h := reqs[0].Header
			if got := h.Get("Impersonate-User"); got != tt.wantUser {
				t.Fatalf("Impersonate-User %q, want %q", got, tt.wantUser)
			}
			if got := h.Values("Impersonate-Group"); !slices.Equal(got, tt.wantGroup) {
				t.Fatalf("Impersonate-Group %q, want %q", got, tt.wantGroup)
			}
			if got := h.Get("Authorization"); got != "Bearer "+proxyCredential {
				t.Fatalf("Authorization %q, want the proxy's credential", got)
			}
			if !strings.Contains(p.logs.String(), `"user":"`+tt.wantUser+`"`) {
				t.Fatalf("access log does not name %s: %s", tt.wantUser, p.logs.String())
			}
		})
	}
}

// PendingAuthenticator has no anonymous authenticator until Set, then the
// real one's.
func TestPendingAuthenticatorAnonymous(t *testing.T) {
	p := NewPendingAuthenticator()
	if p.Anonymous() != nil {
		t.Fatal("anonymous authenticator before Set")
	}
	a := newAnonAuth("/openid/v1/jwks")
	p.Set(a)
	if p.Anonymous() != a.anon {
		t.Fatal("Anonymous after Set is not the real authenticator's")
	}
	p2 := NewPendingAuthenticator()
	p2.Set(newFakeAuth())
	if p2.Anonymous() != nil {
		t.Fatal("anonymous authenticator from an authenticator without one")
	}
}
