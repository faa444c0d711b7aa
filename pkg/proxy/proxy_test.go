package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/transport"
)

func TestForwardsAsImpersonatedUserWithProxyCredential(t *testing.T) {
	tests := []struct {
		name       string
		user       *user.DefaultInfo
		wantGroups []string
		wantUID    string
		// wantExtra maps each extra key (as kube-apiserver decodes it) to values.
		wantExtra map[string][]string
	}{
		{
			name:       "name only gets system:authenticated",
			user:       &user.DefaultInfo{Name: "bob"},
			wantGroups: []string{"system:authenticated"},
		},
		{
			name:       "groups in order plus system:authenticated once",
			user:       &user.DefaultInfo{Name: "carol", Groups: []string{"dev", "system:authenticated", "ops"}},
			wantGroups: []string{"dev", "system:authenticated", "ops"},
		},
		{
			name:       "uid",
			user:       &user.DefaultInfo{Name: "dave", UID: "1234-abcd"},
			wantGroups: []string{"system:authenticated"},
			wantUID:    "1234-abcd",
		},
		{
			name: "extra keys are percent-encoded",
			user: &user.DefaultInfo{Name: "erin", Extra: map[string][]string{
				"example.com/team": {"a", "b"},
				"scopes":           {"openid"},
				"key with spaces%": {"x"},
			}},
			wantGroups: []string{"system:authenticated"},
			wantExtra: map[string][]string{
				"example.com/team": {"a", "b"},
				"scopes":           {"openid"},
				"key with spaces%": {"x"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			auth := newFakeAuth()
			auth.users["tok-"+tt.user.Name+"-123456"] = tt.user
			p := newTestProxy(t, up, auth)
			res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", bearer("tok-"+tt.user.Name+"-123456"))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("code %d: %s", res.StatusCode, body)
			}
			reqs := up.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.ProtoMajor != 1 {
				t.Errorf("upstream protocol HTTP/%d, want HTTP/1.1 for a list", got.ProtoMajor)
			}
			if got.Path != "/api/v1/namespaces/default/pods" {
				t.Errorf("path %q", got.Path)
			}
			if a := got.Header.Get("Authorization"); a != "Bearer "+proxyCredential {
				t.Errorf("Authorization %q, want the proxy's own credential", a)
			}
			if u := got.Header.Values("Impersonate-User"); !slices.Equal(u, []string{tt.user.Name}) {
				t.Errorf("Impersonate-User %q", u)
			}
			if g := got.Header.Values("Impersonate-Group"); !slices.Equal(g, tt.wantGroups) {
				t.Errorf("Impersonate-Group %q, want %q", g, tt.wantGroups)
			}
			if uid := got.Header.Values("Impersonate-Uid"); (tt.wantUID == "" && len(uid) != 0) || (tt.wantUID != "" && !slices.Equal(uid, []string{tt.wantUID})) {
				t.Errorf("Impersonate-Uid %q, want %q", uid, tt.wantUID)
			}
			// Decode extras the way kube-apiserver's impersonation filter does.
			gotExtra := map[string][]string{}
			for k, v := range got.Header {
				if suffix, ok := strings.CutPrefix(k, "Impersonate-Extra-"); ok {
					key, err := url.PathUnescape(strings.ToLower(suffix))
					if err != nil {
						t.Fatalf("extra header %q does not decode: %v", k, err)
					}
					gotExtra[key] = v
				}
			}
			for k, v := range tt.wantExtra {
				if g := gotExtra[strings.ToLower(k)]; !slices.Equal(g, v) {
					t.Errorf("extra %q = %q, want %q (all: %v)", k, g, v, gotExtra)
				}
			}
			if len(gotExtra) != len(tt.wantExtra) {
				t.Errorf("extras %v, want %v", gotExtra, tt.wantExtra)
			}
		})
	}
}

