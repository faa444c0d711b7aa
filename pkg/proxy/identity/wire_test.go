package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/transport"
)

// wire is a real net/http server over TLS that speaks HTTP/1.1 and HTTP/2,
// running kube-apiserver's impersonation filter (allowing everything) and
// answering with the identity the filter built, and one client per
// protocol. The client side sets the headers with client-go's impersonating
// round tripper, as the proxy does.
type wire struct {
	srv     *httptest.Server
	clients map[string]*http.Client
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}

// seenUser is what the API server side decoded.
type seenUser struct {
	Name   string              `json:"name"`
	UID    string              `json:"uid"`
	Groups []string            `json:"groups"`
	Extra  map[string][]string `json:"extra"`
}

func newWire(tb testing.TB) *wire {
	tb.Helper()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		_ = json.NewEncoder(w).Encode(seenUser{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()})
	})
	codecs := serializer.NewCodecFactory(runtime.NewScheme())
	filter := impersonation.WithImpersonation(echo, allowAll{}, codecs)
	requestor := &user.DefaultInfo{Name: "proxy"}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		filter.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), requestor)))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tb.Cleanup(srv.Close)

	h2 := srv.Client()
	h1t := h2.Transport.(*http.Transport).Clone()
	h1t.Protocols = new(http.Protocols)
	h1t.Protocols.SetHTTP1(true)
	h1t.TLSClientConfig = h1t.TLSClientConfig.Clone()
	h1t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return &wire{srv: srv, clients: map[string]*http.Client{"HTTP/1.1": {Transport: h1t}, "HTTP/2.0": h2}}
}

// send impersonates cfg over proto and returns what the server decoded.
func (w *wire) send(proto string, cfg transport.ImpersonationConfig) (*seenUser, error) {
	c := w.clients[proto]
	rt := transport.NewImpersonatingRoundTripper(cfg, c.Transport)
	req, err := http.NewRequest(http.MethodGet, w.srv.URL+"/api", nil)
	if err != nil {
		return nil, err
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.Proto != proto {
		return nil, fmt.Errorf("answered over %s, want %s", res.Proto, proto)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", res.StatusCode, body)
	}
	var u seenUser
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// wireSeeds are values at the edges of what HTTP carries unchanged.
var wireSeeds = []string{
	"alice", "system:masters", " system:masters", "\tsystem:nodes", "admin ", "Jane Doe",
	"jürgen", "\u00a0x", "x\u3000", "a\x00b", "a\r\nb", "a\x7fb", "\xff", "a\u0085b", "",
	"%41", "a%2Fb", "Scopes", "acme.io/team", "\u200b",
}

// FuzzValueOverTheWire holds Problem to what net/http and kube-apiserver's
// impersonation filter do: a value that Problem accepts, sent as a
// username, group, uid and extra value over HTTP/1.1 and HTTP/2, is decoded
// upstream byte for byte. (Equivalently: a value that changes in transit,
// or cannot be sent, is refused.)
func FuzzValueOverTheWire(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add(s)
	}
	w := newWire(f)
	f.Fuzz(func(t *testing.T, v string) {
		if Problem(v) != "" {
			return // refusing more than HTTP alters is allowed
		}
		for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
			got, err := w.send(proto, transport.ImpersonationConfig{UserName: v})
			if err != nil || got.Name != v {
				t.Fatalf("username %q over %s: got %+v, %v", v, proto, got, err)
			}
			got, err = w.send(proto, transport.ImpersonationConfig{
				UserName: "u", UID: v, Groups: []string{v}, Extra: map[string][]string{"k": {v}},
			})
			if err != nil || got.UID != v || len(got.Groups) == 0 || got.Groups[0] != v || !slices.Equal(got.Extra["k"], []string{v}) {
				t.Fatalf("uid, group and extra value %q over %s: got %+v, %v", v, proto, got, err)
			}
		}
	})
}

// FuzzExtraKeyOverTheWire holds KeyProblem and CanonicalExtraKey to
// client-go's encoding of extra keys and kube-apiserver's decoding: a key
// KeyProblem accepts arrives as exactly that key over HTTP/1.1 and HTTP/2,
// and CanonicalExtraKey of the header name as sent gives it back.
func FuzzExtraKeyOverTheWire(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add(s)
	}
	w := newWire(f)
	f.Fuzz(func(t *testing.T, k string) {
		if KeyProblem(k) != "" {
			return
		}
		cfg := transport.ImpersonationConfig{UserName: "u", Extra: map[string][]string{k: {"x"}}}
		for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
			got, err := w.send(proto, cfg)
			if err != nil || len(got.Extra) != 1 || !slices.Equal(got.Extra[k], []string{"x"}) {
				t.Fatalf("extra key %q over %s: got %+v, %v", k, proto, got, err)
			}
		}
		// The header name client-go writes, canonicalised as net/http does.
		var name string
		capture := transport.NewImpersonatingRoundTripper(cfg, roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			for h := range r.Header {
				if len(h) > len(transport.ImpersonateUserExtraHeaderPrefix) && h[:len(transport.ImpersonateUserExtraHeaderPrefix)] == transport.ImpersonateUserExtraHeaderPrefix {
					name = h
				}
			}
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
		}))
		req, _ := http.NewRequest(http.MethodGet, "https://x/", nil)
		res, err := capture.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got, err := CanonicalExtraKey(name[len(transport.ImpersonateUserExtraHeaderPrefix):]); err != nil || got != k {
			t.Fatalf("CanonicalExtraKey(%q) = %q, %v; want %q", name, got, err, k)
		}
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestWireAltersPaddedValues shows the wire behaviour the validator guards
// against: over HTTP/1.1 a padded username is decoded trimmed (the padded
// system: name becomes the real one), over HTTP/2 it arrives padded, and
// control characters cannot be sent at all.
func TestWireAltersPaddedValues(t *testing.T) {
	w := newWire(t)
	tests := []struct {
		value, proto, want string // want "" means the send fails
	}{
		{" system:masters", "HTTP/1.1", "system:masters"},
		{"\tsystem:nodes", "HTTP/1.1", "system:nodes"},
		{"admin ", "HTTP/1.1", "admin"},
		{" system:masters", "HTTP/2.0", " system:masters"},
		{"a\r\nb", "HTTP/1.1", ""},
		{"a\x00b", "HTTP/2.0", ""},
	}
	for _, tt := range tests {
		got, err := w.send(tt.proto, transport.ImpersonationConfig{UserName: tt.value})
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%q over %s: sent as %q, want a failure", tt.value, tt.proto, got.Name)
		case tt.want != "" && (err != nil || got.Name != tt.want):
			t.Errorf("%q over %s: got %+v, %v; want %q", tt.value, tt.proto, got, err, tt.want)
		}
		if Problem(tt.value) == "" {
			t.Errorf("Problem(%q) accepts a value the wire alters", tt.value)
		}
	}
}
