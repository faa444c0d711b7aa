package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// kasUsernamePrefix is what kube-apiserver itself prefixes to Dex users, so
// a request the API server authenticated with the user's own token is
// told apart from one the proxy impersonated (no prefix).
const kasUsernamePrefix = "kas:"

// modesEnv is one kube-apiserver (which also accepts Dex tokens itself, for
// --disable-impersonation) and Dex, with the team RBAC plus:
// alice may impersonate the user bob and the uid bob-uid; bob may read
// configmaps in team-b; the service account team-a/argocd may read team-a.
type modesEnv struct {
	*proxyEnv
	alice, kilgore string
}

func startModesEnv(t *testing.T) *modesEnv {
	t.Helper()
	dex := harness.StartDex(t, harness.DexOptions{})
	api := harness.StartAPIServerWithArgs(t,
		"--oidc-issuer-url="+dex.Issuer,
		"--oidc-client-id="+dex.ClientID,
		"--oidc-ca-file="+dex.CAFile,
		"--oidc-username-claim=email",
		"--oidc-username-prefix="+kasUsernamePrefix,
	)
	admin := api.AdminClient(t)
	ctx := t.Context()
	if err := harness.CreateTeamNamespaces(ctx, admin, harness.TeamRBAC{
		TeamAUsers:  []string{dex.Users[0].Email, kasUsernamePrefix + dex.Users[0].Email, "system:serviceaccount:team-a:argocd"},
		TeamAGroups: []string{groupsPrefix + harness.MockGroups[0]},
	}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	mustCreate := func(what string, err error) {
		t.Helper()
		if err != nil {
			api.Fatalf(t, "create %s: %v", what, err)
		}
	}
	_, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"bob"}},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"uids"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"bob-uid"}},
		},
	}, metav1.CreateOptions{})
	mustCreate("ClusterRole impersonate-bob", err)
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-impersonates-bob"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-bob"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: dex.Users[0].Email}},
	}, metav1.CreateOptions{})
	mustCreate("ClusterRoleBinding alice-impersonates-bob", err)
	_, err = admin.RbacV1().RoleBindings("team-b").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-reads"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: harness.TeamReaderRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}, metav1.CreateOptions{})
	mustCreate("RoleBinding bob-reads", err)
	_, err = admin.CoreV1().ServiceAccounts("team-a").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}, metav1.CreateOptions{})
	mustCreate("ServiceAccount team-a/argocd", err)

	env := &modesEnv{proxyEnv: &proxyEnv{api: api, dex: dex, admin: admin}}
	env.alice = env.passwordToken(t, ctx, harness.DexClientID, dex.Users[0])
	env.kilgore = harness.IDToken(dex.MockLogin(ctx, t))
	return env
}

// withProxy starts an oidc-proxy with extra flags in front of the env.
func (e *modesEnv) withProxy(t *testing.T, args ...string) *proxyEnv {
	t.Helper()
	p := harness.StartProxy(t, e.api, e.dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix, ExtraArgs: args})
	return &proxyEnv{api: e.api, dex: e.dex, proxy: p, admin: e.admin}
}

// clientAs is a clientset through the proxy with the token and client-go's
// impersonation (kubectl --as ...).
func clientAs(t *testing.T, p *proxyEnv, token string, as rest.ImpersonationConfig) kubernetes.Interface {
	t.Helper()
	cfg := p.proxy.RESTConfig(token)
	cfg.Impersonate = as
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// whoami is `kubectl auth whoami`: the API server's view of the request.
func whoami(t *testing.T, ctx context.Context, p *proxyEnv, c kubernetes.Interface) authenticationv1.UserInfo {
	t.Helper()
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		p.fatalf(t, "SelfSubjectReview through the proxy: %v", err)
	}
	return r.Status.UserInfo
}

