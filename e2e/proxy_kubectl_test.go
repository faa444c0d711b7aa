package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// tokenKubectl is the machine's kubectl pointed at the proxy with a static
// bearer token (no plugin involved).
func (e *proxyEnv) tokenKubectl(t *testing.T, token string) *harness.Kubectl {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := harness.WriteKubeconfig(path, e.proxy.URL, e.proxy.CA.CertPEM, &clientcmdapi.AuthInfo{Token: token}); err != nil {
		t.Fatal(err)
	}
	return harness.NewPlainKubectl(t, path)
}

// TestKubectlWatchThroughProxy: `kubectl get configmaps -w` through the proxy
// prints a configmap the admin creates while it watches.
func TestKubectlWatchThroughProxy(t *testing.T) {
	env := startProxyEnv(t, harness.DexOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	create := func(name string) time.Time {
		t.Helper()
		if _, err := env.admin.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			env.api.Fatalf(t, "admin creates configmap %s: %v", name, err)
		}
		return time.Now()
	}
	create("before-watch")
	kubectl := env.tokenKubectl(t, env.passwordToken(t, ctx, harness.DexClientID, env.dex.Users[0]))
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	cmd, _, stderr := kubectl.Command(watchCtx, "get", "configmaps", "-n", "team-a", "-w", "-o", "name")
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kubectl -w: %v", err)
	}
	go func() { _ = cmd.Wait(); pw.Close() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.NewTimer(20 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					env.fatalf(t, "kubectl -w ended before printing %s; stderr:\n%s", want, stderr)
				}
				if l == want {
					return
				}
			case <-deadline.C:
				env.fatalf(t, "kubectl -w did not print %s within 20s; stderr:\n%s", want, stderr)
			}
		}
	}
	// The listed object proves the watch's list is done; the watch starts at
	// the list's resource version, so a later create cannot be missed.
	waitFor("configmap/before-watch")
	created := create("made-by-admin")
	waitFor("configmap/made-by-admin")
	t.Logf("kubectl -w printed the admin's configmap %v after the create", time.Since(created))
}

