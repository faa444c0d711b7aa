package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// proxyEnv is etcd + kube-apiserver + Dex + oidc-proxy with the team RBAC:
// alice (password user, bound by email) and the mock connector's group
// authors (as oidc:authors) may read configmaps in team-a only.
type proxyEnv struct {
	api   *harness.APIServer
	dex   *harness.DexServer
	proxy *harness.Proxy
	admin kubernetes.Interface
}

const groupsPrefix = "oidc:"

func startProxyEnv(t *testing.T, dexOpts harness.DexOptions) *proxyEnv {
	t.Helper()
	api := harness.StartAPIServer(t)
	dex := harness.StartDex(t, dexOpts)
	admin := api.AdminClient(t)
	if err := harness.CreateTeamNamespaces(t.Context(), admin, harness.TeamRBAC{
		TeamAUsers:  []string{dex.Users[0].Email},
		TeamAGroups: []string{groupsPrefix + harness.MockGroups[0]},
	}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix})
	return &proxyEnv{api: api, dex: dex, proxy: proxy, admin: admin}
}

// fatalf fails with the logs of the proxy, Dex and the API server.
func (e *proxyEnv) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\n%s\n%s\n%s", fmt.Sprintf(format, args...), e.proxy.Process.Describe(), e.dex.Describe(), e.api.Process.Describe())
}