// TestProxyModes runs issue 6's modes against the real API server and Dex,
// one oidc-proxy per configuration.
func TestProxyModes(t *testing.T) {
	env := startModesEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	aliceName := env.dex.Users[0].Email

	t.Run("end-user impersonation allowed by RBAC and denied without it", func(t *testing.T) {
		p := env.withProxy(t)
		asBob := clientAs(t, p, env.alice, rest.ImpersonationConfig{UserName: "bob", UID: "bob-uid"})
		if _, err := asBob.CoreV1().ConfigMaps("team-b").List(ctx, metav1.ListOptions{}); err != nil {
			p.fatalf(t, "alice --as bob reads team-b (bob's right): %v", err)
		}
		_, err := asBob.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "bob" cannot list`) {
			p.fatalf(t, "alice --as bob in team-a: %v, want the API server's 403 for bob (alice's own right does not apply)", err)
		}
		info := whoami(t, ctx, p, asBob)
		if info.Username != "bob" || info.UID != "bob-uid" || !slices.Contains(info.Groups, "system:authenticated") {
			p.fatalf(t, "API server sees %+v, want bob with uid bob-uid", info)
		}
		if got := info.Extra["originaluser.jetstack.io-user"]; !slices.Equal(got, authenticationv1.ExtraValue{aliceName}) {
			p.fatalf(t, "originaluser.jetstack.io-user %q, want %q (extras %v)", got, aliceName, info.Extra)
		}

		// kube-apiserver's impersonation filter tries first the mode that
		// last succeeded for the requestor: legacy for alice (as bob, above),
		// so her refusals name the legacy grant that is missing; kilgore has
		// never impersonated, so his is the constrained check's, tried first.
		for _, tt := range []struct {
			name  string
			token string
			as    rest.ImpersonationConfig
			want  string
		}{
			{"alice --as carol: no grant", env.alice, rest.ImpersonationConfig{UserName: "carol"}, `cannot impersonate resource "users"`},
			{"alice --as bob --as-group system:masters: group not granted", env.alice, rest.ImpersonationConfig{UserName: "bob", Groups: []string{"system:masters"}}, `cannot impersonate resource "groups"`},
			{"alice --as bob --as-uid other: uid not granted", env.alice, rest.ImpersonationConfig{UserName: "bob", UID: "other"}, `cannot impersonate resource "uids"`},
			{"authors --as bob: no grant", env.kilgore, rest.ImpersonationConfig{UserName: "bob"}, `User "kilgore@kilgore.trout" cannot impersonate-on:user-info:list resource "configmaps"`},
		} {
			_, err := clientAs(t, p, tt.token, tt.as).CoreV1().ConfigMaps("team-b").List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.want) {
				p.fatalf(t, "%s: %v, want 403 mentioning %q", tt.name, err, tt.want)
			}
		}
		code, st, body := p.rawGet(t, ctx, "/api/v1/namespaces/team-b/configmaps", withHeader(bearer(env.alice), "Impersonate-Group", "g"))
		if code != http.StatusBadRequest || st.Kind != "Status" || !strings.Contains(st.Message, "without impersonating a user") {
			p.fatalf(t, "--as-group without --as: HTTP %d %s, want a 400 Status", code, body)
		}
	})

	t.Run("disable-impersonation forwards the user's token", func(t *testing.T) {
		p := env.withProxy(t, "--disable-impersonation")
		info := whoami(t, ctx, p, p.client(t, env.alice))
		if info.Username != kasUsernamePrefix+aliceName || len(info.Extra) != 0 {
			p.fatalf(t, "API server sees %+v, want %q: the API server authenticated alice's own token", info, kasUsernamePrefix+aliceName)
		}
		if _, err := p.client(t, env.alice).CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{}); err != nil {
			p.fatalf(t, "alice reads team-a with her own token: %v", err)
		}
		code, _, body := p.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer("not-a-token"))
		if code != http.StatusUnauthorized {
			p.fatalf(t, "garbage token: HTTP %d %s, want 401 from the proxy", code, body)
		}
	})

	t.Run("token passthrough accepts a service-account token", func(t *testing.T) {
		p := env.withProxy(t, "--token-passthrough", "--token-passthrough-audiences=https://kubernetes.default.svc")
		tokenFor := func(auds ...string) string {
			tr, err := env.admin.CoreV1().ServiceAccounts("team-a").CreateToken(ctx, "argocd",
				&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: auds}}, metav1.CreateOptions{})
			if err != nil {
				env.api.Fatalf(t, "TokenRequest: %v", err)
			}
			return tr.Status.Token
		}
		sa := p.client(t, tokenFor())
		if _, err := sa.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{}); err != nil {
			p.fatalf(t, "service-account token through passthrough: %v", err)
		}
		if info := whoami(t, ctx, p, sa); info.Username != "system:serviceaccount:team-a:argocd" || len(info.Extra["originaluser.jetstack.io-user"]) != 0 {
			p.fatalf(t, "API server sees %+v", info)
		}
		if _, err := sa.CoreV1().ConfigMaps("team-b").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			p.fatalf(t, "the service account in team-b: %v, want the API server's 403", err)
		}
		code, _, body := p.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(tokenFor("some-other-audience")))
		if code != http.StatusUnauthorized {
			p.fatalf(t, "token for another audience: HTTP %d %s, want 401", code, body)
		}
		// OIDC users are still impersonated by the same proxy.
		if info := whoami(t, ctx, p, p.client(t, env.alice)); info.Username != aliceName {
			p.fatalf(t, "alice through the passthrough proxy: %+v", info)
		}
	})

	t.Run("extra user headers and the client IP reach the API server", func(t *testing.T) {
		p := env.withProxy(t, "--extra-user-header-client-ip", "--extra-user-headers=cluster=e2e")
		info := whoami(t, ctx, p, p.client(t, env.alice))
		if !slices.Equal(info.Extra["remote-client-ip"], authenticationv1.ExtraValue{"127.0.0.1"}) ||
			!slices.Equal(info.Extra["cluster"], authenticationv1.ExtraValue{"e2e"}) {
			p.fatalf(t, "extras %v, want remote-client-ip 127.0.0.1 and cluster e2e", info.Extra)
		}
		// A forged X-Forwarded-For from an untrusted peer changes nothing.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.proxy.URL+"/apis/authentication.k8s.io/v1/selfsubjectreviews",
			strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = bearer(env.alice)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		client := p.proxy.HTTPClient()
		defer client.CloseIdleConnections()
		res, err := client.Do(req)
		if err != nil {
			p.fatalf(t, "%v", err)
		}
		defer res.Body.Close()
		var ssr authenticationv1.SelfSubjectReview
		if err := json.NewDecoder(res.Body).Decode(&ssr); err != nil || res.StatusCode != http.StatusCreated {
			p.fatalf(t, "SelfSubjectReview: %d %v", res.StatusCode, err)
		}
		if got := ssr.Status.UserInfo.Extra["remote-client-ip"]; !slices.Equal(got, authenticationv1.ExtraValue{"127.0.0.1"}) {
			p.fatalf(t, "remote-client-ip %q with a forged X-Forwarded-For, want the TCP peer", got)
		}
	})

	t.Run("audit log records user, verb, resource and failures", func(t *testing.T) {
		dir := t.TempDir()
		policy := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, "audit.log")
		p := env.withProxy(t, "--audit-policy-file="+policy, "--audit-log-path="+logPath)
		if _, err := p.client(t, env.alice).CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{}); err != nil {
			p.fatalf(t, "list: %v", err)
		}
		if _, err := clientAs(t, p, env.alice, rest.ImpersonationConfig{UserName: "bob"}).CoreV1().ConfigMaps("team-b").Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			p.fatalf(t, "get as bob: %v, want 404", err)
		}
		if code, _, body := p.rawGet(t, ctx, "/api/v1/namespaces/team-a/secrets", bearer("not-a-token")); code != http.StatusUnauthorized {
			p.fatalf(t, "garbage token: %d %s", code, body)
		}
		type event struct {
			Stage    string                     `json:"stage"`
			Verb     string                     `json:"verb"`
			User     struct{ Username string }  `json:"user"`
			Imp      *struct{ Username string } `json:"impersonatedUser"`
			Resource struct {
				Resource, Namespace, Name string
			} `json:"objectRef"`
			Status struct{ Code int } `json:"responseStatus"`
		}
		want := []string{
			"alice@example.com||list|configmaps|team-a||200",
			"alice@example.com|bob|get|configmaps|team-b|missing|404",
			"||list|secrets|team-a||401",
		}
		var got []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			got = nil
			f, err := os.Open(logPath)
			if err == nil {
				sc := bufio.NewScanner(f)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					var ev event
					if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Resource.Resource == "" {
						continue
					}
					imp := ""
					if ev.Imp != nil {
						imp = ev.Imp.Username
					}
					got = append(got, strings.Join([]string{ev.User.Username, imp, ev.Verb, ev.Resource.Resource, ev.Resource.Namespace, ev.Resource.Name, strconv.Itoa(ev.Status.Code)}, "|"))
				}
				f.Close()
			}
			if len(got) >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !slices.Equal(got, want) {
			p.fatalf(t, "audit events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