// TestKubectlExecUpgradeReachesAPIServer: `kubectl exec` through the proxy is
// upgraded and reaches the real API server, which fails it for lack of a
// kubelet with exactly the error it gives the admin directly, not a proxy error.
func TestKubectlExecUpgradeReachesAPIServer(t *testing.T) {
	env := startProxyEnv(t, harness.DexOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	alice := env.dex.Users[0]
	// alice may exec in team-a; the pod is bound to a node without a kubelet.
	if _, err := env.admin.RbacV1().Roles("team-a").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "exec"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create", "get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		env.api.Fatalf(t, "create exec Role: %v", err)
	}
	if _, err := env.admin.RbacV1().RoleBindings("team-a").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "exec"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "exec"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: alice.Email}},
	}, metav1.CreateOptions{}); err != nil {
		env.api.Fatalf(t, "create exec RoleBinding: %v", err)
	}
	// No controller-manager runs: the default service account is made by hand.
	if _, err := env.admin.CoreV1().ServiceAccounts("team-a").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		env.api.Fatalf(t, "create default ServiceAccount: %v", err)
	}
	no := false
	if _, err := env.admin.CoreV1().Pods("team-a").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "no-kubelet"},
		Spec: corev1.PodSpec{
			NodeName:                     "node-without-kubelet",
			AutomountServiceAccountToken: &no,
			Containers:                   []corev1.Container{{Name: "c", Image: "example.invalid/none"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		env.api.Fatalf(t, "create pod: %v", err)
	}

	direct := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := harness.WriteKubeconfig(direct, env.api.URL, env.api.CAPEM, &clientcmdapi.AuthInfo{Token: env.api.AdminToken}); err != nil {
		t.Fatal(err)
	}
	execArgs := []string{"exec", "-n", "team-a", "no-kubelet", "--", "true"}
	want := harness.NewPlainKubectl(t, direct).Run(ctx, execArgs...)
	if want.Err == nil || strings.TrimSpace(want.Stderr) == "" {
		env.api.Fatalf(t, "kubectl exec as admin directly: %s\nwant an error from the API server", want)
	}
	got := env.tokenKubectl(t, env.passwordToken(t, ctx, harness.DexClientID, alice)).Run(ctx, execArgs...)
	if got.Err == nil || strings.TrimSpace(got.Stderr) != strings.TrimSpace(want.Stderr) {
		env.fatalf(t, "kubectl exec through the proxy: %s\nwant the API server's own error, as the admin gets it directly:\n%s", got, want.Stderr)
	}
	t.Logf("kubectl exec error, direct and through the proxy: %s", strings.TrimSpace(got.Stderr))
}

// TestProxyReadinessFollowsIssuer: with Dex down at start the proxy starts,
// is not ready and refuses tokens with a Status; once Dex is up it becomes
// ready without a restart and serves; when Dex stops again, tokens signed
// with the keys it already fetched keep working.
func TestProxyReadinessFollowsIssuer(t *testing.T) {
	api := harness.StartAPIServer(t)
	dex := harness.NewDex(t, harness.DexOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	admin := api.AdminClient(t)
	if err := harness.CreateTeamNamespaces(ctx, admin, harness.TeamRBAC{TeamAUsers: []string{dex.Users[0].Email}}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{NoWaitReady: true})
	env := &proxyEnv{api: api, dex: dex, proxy: proxy, admin: admin}
	readyz := func() (int, string) {
		code, _, body := env.rawGet(t, ctx, "/readyz", nil)
		return code, body
	}
	if code, body := readyz(); code == http.StatusOK {
		env.fatalf(t, "/readyz with the issuer down: HTTP %d %s, want not ready", code, body)
	}
	forged, err := harness.UnsignedJWT("any-key", dex.ForgeClaims(dex.Users[0].Email, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The proxy answers 503 only for the moment its authenticator is being
	// built (/healthz is served before that); then, as kube-apiserver, 401.
	var (
		code int
		st   status
		body string
	)
	for {
		code, st, body = env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(forged))
		if code != http.StatusServiceUnavailable || !strings.Contains(st.Message, "is starting") {
			break
		}
		select {
		case <-ctx.Done():
			env.fatalf(t, "the proxy's authenticator was never built: HTTP %d %s", code, body)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if code != http.StatusUnauthorized || st.Kind != "Status" || st.Code != code || !strings.Contains(st.Message, "identity provider is not reachable yet") {
		env.fatalf(t, "request with the issuer down: HTTP %d %s, want a 401 Status saying the identity provider is not reachable yet", code, body)
	}

	dex.Start(t)
	// The proxy retries discovery on its own schedule; poll readiness.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := readyz()
		if code == http.StatusOK {
			break
		}
		select {
		case <-ctx.Done():
			env.fatalf(t, "proxy not ready after Dex came up: HTTP %d %s", code, body)
		case <-tick.C:
		}
	}
	first := env.passwordToken(t, ctx, harness.DexClientID, dex.Users[0])
	unused := env.passwordToken(t, ctx, harness.DexClientID, dex.Users[0])
	if code, _, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(first)); code != http.StatusOK {
		env.fatalf(t, "after Dex came up: HTTP %d %s, want 200", code, body)
	}

	dex.Stop()
	// A token the proxy has never seen (so not in its token cache), signed
	// with a key it fetched while Dex was up.
	if code, _, body := env.rawGet(t, ctx, "/api/v1/namespaces/team-a/configmaps", bearer(unused)); code != http.StatusOK {
		env.fatalf(t, "with Dex stopped again: HTTP %d %s, want 200 from cached keys", code, body)
	}
	if code, body := readyz(); code != http.StatusOK {
		env.fatalf(t, "/readyz with Dex stopped after discovery: HTTP %d %s, want ready", code, body)
	}
}