func TestImpersonationHeadersMatchClientGo(t *testing.T) {
	tests := []struct {
		name       string
		u          *user.DefaultInfo
		wantGroups []string
	}{
		{"name only", &user.DefaultInfo{Name: "x"}, []string{"system:authenticated"}},
		{"uid, groups, extras", &user.DefaultInfo{Name: "x", UID: "u", Groups: []string{"g"},
			Extra: map[string][]string{"a/b c": {"1", "2"}, "example.org/Team%": {"t"}, "plain": {"p"}}}, []string{"g", "system:authenticated"}},
		{"system:authenticated already present", &user.DefaultInfo{Name: "x", Groups: []string{"system:authenticated", "g"}}, []string{"system:authenticated", "g"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ImpersonationHeaders(tt.u)
			var want http.Header
			rt := transport.NewImpersonatingRoundTripper(transport.ImpersonationConfig{
				UserName: tt.u.Name, UID: tt.u.UID, Groups: tt.wantGroups, Extra: tt.u.Extra,
			}, roundTripperFunc(func(r *http.Request) (*http.Response, error) { want = r.Header; return nil, nil }))
			_, _ = rt.RoundTrip(&http.Request{Header: http.Header{}}) // capture returns no response: no body to close
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for k, v := range want {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestClientIdentityHeadersNeverReachUpstream(t *testing.T) {
	tests := []struct {
		name      string
		header    http.Header
		wantCode  int
		forwarded bool
	}{
		{"Impersonate-User is refused", http.Header{"Impersonate-User": {"admin"}}, http.StatusForbidden, false},
		{"Impersonate-Group is refused", http.Header{"Impersonate-Group": {"system:masters"}}, http.StatusForbidden, false},
		{"Impersonate-Uid is refused", http.Header{"Impersonate-Uid": {"0"}}, http.StatusForbidden, false},
		{"Impersonate-Extra is refused", http.Header{"Impersonate-Extra-Scopes": {"all"}}, http.StatusForbidden, false},
		{"lower-case impersonate header is refused", http.Header{"impersonate-user": {"admin"}}, http.StatusForbidden, false},
		{"X-Remote-User is stripped", http.Header{"X-Remote-User": {"admin"}}, http.StatusOK, true},
		{"X-Remote-Group is stripped", http.Header{"X-Remote-Group": {"system:masters"}}, http.StatusOK, true},
		{"X-Remote-Extra is stripped", http.Header{"X-Remote-Extra-Scopes": {"all"}}, http.StatusOK, true},
		{"Connection naming Impersonate-User cannot drop ours", http.Header{"Connection": {"Impersonate-User, Impersonate-Group"}}, http.StatusOK, true},
		{"X-Forwarded-For is replaced by the peer", http.Header{"X-Forwarded-For": {"6.6.6.6"}}, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			p := newTestProxy(t, up, newFakeAuth())
			hdr := bearer(aliceToken)
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/pods", hdr)
			if tt.wantCode != http.StatusOK {
				decodeStatus(t, res, body, tt.wantCode)
			} else if res.StatusCode != http.StatusOK {
				t.Fatalf("code %d: %s", res.StatusCode, body)
			}
			reqs := up.Requests()
			if !tt.forwarded {
				if len(reqs) != 0 {
					t.Fatalf("request was forwarded: %v", reqs[0].Header)
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests", len(reqs))
			}
			h := reqs[0].Header
			for k := range h {
				if hasPrefixFold(k, "X-Remote-") {
					t.Errorf("client header %s reached the API server", k)
				}
			}
			if !slices.Equal(h.Values("Impersonate-User"), []string{alice.Name}) {
				t.Errorf("Impersonate-User %q", h.Values("Impersonate-User"))
			}
			if !slices.Equal(h.Values("Impersonate-Group"), []string{"dev", "ops", "system:authenticated"}) {
				t.Errorf("Impersonate-Group %q", h.Values("Impersonate-Group"))
			}
			if h.Get("Authorization") != "Bearer "+proxyCredential {
				t.Errorf("Authorization %q", h.Get("Authorization"))
			}
			if xff := h.Get("X-Forwarded-For"); xff != "127.0.0.1" {
				t.Errorf("X-Forwarded-For %q, want the connection's peer 127.0.0.1", xff)
			}
		})
	}
}

func TestAuthenticationErrorsAreStatusObjects(t *testing.T) {
	tests := []struct {
		name        string
		header      http.Header
		auth        func(*fakeAuth) authn.Authenticator
		wantCode    int
		wantMessage string
		wantHeader  map[string]string
	}{
		{
			name: "no token", header: http.Header{}, wantCode: 401, wantMessage: "Unauthorized",
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="kubernetes"`},
		},
		{
			name: "basic auth is not a bearer token", header: http.Header{"Authorization": {"Basic YWxpY2U6cGFzcw=="}}, wantCode: 401,
			wantMessage: "Unauthorized",
		},
		{
			name: "rejected token", header: bearer("not-a-valid-token-at-all"), wantCode: 401, wantMessage: "Unauthorized",
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="kubernetes", error="invalid_token"`},
		},
		{
			name: "empty bearer", header: http.Header{"Authorization": {"Bearer "}}, wantCode: 401, wantMessage: "Unauthorized",
		},
		{
			name: "forbidden identity", header: bearer("system-token-1234567"), wantCode: 403,
			wantMessage: `username "system:admin" starts with system:`,
		},
		{
			name: "empty username is never forwarded", header: bearer("empty-name-token-123"), wantCode: 401, wantMessage: "Unauthorized",
		},
		{
			name: "token of an issuer not discovered yet", header: bearer("undiscovered-issuer-token"), wantCode: 401,
			wantMessage: "Unauthorized: the token's identity provider is not reachable yet, so the token cannot be verified",
			wantHeader:  map[string]string{"WWW-Authenticate": `Bearer realm="kubernetes"`, "Retry-After": ""},
		},
		{
			name: "authenticator not built yet", header: bearer(aliceToken), wantCode: 503,
			auth:        func(*fakeAuth) authn.Authenticator { return NewPendingAuthenticator() },
			wantMessage: "oidc-proxy is starting: the authenticator is not ready yet",
			wantHeader:  map[string]string{"Retry-After": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			fa := newFakeAuth()
			fa.errs["system-token-1234567"] = &authn.ForbiddenIdentityError{Reason: `username "system:admin" starts with system:`}
			fa.errs["undiscovered-issuer-token"] = fmt.Errorf("wrapped: %w", &authn.IssuerNotReadyError{Issuer: "x"})
			fa.users["empty-name-token-123"] = &user.DefaultInfo{Name: ""}
			var a authn.Authenticator = fa
			if tt.auth != nil {
				a = tt.auth(fa)
			}
			p := newTestProxy(t, up, a)
			res, body := p.do(t, http.MethodGet, "/api/v1/pods", tt.header)
			st := decodeStatus(t, res, body, tt.wantCode)
			if st.Message != tt.wantMessage {
				t.Errorf("message %q, want %q", st.Message, tt.wantMessage)
			}
			for k, v := range tt.wantHeader {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if n := len(up.Requests()); n != 0 {
				t.Errorf("%d requests forwarded, want none", n)
			}
			p.Close()
			for _, secret := range []string{aliceToken, "not-a-valid-token-at-all", "system-token-1234567"} {
				if strings.Contains(string(body), secret) || strings.Contains(p.logs.String(), secret) {
					t.Errorf("token %q leaked into the response or the log", secret)
				}
			}
		})
	}
}

func TestAuthenticatorErrorTextNeverLogsTheToken(t *testing.T) {
	up := newUpstream(t, nil)
	fa := newFakeAuth()
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLXNlZ21lbnQ"
	fa.errs[tok] = errors.New("oidc: verify " + tok + " and segment eyJzdWIiOiJtYWxsb3J5In0 failed")
	p := newTestProxy(t, up, fa)
	res, body := p.do(t, http.MethodGet, "/api", bearer(tok))
	decodeStatus(t, res, body, 401)
	p.Close()
	logs := p.logs.String()
	if strings.Contains(logs, "eyJzdWIiOiJtYWxsb3J5In0") || strings.Contains(logs, "c2lnbmF0dXJlLXNlZ21lbnQ") {
		t.Fatalf("token material in log: %s", logs)
	}
	if !strings.Contains(logs, "<redacted>") {
		t.Fatalf("the failure reason was not logged (redacted): %s", logs)
	}
}

func TestAccessLogLineAndMetrics(t *testing.T) {
	up := newUpstream(t, nil)
	p := newTestProxy(t, up, newFakeAuth())
	res, _ := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods?labelSelector=a", bearer(aliceToken))
	if res.StatusCode != 200 {
		t.Fatalf("code %d", res.StatusCode)
	}
	// A refused request is counted under its code too.
	p.do(t, http.MethodGet, "/api/v1/pods", nil)
	p.Close() // waits for the handlers, so their deferred log lines are written
	logs := p.logs.String()
	for _, want := range []string{`"msg":"request"`, `"user":"alice@example.com"`, `"groups":["dev","ops"]`, `"verb":"list"`, `"code":200`, `"peer":"127.0.0.1:`, `"path":"/api/v1/namespaces/default/pods"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s: %s", want, logs)
		}
	}
	if strings.Contains(logs, aliceToken) || strings.Contains(logs, proxyCredential) || strings.Contains(logs, "labelSelector") {
		t.Errorf("access log holds a token or the query: %s", logs)
	}
	if got := testutil.ToFloat64(p.metrics.requests.WithLabelValues("200", "list")); got != 1 {
		t.Errorf("requests{code=200,verb=list} = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(p.metrics.upstream); got != 1 {
		t.Errorf("upstream latency series = %d, want 1", got)
	}
	if got := testutil.ToFloat64(p.metrics.requests.WithLabelValues("401", "list")); got != 1 {
		t.Errorf("requests{code=401,verb=list} = %v, want 1", got)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Run("API server down is 502", func(t *testing.T) {
		up := newUpstream(t, nil)
		p := newTestProxy(t, up, newFakeAuth())
		up.Close()
		res, body := p.do(t, http.MethodGet, "/api/v1/pods", bearer(aliceToken))
		st := decodeStatus(t, res, body, http.StatusBadGateway)
		if st.Message != "oidc-proxy could not reach the Kubernetes API server" {
			t.Errorf("message %q", st.Message)
		}
	})
	t.Run("API server refusing the proxy's credential is 502 not 401", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"kind":"Status","code":401}`))
		})
		p := newTestProxy(t, up, newFakeAuth())
		res, body := p.do(t, http.MethodGet, "/api/v1/pods", bearer(aliceToken))
		decodeStatus(t, res, body, http.StatusBadGateway)
	})
	t.Run("API server answers pass through", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":403,"message":"pods is forbidden"}`))
		})
		p := newTestProxy(t, up, newFakeAuth())
		res, body := p.do(t, http.MethodGet, "/api/v1/pods", bearer(aliceToken))
		st := decodeStatus(t, res, body, http.StatusForbidden)
		if st.Message != "pods is forbidden" {
			t.Errorf("message %q", st.Message)
		}
	})
}

