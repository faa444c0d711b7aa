package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestProxyTracingOneTraceAcrossProxyAndAPIServer: kube-apiserver and the
// proxy both export to an OTLP receiver in the test; the proxy samples every
// request, kube-apiserver only those whose parent was sampled (and it
// continues the proxy's trace because the proxy's identity is in
// system:monitoring, see StartAPIServerWithTracing). One `kubectl
// get` through the proxy yields, for its list request, one trace holding the
// proxy's spans (the request, authenticate, the upstream round trip) and the
// API server's, whose root is a child of the proxy's upstream span; no
// attribute of any span (proxy or API server, resource included) holds a
// token or a claim value.
func TestProxyTracingOneTraceAcrossProxyAndAPIServer(t *testing.T) {
	receiver := harness.StartOTLPReceiver(t)
	api := harness.StartAPIServerWithTracing(t, receiver.Endpoint)
	dex := harness.StartDex(t, harness.DexOptions{})
	admin := api.AdminClient(t)
	user := dex.Users[0]
	if err := harness.CreateTeamNamespaces(t.Context(), admin, harness.TeamRBAC{TeamAUsers: []string{user.Email}}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{ExtraArgs: []string{harness.TracingConfigFile(t, receiver.Endpoint, 1_000_000)}})
	env := &proxyEnv{api: api, dex: dex, proxy: proxy, admin: admin}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	token := env.passwordToken(t, ctx, harness.DexClientID, user)
	if res := env.tokenKubectl(t, token).Run(ctx, "get", "configmaps", "-n", "team-a"); res.Err != nil {
		env.fatalf(t, "kubectl get: %s", res)
	}

	// Both export in batches (every 5 s): wait for the API server's spans
	// of the proxy's list request.
	var trace []harness.ReceivedSpan
	deadline := time.Now().Add(60 * time.Second)
	for trace == nil {
		if time.Now().After(deadline) {
			env.fatalf(t, "no trace with the proxy's list request and the API server's spans; received:\n%s", describeSpans(receiver.Spans()))
		}
		time.Sleep(500 * time.Millisecond)
		trace = listTrace(receiver.Spans())
	}

	byID := map[string]harness.ReceivedSpan{}
	services := map[string]int{}
	for _, s := range trace {
		byID[s.SpanID] = s
		services[s.Service]++
	}
	var root, upstream *harness.ReceivedSpan
	for i, s := range trace {
		switch {
		case s.Service == "oidc-proxy" && s.Name == "oidc-proxy":
			root = &trace[i]
		case s.Service == "oidc-proxy" && s.Name == "upstream GET":
			upstream = &trace[i]
		}
	}
	if root == nil || upstream == nil || root.ParentSpanID != "" {
		t.Fatalf("the trace lacks the proxy's root request span or its upstream span:\n%s", describeSpans(trace))
	}
	var authenticate bool
	for _, s := range trace {
		if s.Service == "oidc-proxy" && s.Name == "authenticate" {
			authenticate = true
		}
		if s.Service == "apiserver" {
			// Walk up to the first span of the proxy.
			p := s
			for p.Service == "apiserver" {
				parent, ok := byID[p.ParentSpanID]
				if !ok {
					t.Errorf("API server span %q: parent %s is not in the trace", s.Name, p.ParentSpanID)
					break
				}
				p = parent
			}
			if p.Service == "oidc-proxy" && p.SpanID != upstream.SpanID {
				t.Errorf("API server span %q descends from the proxy's %q, not from its upstream span", s.Name, p.Name)
			}
		}
	}
	if !authenticate {
		t.Errorf("no authenticate span:\n%s", describeSpans(trace))
	}
	if services["apiserver"] == 0 || services["oidc-proxy"] < 3 {
		t.Errorf("spans by service %v", services)
	}

	secrets := []string{token, api.ProxyToken, api.AdminToken, user.Email, user.UserID, user.Username, user.Password}
	for _, s := range receiver.Spans() {
		for k, v := range s.Attributes {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(v, secret) {
					t.Errorf("%s span %q: attribute %s = %q holds a token or claim value", s.Service, s.Name, k, v)
				}
			}
		}
	}
	t.Logf("trace of the list request:\n%s", describeSpans(trace))
}

// listTrace returns the spans of the trace whose proxy request span is a
// list and that has API server spans, or nil.
func listTrace(spans []harness.ReceivedSpan) []harness.ReceivedSpan {
	byTrace := map[string][]harness.ReceivedSpan{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	for _, ss := range byTrace {
		var list, apiserver bool
		for _, s := range ss {
			list = list || (s.Service == "oidc-proxy" && s.Name == "oidc-proxy" && s.Attributes["k8s.verb"] == "list")
			apiserver = apiserver || s.Service == "apiserver"
		}
		if list && apiserver {
			return ss
		}
	}
	return nil
}

func describeSpans(spans []harness.ReceivedSpan) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Service + " " + s.Name + " trace=" + s.TraceID + " span=" + s.SpanID + " parent=" + s.ParentSpanID + "\n")
	}
	return b.String()
}