func (e *proxyEnv) client(t *testing.T, token string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(e.proxy.RESTConfig(token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *proxyEnv) passwordToken(t *testing.T, ctx context.Context, clientID string, u harness.DexUser) string {
	t.Helper()
	tok, err := e.dex.PasswordGrant(ctx, clientID, u.Email, u.Password)
	if err != nil {
		e.dex.Fatalf(t, "%v", err)
	}
	return harness.IDToken(tok)
}

// status is a Kubernetes Status object as the proxy or API server returns it.
type status struct {
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
}

// rawGet sends GET path to the proxy with the given headers and decodes a Status body.
func (e *proxyEnv) rawGet(t *testing.T, ctx context.Context, path string, header http.Header) (int, status, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.proxy.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	client := e.proxy.HTTPClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		e.fatalf(t, "GET %s through the proxy: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st status
	_ = json.Unmarshal(body, &st)
	return resp.StatusCode, st, string(body)
}

func bearer(token string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// TestProxyRBACThroughImpersonation: a Dex user's identity reaches the real
// API server through impersonation, and the API server's RBAC decides: alice
// (by email) and the authors group (prefixed) may read team-a; team-b is a
// 403 from the API server passed through with its own message; nodes are
// forbidden.
func TestProxyRBACThroughImpersonation(t *testing.T) {
	env := startProxyEnv(t, harness.DexOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	alice := env.passwordToken(t, ctx, harness.DexClientID, env.dex.Users[0])
	bob := env.passwordToken(t, ctx, harness.DexClientID, env.dex.Users[1])
	kilgore := harness.IDToken(env.dex.MockLogin(ctx, t))

	tests := []struct {
		name        string
		token       string
		namespace   string // "" lists nodes
		wantCode    int32  // 0: allowed
		wantMessage string // in the API server's Status message
	}{
		{name: "alice reads team-a", token: alice, namespace: "team-a"},
		{name: "alice is forbidden team-b by the API server", token: alice, namespace: "team-b", wantCode: 403,
			wantMessage: `User "alice@example.com" cannot list resource "configmaps" in API group "" in the namespace "team-b"`},
		{name: "alice may not list nodes", token: alice, wantCode: 403, wantMessage: `User "alice@example.com" cannot list resource "nodes"`},
		{name: "bob, unbound, is forbidden team-a", token: bob, namespace: "team-a", wantCode: 403, wantMessage: `User "bob@example.com" cannot list`},
		{name: "a member of authors reads team-a through the group", token: kilgore, namespace: "team-a"},
		{name: "a member of authors is forbidden team-b", token: kilgore, namespace: "team-b", wantCode: 403, wantMessage: `User "kilgore@kilgore.trout" cannot list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.client(t, tt.token)
			var err error
			if tt.namespace == "" {
				_, err = c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			} else {
				_, err = c.CoreV1().ConfigMaps(tt.namespace).List(ctx, metav1.ListOptions{})
			}
			if tt.wantCode == 0 {
				if err != nil {
					env.fatalf(t, "list: %v", err)
				}
				return
			}
			var st apierrors.APIStatus
			if !errors.As(err, &st) || st.Status().Code != tt.wantCode || !strings.Contains(st.Status().Message, tt.wantMessage) {
				env.fatalf(t, "list: got %v, want HTTP %d with %q", err, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

// TestProxyRefusesHostileRequests: forged, foreign and broken tokens get a
// 401 Status from the proxy, client-sent impersonation headers a 403, and an
// expired token is refused even though it was accepted (and cached) before.
func TestProxyRefusesHostileRequests(t *testing.T) {
	const ttl = 20 * time.Second
	env := startProxyEnv(t, harness.DexOptions{IDTokenTTL: ttl})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	alice := env.dex.Users[0]
	good := env.passwordToken(t, ctx, harness.DexClientID, alice)
	expiry, err := harness.TokenExpiry(good)
	if err != nil {
		t.Fatal(err)
	}
	// The good token works (and is now in the proxy's token cache).
	if code, _, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(good)); code != http.StatusOK {
		env.fatalf(t, "good token: HTTP %d %s", code, body)
	}

	kids, err := env.dex.DexKeyIDs(ctx)
	if err != nil {
		env.dex.Fatalf(t, "%v", err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := harness.SignRS256(otherKey, kids[0], env.dex.ForgeClaims(alice.Email, nil))
	if err != nil {
		t.Fatal(err)
	}
	unknownKid, err := harness.SignRS256(otherKey, "unknown-kid", env.dex.ForgeClaims(alice.Email, nil))
	if err != nil {
		t.Fatal(err)
	}
	algNone, err := harness.UnsignedJWT(kids[0], env.dex.ForgeClaims(alice.Email, nil))
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := harness.TamperEmail(good, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	otherDex := harness.StartDex(t, harness.DexOptions{})
	otherIssuer, err := otherDex.PasswordGrant(ctx, harness.DexClientID, alice.Email, alice.Password)
	if err != nil {
		otherDex.Fatalf(t, "%v", err)
	}
	wrongAudience := env.passwordToken(t, ctx, harness.DexOtherClientID, alice)

	tests := []struct {
		name     string
		header   http.Header
		wantCode int
	}{
		{name: "no token", header: http.Header{}, wantCode: 401},
		{name: "garbage token", header: bearer("garbage.not-a.jwt"), wantCode: 401},
		{name: "alg none", header: bearer(algNone), wantCode: 401},
		{name: "signed by another key under Dex's key ID", header: bearer(forged), wantCode: 401},
		{name: "unknown key ID", header: bearer(unknownKid), wantCode: 401},
		{name: "tampered payload", header: bearer(tampered), wantCode: 401},
		{name: "another issuer's genuine token", header: bearer(harness.IDToken(otherIssuer)), wantCode: 401},
		{name: "genuine token for another audience", header: bearer(wrongAudience), wantCode: 401},
		// Client impersonation is authorised with SubjectAccessReviews
		// (TestProxyModes); without an RBAC grant it is refused, and
		// groups or a uid without a user are malformed, as in kube-apiserver.
		{name: "client Impersonate-User without a grant", header: withHeader(bearer(good), "Impersonate-User", "bob@example.com"), wantCode: 403},
		{name: "client Impersonate-Group without a user", header: withHeader(bearer(good), "Impersonate-Group", "system:masters"), wantCode: 400},
		{name: "client Impersonate-Uid without a user", header: withHeader(bearer(good), "Impersonate-Uid", "1002"), wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", tt.header)
			if code != tt.wantCode || st.Kind != "Status" || st.Code != tt.wantCode || st.Status != "Failure" {
				env.fatalf(t, "got HTTP %d %s, want %d with a Status body", code, body, tt.wantCode)
			}
		})
	}

	t.Run("expired token accepted before is refused after exp", func(t *testing.T) {
		// Wait for the token's own expiry: a deadline, not a guess.
		timer := time.NewTimer(time.Until(expiry.Add(time.Second)))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		code, st, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(good))
		if code != 401 || st.Kind != "Status" || st.Code != 401 {
			env.fatalf(t, "expired token: HTTP %d %s, want 401 Status", code, body)
		}
	})
}

func withHeader(h http.Header, k, v string) http.Header {
	h = h.Clone()
	h.Add(k, v)
	return h
}

// TestProxyRefusesSystemGroupsFromTheIdP: a groups prefix of "system:" turns
// the IdP's group into system:authors; the proxy refuses it with a 403
// Status instead of impersonating it, while a user without groups still works.
func TestProxyRefusesSystemGroupsFromTheIdP(t *testing.T) {
	api := harness.StartAPIServer(t)
	dex := harness.StartDex(t, harness.DexOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := harness.CreateTeamNamespaces(ctx, api.AdminClient(t), harness.TeamRBAC{TeamAUsers: []string{dex.Users[0].Email}}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{GroupsPrefix: "system:"})
	env := &proxyEnv{api: api, dex: dex, proxy: proxy}
	kilgore := harness.IDToken(dex.MockLogin(ctx, t))
	alice := env.passwordToken(t, ctx, harness.DexClientID, dex.Users[0])

	code, st, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(kilgore))
	if code != 403 || st.Kind != "Status" || !strings.Contains(st.Message, "system:") {
		env.fatalf(t, "token with group system:authors: HTTP %d %s, want 403 Status naming the system: group", code, body)
	}
	if code, _, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(alice)); code != 200 {
		env.fatalf(t, "token without groups: HTTP %d %s, want 200", code, body)
	}
}

// TestProxyWatchSeesAdminChange: a watch through the proxy streams the
// event of a configmap the admin creates afterwards.
func TestProxyWatchSeesAdminChange(t *testing.T) {
	env := startProxyEnv(t, harness.DexOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	alice := env.passwordToken(t, ctx, harness.DexClientID, env.dex.Users[0])
	// As kubectl get -w does: list, then watch from the list's resource version.
	c := env.client(t, alice)
	list, err := c.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{})
	if err != nil {
		env.fatalf(t, "list through the proxy: %v", err)
	}
	w, err := c.CoreV1().ConfigMaps("team-a").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		env.fatalf(t, "watch through the proxy: %v", err)
	}
	defer w.Stop()
	created := time.Now()
	if _, err := env.admin.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "made-by-admin"},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{}); err != nil {
		env.api.Fatalf(t, "admin creates a configmap: %v", err)
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				env.fatalf(t, "watch closed before the admin's configmap arrived")
			}
			if ev.Type == watch.Error {
				env.fatalf(t, "watch error event: %v", ev.Object)
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type == watch.Added && cm.Name == "made-by-admin" {
				t.Logf("watch event through the proxy %v after the admin's create", time.Since(created))
				return
			}
		case <-deadline.C:
			env.fatalf(t, "no watch event for the admin's configmap within 10s")
		}
	}
}
