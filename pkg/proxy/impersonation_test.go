package proxy

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"
)

// allowExcept answers as RBAC with legacy impersonation granted: every
// "impersonate" review is allowed but those for the named values; the
// constrained impersonation verbs (impersonate:MODE, impersonate-on:...)
// are not granted, so the filter falls back to legacy impersonation.
func allowExcept(denied ...string) func(authorizationv1.SubjectAccessReviewSpec) (bool, string) {
	return func(s authorizationv1.SubjectAccessReviewSpec) (bool, string) {
		if s.ResourceAttributes.Verb != "impersonate" {
			return false, "RBAC: " + s.ResourceAttributes.Verb + " not granted"
		}
		if slices.Contains(denied, s.ResourceAttributes.Name) {
			return false, "RBAC: impersonation of " + s.ResourceAttributes.Name + " not granted"
		}
		return true, ""
	}
}

type review struct{ group, resource, subresource, namespace, name string }

// reviewsOf lists the legacy impersonation reviews ("impersonate") of specs.
func reviewsOf(specs []authorizationv1.SubjectAccessReviewSpec) []review {
	var out []review
	for _, s := range specs {
		ra := s.ResourceAttributes
		if ra.Verb != "impersonate" {
			continue
		}
		out = append(out, review{ra.Group, ra.Resource, ra.Subresource, ra.Namespace, ra.Name})
	}
	slices.SortFunc(out, func(a, b review) int {
		return strings.Compare(a.resource+a.subresource+a.name, b.resource+b.subresource+b.name)
	})
	return out
}

