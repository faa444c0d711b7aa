package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/transport/spdy"
)

// identityEnv is the real kube-apiserver with an oidc-proxy whose issuer is
// the test's own (harness.Issuer), so tokens carry any claim values: the
// username is the email claim, groups the groups claim, both unprefixed,
// as a proxy that trusts its IdP's group names is configured.
type identityEnv struct {
	*proxyEnv
	iss *harness.Issuer
}

func startIdentityEnv(t *testing.T) *identityEnv {
	t.Helper()
	api := harness.StartAPIServer(t)
	iss := harness.StartIssuer(t, "kube-oidc-e2e")
	p := harness.StartProxyForIssuer(t, api, iss, harness.ProxyOptions{})
	return &identityEnv{proxyEnv: &proxyEnv{api: api, proxy: p, admin: api.AdminClient(t)}, iss: iss}
}

// mustCreate fails the test (with the API server's log) when creating what
// failed.
func (e *identityEnv) mustCreate(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		e.api.Fatalf(t, "create %s: %v", what, err)
	}
}

// TestProxyRefusesPaddedSystemIdentities: claim values that HTTP/1.1 would
// trim into system:masters or system:nodes on the way to kube-apiserver are
// refused by the proxy with a 403 naming the claim, both for a plain GET
// and for `kubectl exec` (an upgrade, which goes upstream over HTTP/1.1);
// the same user without the padded group reaches the API server.
func TestProxyRefusesPaddedSystemIdentities(t *testing.T) {
	env := startIdentityEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Control: an ordinary user reaches the API server, which refuses
	// the secret list with its own RBAC message for that user.
	_, err := env.client(t, env.iss.IDToken(t, "eve@example.com", []string{"dev"})).CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "eve@example.com" cannot list resource "secrets"`) {
		env.fatalf(t, "control user: %v, want the API server's RBAC 403", err)
	}

	padded := []struct {
		name        string
		email       string
		groups      []string
		claim, text string
	}{
		{"leading space before system:masters", "eve@example.com", []string{"dev", " system:masters"}, `claim "groups"`, "starts with white space"},
		{"tab before system:nodes", "eve@example.com", []string{"\tsystem:nodes"}, `claim "groups"`, "control character"},
		{"trailing space after system:masters", "eve@example.com", []string{"system:masters "}, `claim "groups"`, "ends with white space"},
		{"padded username", " system:admin", nil, `claim "email"`, "starts with white space"},
	}
	for _, tt := range padded {
		t.Run(tt.name, func(t *testing.T) {
			token := env.iss.IDToken(t, tt.email, tt.groups)
			_, err := env.client(t, token).CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.claim) || !strings.Contains(err.Error(), tt.text) {
				env.fatalf(t, "GET with %q: %v, want the proxy's 403 naming %s", tt.groups, err, tt.claim)
			}
			// kubectl exec is refused (at its first request, the pod GET) ...
			if got := env.tokenKubectl(t, token).Run(ctx, "exec", "-n", "kube-system", "any-pod", "--", "true"); got.Err == nil || !strings.Contains(got.Stderr, "Forbidden") {
				env.fatalf(t, "kubectl exec with %q: %s\nwant Forbidden", tt.groups, got)
			}
			// ... and so is the exec upgrade itself, as SPDY sends it.
			rt, upgrader, err := spdy.RoundTripperFor(env.proxy.RESTConfig(token))
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(env.proxy.URL + "/api/v1/namespaces/kube-system/pods/any-pod/exec?command=true&stdout=true")
			if err != nil {
				t.Fatal(err)
			}
			conn, _, err := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u).Dial("v4.channel.k8s.io")
			if err == nil {
				conn.Close()
				env.fatalf(t, "SPDY exec upgrade with %q was upgraded", tt.groups)
			}
			if !strings.Contains(err.Error(), "cannot be forwarded unchanged") || !strings.Contains(err.Error(), tt.claim) {
				env.fatalf(t, "SPDY exec upgrade with %q: %v, want the proxy's 403 naming %s", tt.groups, err, tt.claim)
			}
		})
	}
}

// TestProxyImpersonationGrantedToSystemAuthenticated: impersonation granted
// to the group system:authenticated (which kube-apiserver adds to every
// authenticated user) works through the proxy with `kubectl --as`.
func TestProxyImpersonationGrantedToSystemAuthenticated(t *testing.T) {
	env := startIdentityEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := env.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "impersonate-auditor"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"auditor"}}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "ClusterRole", err)
	_, err = env.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "everyone-impersonates-auditor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-auditor"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:authenticated"}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "ClusterRoleBinding", err)
	_, err = env.admin.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-configmaps"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "Role", err)
	_, err = env.admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "auditor-reads"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-configmaps"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "auditor"}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "RoleBinding", err)
	_, err = env.admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}, metav1.CreateOptions{})
	env.mustCreate(t, "ConfigMap", err)

	k := env.tokenKubectl(t, env.iss.IDToken(t, "carol@example.com", []string{"dev"}))
	if got := k.Run(ctx, "get", "configmaps", "-n", "default", "-o", "name"); got.Err != nil || !strings.Contains(got.Stdout, "configmap/audited") {
		t.Logf("carol's own rights are not expected to list configmaps: %s", got)
	} else {
		env.fatalf(t, "carol lists configmaps without --as; the test proves nothing: %s", got)
	}
	got := k.Run(ctx, "--as=auditor", "get", "configmaps", "-n", "default", "-o", "name")
	if got.Err != nil || !strings.Contains(got.Stdout, "configmap/audited") {
		env.fatalf(t, "kubectl --as=auditor (granted to system:authenticated): %s", got)
	}
	got = k.Run(ctx, "--as=someone-else", "get", "configmaps", "-n", "default")
	if got.Err == nil || !strings.Contains(got.Stderr, `User "carol@example.com" cannot impersonate`) {
		env.fatalf(t, "kubectl --as=someone-else: %s, want the impersonation 403", got)
	}
}

// TestProxyConstrainedImpersonation: a user who holds only constrained
// impersonation grants (KEP-5284: impersonate:user-info on one user and
// impersonate-on:user-info:<verb> on the resources it may act on) can
// `kubectl --as` that user through the proxy for exactly those verbs, as
// kube-apiserver would allow; a verb outside the grant, or another user, is
// the filter's 403 and never reaches the API server as the impersonated user.
// The proxy asks kube-apiserver by SubjectAccessReview, so the RBAC rules
// below are evaluated by the real authorizer.
func TestProxyConstrainedImpersonation(t *testing.T) {
	env := startIdentityEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := env.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "constrained-impersonate-bob"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"users"}, Verbs: []string{"impersonate:user-info"}, ResourceNames: []string{"bob"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"impersonate-on:user-info:list", "impersonate-on:user-info:get"}},
		},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "ClusterRole", err)
	_, err = env.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "dave-constrained-bob"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "constrained-impersonate-bob"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "dave@example.com"}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "ClusterRoleBinding", err)
	// bob himself may read and delete configmaps: a refusal of the delete
	// below is the impersonation filter's, not bob's RBAC.
	_, err = env.admin.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "manage-configmaps"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "delete"}}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "Role", err)
	_, err = env.admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-manages-configmaps"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "manage-configmaps"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}, metav1.CreateOptions{})
	env.mustCreate(t, "RoleBinding", err)
	_, err = env.admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bobs-config"}}, metav1.CreateOptions{})
	env.mustCreate(t, "ConfigMap", err)

	k := env.tokenKubectl(t, env.iss.IDToken(t, "dave@example.com", []string{"dev"}))
	if got := k.Run(ctx, "get", "configmaps", "-n", "default", "-o", "name"); got.Err == nil {
		env.fatalf(t, "dave lists configmaps without --as; the test proves nothing: %s", got)
	}
	if got := k.Run(ctx, "--as=bob", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); got.Err == nil {
		env.fatalf(t, "kubectl --as=bob auth whoami (a create of selfsubjectreviews, not granted) succeeded: %s", got)
	}
	got := k.Run(ctx, "--as=bob", "get", "configmaps", "-n", "default", "-o", "name")
	if got.Err != nil || !strings.Contains(got.Stdout, "configmap/bobs-config") {
		env.fatalf(t, "kubectl --as=bob get configmaps (impersonate-on:user-info:list): %s", got)
	}
	got = k.Run(ctx, "--as=bob", "get", "configmap", "bobs-config", "-n", "default", "-o", "name")
	if got.Err != nil || !strings.Contains(got.Stdout, "configmap/bobs-config") {
		env.fatalf(t, "kubectl --as=bob get configmap bobs-config (impersonate-on:user-info:get): %s", got)
	}
	got = k.Run(ctx, "--as=bob", "delete", "configmap", "bobs-config", "-n", "default")
	if got.Err == nil || !strings.Contains(got.Stderr, `User "dave@example.com" cannot impersonate-on:user-info:delete resource "configmaps"`) {
		env.fatalf(t, "kubectl --as=bob delete: %s, want the constrained impersonation 403", got)
	}
	if _, err := env.admin.CoreV1().ConfigMaps("default").Get(ctx, "bobs-config", metav1.GetOptions{}); err != nil {
		env.fatalf(t, "the configmap is gone after a refused delete: %v", err)
	}
	got = k.Run(ctx, "--as=alice", "get", "configmaps", "-n", "default")
	if got.Err == nil || !strings.Contains(got.Stderr, `User "dave@example.com" cannot impersonate`) {
		env.fatalf(t, "kubectl --as=alice (not granted): %s, want the impersonation 403", got)
	}
}