func TestOutboundIdentityAssertion(t *testing.T) {
	ours := ImpersonationHeaders(alice)
	decided := appendImpersonation(nil, alice)
	paddedUser := &user.DefaultInfo{Name: " system:masters"}
	padded := appendImpersonation(nil, paddedUser)
	upperKey := append(appendImpersonation(nil, alice), headerValues{"Impersonate-Extra-Scope%53", []string{"x"}})
	upperKeyHeader := ours.Clone()
	upperKeyHeader["Impersonate-Extra-Scope%53"] = []string{"x"}
	plan := &forwardPlan{user: alice, headers: decided}
	tests := []struct {
		name    string
		plan    *forwardPlan
		header  http.Header
		wantErr bool
	}{
		{"exactly our headers pass", plan, ours.Clone(), false},
		{"no plan fails closed", nil, ours.Clone(), true},
		{"an empty plan fails closed", &forwardPlan{}, http.Header{}, true},
		{"passthrough plan without passthrough fails closed", &forwardPlan{token: "t"}, http.Header{"Authorization": {"Bearer t"}}, true},
		{"missing Impersonate-User", plan, without(ours, "Impersonate-User"), true},
		{"extra client group", plan, with(ours, "Impersonate-Group", "system:masters"), true},
		{"client uid", plan, with(ours, "Impersonate-Uid", "0"), true},
		{"client Authorization", plan, with(ours, "Authorization", "Bearer x"), true},
		{"X-Remote-User", plan, with(ours, "X-Remote-User", "admin"), true},
		{"websocket bearer protocol", plan, with(ours, "Sec-Websocket-Protocol", "base64url.bearer.authorization.k8s.io.eA, v5.channel.k8s.io"), true},
		// Decided and sent alike, but not canonical: HTTP would alter them.
		{"padded user", &forwardPlan{user: paddedUser, headers: padded}, ImpersonationHeaders(paddedUser), true},
		{"extra key not in canonical form", &forwardPlan{user: alice, headers: upperKey}, upperKeyHeader, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "https://example/api", nil)
			if tt.plan != nil {
				req = req.WithContext(context.WithValue(req.Context(), planKey{}, tt.plan))
			}
			req.Header = tt.header
			sent := false
			rt := planTransport{impersonating: roundTripperFunc(func(*http.Request) (*http.Response, error) {
				sent = true
				return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
			})}
			res, err := rt.RoundTrip(req)
			if res != nil {
				res.Body.Close()
			}
			if tt.wantErr != (err != nil) || tt.wantErr == sent {
				t.Fatalf("err %v, sent %v; want error %v", err, sent, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errIdentityAssertion) {
				t.Fatalf("error %v is not errIdentityAssertion", err)
			}
		})
	}
}