func TestEndUserImpersonation(t *testing.T) {
	aliceWithUID := &user.DefaultInfo{Name: "alice@example.com", UID: "a-1", Groups: []string{"dev", "ops"}, Extra: map[string][]string{"acr": {"mfa"}}}
	tests := []struct {
		name    string
		header  http.Header
		allow   func(authorizationv1.SubjectAccessReviewSpec) (bool, string)
		code    int
		message string // in the Status message when not 200
		reviews []review
		// forwarded identity (when 200)
		user       string
		groups     []string
		uid        string
		extraGiven map[string][]string // requested extras (originaluser.* checked separately)
	}{
		{
			name:    "--as a user",
			header:  http.Header{"Impersonate-User": {"bob"}},
			code:    200,
			reviews: []review{{"", "users", "", "", "bob"}},
			user:    "bob", groups: []string{"system:authenticated"},
		},
		{
			name:    "--as a service account gets its groups",
			header:  http.Header{"Impersonate-User": {"system:serviceaccount:ci:deployer"}},
			code:    200,
			reviews: []review{{"", "serviceaccounts", "", "ci", "deployer"}},
			user:    "system:serviceaccount:ci:deployer",
			groups:  []string{"system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"},
		},
		{
			name: "--as with groups, uid and extras: one review per distinct value",
			header: http.Header{
				"Impersonate-User":                 {"bob"},
				"Impersonate-Group":                {"g1", "g2", "g1"},
				"Impersonate-Uid":                  {"b-42"},
				"Impersonate-Extra-Scopes":         {"view", "edit"},
				"Impersonate-Extra-Acme.io%2fteam": {"red"},
			},
			code: 200,
			reviews: []review{
				{"", "groups", "", "", "g1"}, {"", "groups", "", "", "g2"},
				{"authentication.k8s.io", "uids", "", "", "b-42"},
				{"authentication.k8s.io", "userextras", "acme.io/team", "", "red"},
				{"authentication.k8s.io", "userextras", "scopes", "", "edit"},
				{"authentication.k8s.io", "userextras", "scopes", "", "view"},
				{"", "users", "", "", "bob"},
			},
			user: "bob", groups: []string{"g1", "g2", "g1", "system:authenticated"}, uid: "b-42",
			extraGiven: map[string][]string{"scopes": {"view", "edit"}, "acme.io/team": {"red"}},
		},
		{
			name:   "system:unauthenticated given: no system:authenticated added",
			header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"system:unauthenticated"}},
			code:   200, user: "bob", groups: []string{"system:unauthenticated"},
			reviews: []review{{"", "groups", "", "", "system:unauthenticated"}, {"", "users", "", "", "bob"}},
		},
		{
			name:   "denied group: 403 with the reason, nothing forwarded",
			header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"system:masters"}},
			allow:  allowExcept("system:masters"),
			code:   403,
			// kube-apiserver reports the first mode's refusal: constrained
			// impersonation, tried before the legacy verb.
			message: `pods is forbidden: User "alice@example.com" cannot impersonate-on:user-info:list resource "pods" in API group "" in the namespace "default"`,
			reviews: []review{{"", "groups", "", "", "system:masters"}, {"", "users", "", "", "bob"}},
		},
		{
			name:    "denied service account names its namespace",
			header:  http.Header{"Impersonate-User": {"system:serviceaccount:kube-system:admin"}},
			allow:   allowExcept("admin"),
			code:    403,
			message: `cannot impersonate-on:serviceaccount:list resource "pods" in API group "" in the namespace "default"`,
			reviews: []review{{"", "serviceaccounts", "", "kube-system", "admin"}},
		},
		{
			name:    "groups without a user: 400, no review",
			header:  http.Header{"Impersonate-Group": {"g1"}},
			code:    400,
			message: "requested groups without impersonating a user",
		},
		{
			name:    "uid without a user: 400",
			header:  http.Header{"Impersonate-Uid": {"0"}},
			code:    400,
			message: "requested a uid without impersonating a user",
		},
		{
			name:    "two users: 400",
			header:  http.Header{"Impersonate-User": {"bob", "carol"}},
			code:    400,
			message: "2 Impersonate-User headers",
		},
		{
			name:    "the real-user extras cannot be impersonated",
			header:  http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-Originaluser.jetstack.io-User": {"admin"}},
			code:    403,
			message: `the extra "originaluser.jetstack.io-user" is set by oidc-proxy`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{allow: tt.allow}
			if api.allow == nil {
				api.allow = allowExcept()
			}
			up := newUpstream(t, api.handler)
			auth := newFakeAuth()
			auth.users[aliceToken] = aliceWithUID
			p := newModesProxy(t, up, auth, NewModeOptions())
			hdr := bearer(aliceToken)
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
			sars, _ := api.reviews()
			if got := reviewsOf(sars); !slices.Equal(got, tt.reviews) {
				t.Errorf("reviews %v, want %v", got, tt.reviews)
			}
			for _, s := range sars {
				if s.User != "alice@example.com" || !slices.Equal(s.Groups, []string{"dev", "ops", "system:authenticated"}) || s.UID != "a-1" ||
					!slices.Equal(s.Extra["acr"], authorizationv1.ExtraValue{"mfa"}) {
					t.Errorf("review not for the authenticated user: %+v", s)
				}
			}
			if tt.code != 200 {
				st := decodeStatus(t, res, body, tt.code)
				if !strings.Contains(st.Message, tt.message) {
					t.Errorf("message %q, want it to contain %q", st.Message, tt.message)
				}
				if f := forwarded(up); len(f) != 0 {
					t.Errorf("request was forwarded: %v", f[0].Header)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("code %d: %s", res.StatusCode, body)
			}
			f := forwarded(up)
			if len(f) != 1 {
				t.Fatalf("forwarded %d requests", len(f))
			}
			h := f[0].Header
			if h.Get("Authorization") != "Bearer "+proxyCredential {
				t.Errorf("Authorization %q, want the proxy's credential", h.Get("Authorization"))
			}
			if got := h.Values("Impersonate-User"); !slices.Equal(got, []string{tt.user}) {
				t.Errorf("Impersonate-User %q, want %q", got, tt.user)
			}
			if got := h.Values("Impersonate-Group"); !slices.Equal(got, tt.groups) {
				t.Errorf("Impersonate-Group %q, want %q", got, tt.groups)
			}
			if got := h.Get("Impersonate-Uid"); got != tt.uid {
				t.Errorf("Impersonate-Uid %q, want %q", got, tt.uid)
			}
			extra := extrasOf(t, h)
			want := map[string][]string{
				"originaluser.jetstack.io-user":   {"alice@example.com"},
				"originaluser.jetstack.io-groups": {"dev", "ops"},
				"originaluser.jetstack.io-uid":    {"a-1"},
				"originaluser.jetstack.io-extra":  {`{"acr":["mfa"]}`},
			}
			for k, v := range tt.extraGiven {
				want[k] = v
			}
			if len(extra) != len(want) {
				t.Errorf("extras %v, want %v", extra, want)
			}
			for k, v := range want {
				if !slices.Equal(extra[k], v) {
					t.Errorf("extra %q = %q, want %q", k, extra[k], v)
				}
			}
		})
	}
}

