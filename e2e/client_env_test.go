package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// clientEnv is what a person using kubectl-oidc has: etcd + kube-apiserver
// with the team RBAC, Dex, oidc-proxy in front of the API server, and the
// machine's kubectl with the Makefile-built kubectl-oidc first on PATH,
// HOME / KUBECONFIG / KUBECACHEDIR in temp dirs, and a browser hand-off
// (--browser-command and xdg-open) that gives the login URL to the test.
type clientEnv struct {
	api        *harness.APIServer
	dex        *harness.DexServer
	proxy      *harness.Proxy
	admin      kubernetes.Interface
	handoff    *harness.BrowserHandoff
	kubeconfig string
	kubectl    *harness.Kubectl
}

func startClientEnv(t *testing.T, dexOpts harness.DexOptions, proxyArgs ...string) *clientEnv {
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
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix, ExtraArgs: proxyArgs})
	handoff := harness.NewBrowserHandoff(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	return &clientEnv{
		api: api, dex: dex, proxy: proxy, admin: admin, handoff: handoff,
		kubeconfig: kubeconfig,
		kubectl:    harness.NewClientKubectl(t, kubeconfig, handoff),
	}
}

// createConfigMap creates a configmap as the admin (no controller manager
// runs, so namespaces start empty).
func (e *clientEnv) createConfigMap(t *testing.T, ctx context.Context, ns, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"owner": ns}}
	if _, err := e.admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		e.api.Fatalf(t, "admin creates configmap %s/%s: %v", ns, name, err)
	}
}

// fatalf fails with the logs of the proxy, Dex and the API server.
func (e *clientEnv) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\n%s\n%s\n%s", fmt.Sprintf(format, args...), e.proxy.Process.Describe(), e.dex.Describe(), e.api.Process.Describe())
}

// setupArgs are `kubectl oidc setup` flags for the proxy and Dex, given by
// hand (no discovery): the Dex client, its CA, the scopes the proxy's
// claims need, and the given extra flags.
func (e *clientEnv) setupArgs(extra ...string) []string {
	args := []string{"setup", "--yes",
		"--server=" + e.proxy.URL,
		"--server-certificate-authority=" + e.proxy.CAFile,
		"--oidc-issuer-url=" + e.dex.Issuer,
		"--oidc-client-id=" + e.dex.ClientID,
		"--certificate-authority=" + e.dex.CAFile,
		"--oidc-extra-scope=email",
		"--oidc-extra-scope=offline_access",
		"--token-cache-storage=disk",
		// Dex accepts only http://localhost:PORT redirect URIs of a public
		// client, not the 127.0.0.1 kubectl-oidc sends by default.
		"--oidc-redirect-url-hostname=localhost",
	}
	if e.dex.ClientSecret != "" {
		args = append(args, "--oidc-client-secret="+e.dex.ClientSecret)
	}
	return append(args, extra...)
}

// setup runs `kubectl oidc setup` without a terminal and checks it succeeded.
func (e *clientEnv) setup(t *testing.T, ctx context.Context, args ...string) harness.KubectlResult {
	t.Helper()
	r := e.kubectl.Plugin(ctx, args...)
	if r.Err != nil {
		e.fatalf(t, "kubectl oidc %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// tokenRequests is Dex's count of /token and /auth requests.
func (e *clientEnv) dexCounts(t *testing.T, ctx context.Context) (token, auth int) {
	t.Helper()
	token, err := e.dex.Requests(ctx, "/token")
	if err != nil {
		e.dex.Fatalf(t, "%v", err)
	}
	auth, err = e.dex.Requests(ctx, "/auth")
	if err != nil {
		e.dex.Fatalf(t, "%v", err)
	}
	return token, auth
}

// loginInBrowser takes the next URL the client hands to its browser and
// logs in there as u with Dex's password form, in the background; the
// returned channel gets the browser's error (nil on success).
func (e *clientEnv) loginInBrowser(ctx context.Context, browser *harness.Browser, u harness.DexUser) <-chan error {
	done := make(chan error, 1)
	go func() {
		url, err := e.handoff.Next(ctx)
		if err == nil {
			err = browser.LoginDexFor(ctx, e.dex, url, u.Email, u.Password)
		}
		done <- err
	}()
	return done
}

// execToken runs `kubectl oidc get-token` with the exec stanza's arguments
// from the kubeconfig (as kubectl would, without a terminal) and returns
// the ID token it hands out.
func (e *clientEnv) execToken(t *testing.T, ctx context.Context) (token string, expiry time.Time) {
	t.Helper()
	// The cluster kubectl names in KUBERNETES_EXEC_INFO (provideClusterInfo).
	args := append(e.execArgs(t), "--cluster-server="+e.proxy.URL)
	r := e.kubectl.Plugin(ctx, args...)
	if r.Err != nil {
		e.fatalf(t, "kubectl oidc %s: %s", strings.Join(args, " "), r)
	}
	var cred struct {
		Status struct {
			Token               string    `json:"token"`
			ExpirationTimestamp time.Time `json:"expirationTimestamp"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &cred); err != nil || cred.Status.Token == "" {
		t.Fatalf("get-token printed no ExecCredential with a token (%v): %s", err, r)
	}
	return cred.Status.Token, cred.Status.ExpirationTimestamp
}

// execArgs are the exec stanza's args of the current context's user
// ([get-token ...], run as kubectl-oidc), read from the kubeconfig setup wrote.
func (e *clientEnv) execArgs(t *testing.T) []string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		t.Fatalf("read kubeconfig: %v", err)
	}
	var args []string
	if c := cfg.Contexts[cfg.CurrentContext]; c != nil {
		if u := cfg.AuthInfos[c.AuthInfo]; u != nil && u.Exec != nil {
			args = u.Exec.Args
			// Secrets are in the stanza's env, not its args; a command
			// line run by hand passes them as flags.
			for _, e := range u.Exec.Env {
				switch e.Name {
				case "KUBECTL_OIDC_CLIENT_SECRET":
					args = append(args, "--oidc-client-secret="+e.Value)
				case "KUBECTL_OIDC_PASSWORD":
					args = append(args, "--password="+e.Value)
				}
			}
		}
	}
	if len(args) < 1 || args[0] != "get-token" {
		t.Fatalf("kubeconfig %s: the current context's user runs no `kubectl-oidc get-token` (args %q)", e.kubeconfig, args)
	}
	return args
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the proxy
// verifies; the test only needs to know when the token expires).
func jwtExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == 0 {
		t.Fatalf("JWT has no exp (%v)", err)
	}
	return time.Unix(claims.Exp, 0)
}

// waitUntil blocks until the wall clock passes at (the token's own expiry),
// or fails when ctx ends first.
func waitUntil(t *testing.T, ctx context.Context, at time.Time) {
	t.Helper()
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		t.Fatalf("context ended before %s: %v", at.Format(time.RFC3339), ctx.Err())
	}
}
