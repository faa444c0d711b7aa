package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// referenceVerb is the verb as k8s.io/apiserver's RequestInfoFactory
// computes it, bounded to referenceVerbs.
func referenceVerb(r *http.Request) string {
	f := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	info, err := f.NewRequestInfo(r)
	if err != nil || info == nil {
		return "other"
	}
	v := strings.ToLower(info.Verb)
	if !info.IsResourceRequest {
		v = strings.ToLower(r.Method)
	}
	if !referenceVerbs.Has(v) {
		return "other"
	}
	return v
}

// referenceVerbs is the bounded verb set of the metrics' label.
var referenceVerbs = sets.NewString("get", "list", "watch", "create", "update", "patch", "delete",
	"deletecollection", "proxy", "connect", "post", "put", "head", "options")

var verbCases = []struct {
	method, target, want string
}{
	{"GET", "/api/v1/namespaces/default/pods", "list"},
	{"GET", "/api/v1/namespaces/default/pods/p1", "get"},
	{"HEAD", "/api/v1/pods", "list"},
	{"GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=1", "watch"},
	{"GET", "/api/v1/pods?watch=1", "watch"},
	{"GET", "/api/v1/pods?watch=", "watch"},
	{"GET", "/api/v1/pods?watch", "watch"},
	{"GET", "/api/v1/pods?watch=0", "list"},
	{"GET", "/api/v1/pods?watch=FALSE", "list"},
	{"GET", "/api/v1/pods?watch=false&watch=true", "list"},
	{"GET", "/api/v1/pods?w%61tch=true", "watch"},
	{"GET", "/api/v1/pods?watch=%31", "watch"},
	{"GET", "/api/v1/pods?watch=fa%6Cse", "list"},
	{"GET", "/api/v1/pods?watch=true;x=1", "list"},
	{"GET", "/api/v1/pods?x=1;y&watch=true", "watch"},
	{"GET", "/api/v1/pods?watch=%zz", "list"},
	{"GET", "/api/v1/pods?limit=abc&watch=true", "watch"},
	{"GET", "/api/v1/pods?watch=fa+lse", "watch"},
	{"GET", "/api/v1/watch/namespaces/default/pods", "watch"},
	{"GET", "/api/v1/watch", "other"},
	{"GET", "/api/v1/proxy/nodes/n1", "proxy"},
	{"GET", "/api/v1/namespaces/default/pods/p1/log", "get"},
	{"POST", "/api/v1/namespaces/default/pods", "create"},
	{"POST", "/api/v1/namespaces/default/pods/p1/exec", "create"},
	{"PUT", "/apis/apps/v1/namespaces/default/deployments/d", "update"},
	{"PATCH", "/apis/apps/v1/namespaces/default/deployments/d/status", "patch"},
	{"DELETE", "/api/v1/namespaces/default/pods/p1", "delete"},
	{"DELETE", "/api/v1/namespaces/default/pods", "deletecollection"},
	{"GET", "/api/v1/namespaces/default", "get"},
	{"GET", "/api/v1/namespaces", "list"},
	{"GET", "/api/v1/namespaces/default/status", "get"},
	{"PUT", "/api/v1/namespaces/default/finalize", "update"},
	{"GET", "/apis/apps/v1", "get"},
	{"GET", "/apis/apps", "get"},
	{"GET", "/apis", "get"},
	{"GET", "/api", "get"},
	{"GET", "/api/v1", "get"},
	{"GET", "/healthz", "get"},
	{"POST", "/version", "post"},
	{"OPTIONS", "/api/v1/pods", "other"},
	{"OPTIONS", "/openapi/v2", "options"},
	{"get", "/api/v1/pods", "other"},
	{"get", "/openapi/v2", "get"},
	{"BREW", "/coffee", "other"},
	{"GET", "/api/v1/pods//", "list"},
	{"GET", "/api/v1/pods//x", "list"},
	{"GET", "//api//v1/pods", "get"},
	{"GET", "/api/v1/namespaces//pods", "list"},
	{"DELETE", "/api/v1/namespaces/ns/pods/", "deletecollection"},
	{"GET", "/apis/g/v1/namespaces/ns/r/n/s/x/y/z/a/b/c", "get"},
	{"GET", "/", "get"},
	{"GET", "", "get"},
}

func verbRequest(t testing.TB, method, target string) *http.Request {
	u, err := url.Parse(target)
	if err != nil {
		t.Skipf("not a URL: %v", err) // fuzz inputs only
	}
	return &http.Request{Method: method, URL: u}
}

// TestVerbLabel: the metrics' and access log's verb is kube-apiserver's
// RequestInfo verb (the same RequestInfo the rest of the chain reads),
// bounded to the known verbs.
func TestVerbLabel(t *testing.T) {
	for _, tt := range verbCases {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := verbRequest(t, tt.method, tt.target)
			r = r.WithContext(context.Background())
			_, r2, rec := withRecord(nil, r)
			if got, ref := rec.verb, referenceVerb(r); got != tt.want || ref != tt.want {
				t.Fatalf("verb %q, RequestInfoFactory says %q, want %q", got, ref, tt.want)
			}
			info, ok := request.RequestInfoFrom(r2.Context())
			if tt.want != "other" && (!ok || info.Verb != tt.want) {
				t.Fatalf("RequestInfo in the context: %+v %v, want verb %q", info, ok, tt.want)
			}
		})
	}
}

func TestRecordContextCarriesTheRecordAndTheParent(t *testing.T) {
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	rec := &record{verb: "get"}
	ctx := contextWithRecord(parent, rec)
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	for _, c := range []struct {
		name string
		got  any
		want any
	}{
		{"record", recordFrom(ctx), rec},
		{"record through a child", recordFrom(child), rec},
		{"parent value", ctx.Value(otherKey{}), "v"},
		{"no record outside", recordFrom(parent), (*record)(nil)},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	cancel()
	// Synchronously: context.WithCancel sees through the record context to
	// the parent's cancelCtx (no goroutine per request to propagate it).
	if child.Err() != context.Canceled || ctx.Err() != context.Canceled {
		t.Errorf("errors after cancel: child %v, record context %v", child.Err(), ctx.Err())
	}
}

func TestSecWebSocketProtocolConstantIsCanonical(t *testing.T) {
	if got := http.CanonicalHeaderKey("Sec-WebSocket-Protocol"); got != secWebSocketProtocol {
		t.Errorf("canonical key is %q, the constant %q", got, secWebSocketProtocol)
	}
}