func TestImpersonationDecisionsAreCached(t *testing.T) {
	api := &fakeKubeAPI{allow: allowExcept("root")}
	up := newUpstream(t, api.handler)
	p := newModesProxy(t, up, newFakeAuth(), NewModeOptions())
	asked := 0
	for round := range 3 {
		hdr := bearer(aliceToken)
		hdr.Set("Impersonate-User", "bob")
		if res, body := p.do(t, http.MethodGet, "/api/v1/pods", hdr); res.StatusCode != 200 {
			t.Fatalf("allowed: %d %s", res.StatusCode, body)
		}
		hdr.Set("Impersonate-User", "root")
		res, body := p.do(t, http.MethodGet, "/api/v1/pods", hdr)
		decodeStatus(t, res, body, 403)
		sars, _ := api.reviews()
		if round == 0 {
			asked = len(sars)
			if got := reviewsOf(sars); len(got) != 2 {
				t.Errorf("legacy reviews %v, want one for bob and one for root", got)
			}
		} else if len(sars) != asked {
			t.Errorf("round %d: %d reviews, %d after the first round (decisions not cached)", round, len(sars), asked)
		}
	}
}

func TestImpersonationReviewFailures(t *testing.T) {
	tests := []struct {
		name string
		api  *fakeKubeAPI
		opts func(*ModeOptions)
	}{
		{"API server error", &fakeKubeAPI{sarFail: true}, nil},
		{"review timeout", &fakeKubeAPI{allow: allowExcept(), sarHook: func(r *http.Request) { <-r.Context().Done() }},
			func(o *ModeOptions) { o.ImpersonationReviewTimeout = 300 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, tt.api.handler)
			o := NewModeOptions()
			if tt.opts != nil {
				tt.opts(o)
			}
			p := newModesProxy(t, up, newFakeAuth(), o)
			hdr := bearer(aliceToken)
			hdr.Set("Impersonate-User", "bob")
			res, body := p.do(t, http.MethodGet, "/api/v1/pods", hdr)
			st := decodeStatus(t, res, body, http.StatusServiceUnavailable)
			if !strings.Contains(st.Message, "could not check the impersonation permission") {
				t.Errorf("message %q", st.Message)
			}
			if f := forwarded(up); len(f) != 0 {
				t.Errorf("forwarded despite the failed review")
			}
		})
	}
}

func TestRecordAccessorsForTheAccessLog(t *testing.T) {
	api := &fakeKubeAPI{allow: allowExcept()}
	up := newUpstream(t, api.handler)
	var got struct {
		real, impersonated, outbound string
		passthrough                  bool
	}
	o := NewModeOptions()
	modes, err := NewModes(up.RESTConfig(proxyCredential), o, testTimeouts, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := modes.EndUser.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordFrom(r.Context())
		got.real = rec.identity.GetName()
		got.impersonated = rec.ImpersonatedUser().GetName()
		got.outbound = rec.OutboundUser().GetName()
		got.passthrough = rec.Passthrough()
	}))
	h = WithRequestInfo(WithAuthentication(h, newFakeAuth()))
	req, _ := http.NewRequest(http.MethodGet, "/api/v1/pods", nil)
	req.Header = bearer(aliceToken)
	req.Header.Set("Impersonate-User", "bob")
	req.RemoteAddr = "192.0.2.1:1234"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.real != alice.Name || got.impersonated != "bob" || got.outbound != "bob" || got.passthrough {
		t.Errorf("accessors %+v", got)
	}
}