func with(h http.Header, k, v string) http.Header {
	c := h.Clone()
	c.Add(k, v)
	return c
}

func without(h http.Header, k string) http.Header {
	c := h.Clone()
	c.Del(k)
	return c
}

// TestNonCanonicalIdentityIsNeverForwarded: whatever the authenticator
// returns, an identity value that HTTP/1.1 or HTTP/2 would alter in transit
// is refused with 403 naming the value, on plain requests and on upgrade
// requests (which go upstream over the HTTP/1.1 transport that trims
// padding), and nothing reaches the API server.
func TestNonCanonicalIdentityIsNeverForwarded(t *testing.T) {
	users := map[string]*user.DefaultInfo{
		"leading space":      {Name: " system:masters"},
		"leading tab":        {Name: "bob", Groups: []string{"\tsystem:nodes"}},
		"trailing space":     {Name: "admin "},
		"padded uid":         {Name: "bob", UID: " 0"},
		"NUL":                {Name: "bob\x00"},
		"invalid UTF-8":      {Name: "bob", Groups: []string{"\xffsystem:masters"}},
		"no-break space":     {Name: "bob", Groups: []string{"system:masters\u00a0"}},
		"upper-case key":     {Name: "bob", Extra: map[string][]string{"Scopes": {"x"}}},
		"padded extra value": {Name: "bob", Extra: map[string][]string{"scopes": {"x "}}},
	}
	auth := newFakeAuth()
	token := func(name string) string { return "tok-" + strings.ReplaceAll(name, " ", "-") }
	for name, u := range users {
		auth.users[token(name)] = u
	}
	up := newUpstream(t, nil)
	p := newTestProxy(t, up, auth)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"SPDY/3.1"}, "X-Stream-Protocol-Version": {"v4.channel.k8s.io"}}
	for name := range users {
		for _, kind := range []string{"plain", "upgrade"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				hdr := bearer(token(name))
				method, path := http.MethodGet, "/api/v1/namespaces/default/pods"
				if kind == "upgrade" {
					method, path = http.MethodPost, "/api/v1/namespaces/default/pods/p/exec?command=sh"
					for k, v := range upgrade {
						hdr[k] = v
					}
				}
				res, body := p.do(t, method, path, hdr)
				st := decodeStatus(t, res, body, http.StatusForbidden)
				if !strings.Contains(st.Message, "cannot be forwarded unchanged") {
					t.Errorf("message %q does not say why", st.Message)
				}
			})
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("%d requests reached the API server", n)
	}
}