// TestClientImpersonationValuesMustBeCanonical: a client's Impersonate-*
// value that HTTP would alter on the way to kube-apiserver (padding,
// control characters, invalid UTF-8) is a 400 naming the header, before any
// review, and nothing is forwarded. The proxy is served over HTTP/2 so the
// values arrive as the client sent them.
func TestClientImpersonationValuesMustBeCanonical(t *testing.T) {
	tests := []struct {
		name    string
		header  http.Header
		message string
	}{
		{"padded user", http.Header{"Impersonate-User": {" system:masters"}}, `Impersonate-User: username " system:masters" starts with white space`},
		{"tab before the user", http.Header{"Impersonate-User": {"\tsystem:admin"}}, `Impersonate-User: username "\tsystem:admin" contains the control character U+0009`},
		{"padded group", http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"dev", "system:masters "}}, `Impersonate-Group: group "system:masters " ends with white space`},
		{"padded uid", http.Header{"Impersonate-User": {"bob"}, "Impersonate-Uid": {" 0"}}, `Impersonate-Uid: uid " 0" starts with white space`},
		{"padded extra value", http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-Scopes": {"view "}}, `Impersonate-Extra-Scopes: extra value of "scopes" "view " ends with white space`},
		{"no-break space", http.Header{"Impersonate-User": {"bob\u00a0"}}, `ends with white space`},
		{"invalid UTF-8", http.Header{"Impersonate-User": {"\xffbob"}}, `is not valid UTF-8`},
		{"padded extra key", http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-%20scopes": {"view"}}, `extra key " scopes" starts with white space`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{allow: allowExcept()}
			up := newUpstream(t, api.handler)
			p := newModesProxyH2(t, up, newFakeAuth(), NewModeOptions())
			hdr := bearer(aliceToken)
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
			if res.ProtoMajor != 2 {
				t.Fatalf("served over HTTP/%d, want 2", res.ProtoMajor)
			}
			st := decodeStatus(t, res, body, http.StatusBadRequest)
			if !strings.Contains(st.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", st.Message, tt.message)
			}
			if sars, _ := api.reviews(); len(sars) != 0 {
				t.Errorf("%d reviews asked", len(sars))
			}
			if f := forwarded(up); len(f) != 0 {
				t.Errorf("request was forwarded: %v", f[0].Header)
			}
		})
	}
}

type allowAllAuthorizer struct{}

func (allowAllAuthorizer) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}

// kubeImpersonated is the user kube-apiserver's impersonation filter builds
// from h (every check allowed), or nil when it builds none.
func kubeImpersonated(h http.Header) user.Info {
	var got user.Info
	next := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got, _ = request.UserFrom(r.Context()) })
	f := impersonation.WithImpersonation(next, allowAllAuthorizer{}, serializer.NewCodecFactory(runtime.NewScheme()))
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.Header = h.Clone()
	requestor := &user.DefaultInfo{Name: "alice"}
	f.ServeHTTP(httptest.NewRecorder(), r.WithContext(request.WithUser(r.Context(), requestor)))
	if got == nil || got == user.Info(requestor) {
		return nil
	}
	return got
}

// FuzzParseImpersonation: parsing a client's Impersonate-* headers never
// panics; what it accepts is canonical (identity.CheckUser) and names the
// user, uid and groups kube-apiserver reads from the same headers; and the
// identity the proxy forwards for it, encoded as the proxy encodes it, is
// exactly the identity kube-apiserver's impersonation filter builds.
func FuzzParseImpersonation(f *testing.F) {
	f.Add("bob", "dev", "b-1", "Scopes", "view")
	f.Add(" system:masters", "g", "", "Scope%53", "x")
	f.Add("system:serviceaccount:ci:deployer", "", "", "%4friginaluser.jetstack.io-User", "admin")
	f.Add("bob", "system:masters ", "\t0", "%52emote-Client-Ip", "6.6.6.6")
	f.Add("bob", "\xff", "", "Acme.io%2fteam", "red")
	f.Add("", "g", "u", "", "")
	f.Fuzz(func(t *testing.T, userName, group, uid, extraName, extraValue string) {
		h := http.Header{}
		h.Set("Impersonate-User", userName)
		if group != "" {
			h["Impersonate-Group"] = []string{group, "other"}
		}
		if uid != "" {
			h["Impersonate-Uid"] = []string{uid}
		}
		if extraName != "" {
			h[http.CanonicalHeaderKey("Impersonate-Extra-"+extraName)] = []string{extraValue}
		}
		req, err := parseImpersonation(h)
		if err != nil || req == nil {
			return
		}
		want := &user.DefaultInfo{Name: req.user, UID: req.uid, Groups: req.groups, Extra: req.extra}
		if err := identity.CheckUser(want); err != nil {
			t.Fatalf("accepted a non-canonical identity %+v: %v", want, err)
		}
		direct := kubeImpersonated(h)
		forwarded := kubeImpersonated(req.header())
		if direct == nil || forwarded == nil {
			t.Fatalf("kube-apiserver impersonates %+v from the client's headers and %+v from the proxy's", direct, forwarded)
		}
		if forwarded.GetName() != want.Name || forwarded.GetUID() != want.UID ||
			!maps.EqualFunc(forwarded.GetExtra(), want.Extra, slices.Equal) {
			t.Fatalf("kube-apiserver builds %+v from the forwarded headers, the proxy decided %+v", forwarded, want)
		}
		if direct.GetName() != forwarded.GetName() || direct.GetUID() != forwarded.GetUID() ||
			!slices.Equal(direct.GetGroups(), forwarded.GetGroups()) {
			t.Fatalf("kube-apiserver reads %+v from the client's headers, %+v from the proxy's", direct, forwarded)
		}
	})
}

// TestClientExtraKeysAreCanonical: a client's extra key is percent-decoded,
// then lower-cased, and every check (reserved keys, the review, the
// forwarded header) uses that one form; two headers naming the same key are
// a 400.
func TestClientExtraKeysAreCanonical(t *testing.T) {
	tests := []struct {
		name    string
		header  http.Header
		code    int
		message string
		reviews []review
		extra   map[string][]string // forwarded, without originaluser.*
	}{
		{
			name:    "escaped reserved original-user key",
			header:  http.Header{"Impersonate-Extra-%4friginaluser.jetstack.io-User": {"admin"}},
			code:    403,
			message: `the extra "originaluser.jetstack.io-user" is set by oidc-proxy`,
		},
		{
			name:    "escaped reserved client-IP key",
			header:  http.Header{"Impersonate-Extra-%52emote-Client-Ip": {"6.6.6.6"}},
			code:    403,
			message: `the extra "remote-client-ip" is set by oidc-proxy`,
		},
		{
			name:    "escaped upper-case letter: reviewed and forwarded as the same key",
			header:  http.Header{"Impersonate-Extra-Scope%53": {"view"}},
			code:    200,
			reviews: []review{{"authentication.k8s.io", "userextras", "scopes", "", "view"}, {"", "users", "", "", "bob"}},
			extra:   map[string][]string{"scopes": {"view"}},
		},
		{
			name:    "escaped non-ASCII upper case",
			header:  http.Header{"Impersonate-Extra-%C3%89quipe": {"rouge"}},
			code:    200,
			reviews: []review{{"authentication.k8s.io", "userextras", "équipe", "", "rouge"}, {"", "users", "", "", "bob"}},
			extra:   map[string][]string{"équipe": {"rouge"}},
		},
		{
			name:    "two headers for one key",
			header:  http.Header{"Impersonate-Extra-Scopes": {"view"}, "Impersonate-Extra-Scope%73": {"edit"}},
			code:    400,
			message: `Impersonate-Extra-Scope%73 and Impersonate-Extra-Scopes both name the extra "scopes"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{allow: allowExcept()}
			up := newUpstream(t, api.handler)
			o := NewModeOptions()
			o.ExtraUserHeaderClientIP = true
			p := newModesProxy(t, up, newFakeAuth(), o)
			hdr := bearer(aliceToken)
			hdr.Set("Impersonate-User", "bob")
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
			sars, _ := api.reviews()
			if got := reviewsOf(sars); !slices.Equal(got, tt.reviews) {
				t.Errorf("reviews %v, want %v", got, tt.reviews)
			}
			if tt.code != 200 {
				st := decodeStatus(t, res, body, tt.code)
				if !strings.Contains(st.Message, tt.message) {
					t.Errorf("message %q, want it to contain %q", st.Message, tt.message)
				}
				if f := forwarded(up); len(f) != 0 {
					t.Errorf("request was forwarded: %v", f[0].Header)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("code %d: %s", res.StatusCode, body)
			}
			f := forwarded(up)
			if len(f) != 1 {
				t.Fatalf("forwarded %d requests", len(f))
			}
			got := extrasOf(t, f[0].Header)
			for k := range got {
				if strings.HasPrefix(k, DefaultOriginalUserExtraPrefix) || k == ClientIPExtraKey {
					delete(got, k)
				}
			}
			if !maps.EqualFunc(got, tt.extra, slices.Equal) {
				t.Errorf("forwarded extras %v, want %v", got, tt.extra)
			}
		})
	}
}

// TestImpersonationReviewIncludesSystemAuthenticated: the requestor in the
// impersonation review is the authenticated user as kube-apiserver sees it,
// system:authenticated included, so impersonation granted to that group
// works through the proxy.
func TestImpersonationReviewIncludesSystemAuthenticated(t *testing.T) {
	api := &fakeKubeAPI{allow: func(s authorizationv1.SubjectAccessReviewSpec) (bool, string) {
		return slices.Contains(s.Groups, user.AllAuthenticated), "granted to system:authenticated only"
	}}
	up := newUpstream(t, api.handler)
	p := newModesProxy(t, up, newFakeAuth(), NewModeOptions())
	hdr := bearer(aliceToken)
	hdr.Set("Impersonate-User", "bob")
	res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
	if res.StatusCode != 200 {
		t.Fatalf("code %d: %s", res.StatusCode, body)
	}
	sars, _ := api.reviews()
	if len(sars) == 0 {
		t.Fatal("no review")
	}
	for _, s := range sars {
		if !slices.Equal(s.Groups, []string{"dev", "ops", user.AllAuthenticated}) {
			t.Fatalf("review %+v, want it for alice in dev, ops, system:authenticated", s)
		}
	}
	if f := forwarded(up); len(f) != 1 || f[0].Header.Get("Impersonate-User") != "bob" {
		t.Fatalf("forwarded %+v", f)
	}
	// The original-user extras keep the groups the token gave.
	if got := extrasOf(t, forwarded(up)[0].Header)[DefaultOriginalUserExtraPrefix+"groups"]; !slices.Equal(got, []string{"dev", "ops"}) {
		t.Errorf("original-user groups %q", got)
	}
}

// constrainedGrants allows what a ClusterRole of constrained impersonation
// (KEP-5284) grants: impersonate:user-info on the user bob, and
// impersonate-on:user-info:VERB on pods for the given verbs. Nothing else,
// legacy "impersonate" included.
func constrainedGrants(verbs ...string) func(authorizationv1.SubjectAccessReviewSpec) (bool, string) {
	return func(s authorizationv1.SubjectAccessReviewSpec) (bool, string) {
		ra := s.ResourceAttributes
		switch {
		case ra.Verb == "impersonate:user-info" && ra.Group == "authentication.k8s.io" && ra.Resource == "users" && ra.Name == "bob":
			return true, ""
		case strings.HasPrefix(ra.Verb, "impersonate-on:user-info:") && ra.Resource == "pods" &&
			slices.Contains(verbs, strings.TrimPrefix(ra.Verb, "impersonate-on:user-info:")):
			return true, ""
		}
		return false, "RBAC: " + ra.Verb + " not granted"
	}
}

// TestConstrainedImpersonation: a user holding only constrained
// impersonation grants impersonates through the proxy exactly as at
// kube-apiserver: allowed for the granted verbs, refused with 403 for the
// others, and the forwarded identity is the impersonated one.
func TestConstrainedImpersonation(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		code         int
		message      string
	}{
		{"list pods is granted", http.MethodGet, "/api/v1/namespaces/default/pods", 200, ""},
		{"get a pod is granted", http.MethodGet, "/api/v1/namespaces/default/pods/web", 200, ""},
		{"delete is not", http.MethodDelete, "/api/v1/namespaces/default/pods/web", 403, `cannot impersonate-on:user-info:delete resource "pods"`},
		{"other resources are not", http.MethodGet, "/api/v1/namespaces/default/secrets", 403, `cannot impersonate-on:user-info:list resource "secrets"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeKubeAPI{allow: constrainedGrants("list", "get")}
			up := newUpstream(t, api.handler)
			p := newModesProxy(t, up, newFakeAuth(), NewModeOptions())
			hdr := bearer(aliceToken)
			hdr.Set("Impersonate-User", "bob")
			res, body := p.do(t, tt.method, tt.path, hdr)
			if tt.code != 200 {
				st := decodeStatus(t, res, body, tt.code)
				if !strings.Contains(st.Message, tt.message) {
					t.Errorf("message %q, want it to contain %q", st.Message, tt.message)
				}
				if f := forwarded(up); len(f) != 0 {
					t.Errorf("request was forwarded: %v", f[0].Header)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("code %d: %s", res.StatusCode, body)
			}
			f := forwarded(up)
			if len(f) != 1 || f[0].Header.Get("Impersonate-User") != "bob" ||
				!slices.Equal(f[0].Header.Values("Impersonate-Group"), []string{user.AllAuthenticated}) {
				t.Fatalf("forwarded %+v, want one request impersonating bob", f)
			}
			if got := extrasOf(t, f[0].Header)[DefaultOriginalUserExtraPrefix+"user"]; !slices.Equal(got, []string{alice.Name}) {
				t.Errorf("original-user extra %q", got)
			}
		})
	}
}
