package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Identities in the API server's static token file.
const (
	AdminUser = "e2e-admin"
	// ProxyUser is the identity oidc-proxy uses towards the API server. The
	// harness gives it impersonation, TokenReview and SubjectAccessReview rights.
	ProxyUser = "oidc-proxy"
	// ProxyClusterRole is the ClusterRole (and binding) granting ProxyUser its rights.
	ProxyClusterRole = "e2e:oidc-proxy"
)

// ProxyUserExtras are the userextras the proxy identity may impersonate:
// the credential ID of tokens with jti, oidc-proxy's original-user extras,
// remote-client-ip, and the extra
// "cluster" that the scenarios set with --extra-user-headers.
var ProxyUserExtras = []string{
	"userextras/authentication.kubernetes.io/credential-id",
	"userextras/originaluser.jetstack.io-user", "userextras/originaluser.jetstack.io-groups",
	"userextras/originaluser.jetstack.io-uid", "userextras/originaluser.jetstack.io-extra",
	"userextras/remote-client-ip", "userextras/cluster",
}

// APIServer is a kube-apiserver with RBAC authorization, a static token file
// and self-signed serving certificates, backed by an EtcdServer.
type APIServer struct {
	URL        string // https://127.0.0.1:PORT
	CAFile     string // the self-signed serving chain kube-apiserver wrote into --cert-dir
	CAPEM      []byte
	AdminToken string
	ProxyToken string
	Dir        string
	Process    *Process
	Etcd       *EtcdServer
}

// StartAPIServer starts etcd and kube-apiserver, waits for /readyz, and grants
// ProxyUser its rights.
func StartAPIServer(t testing.TB) *APIServer {
	t.Helper()
	return StartAPIServerWithArgs(t)
}

// StartAPIServerWithArgs is StartAPIServer with extra kube-apiserver flags
// (for example --oidc-* so that the API server accepts Dex tokens itself).
func StartAPIServerWithArgs(t testing.TB, extraArgs ...string) *APIServer {
	t.Helper()
	return startAPIServer(t, "", extraArgs)
}

// StartAPIServerWithTracing is StartAPIServer with kube-apiserver's tracing
// on (--tracing-config-file), exporting to the OTLP endpoint (host:port),
// sampling only requests whose caller sent a sampled traceparent. The
// proxy's identity is also in the group system:monitoring: kube-apiserver
// continues a caller's trace only for system:masters and system:monitoring
// (k8s.io/apiserver's WithTracing); for anyone else it starts a new trace
// that links to the caller's span.
func StartAPIServerWithTracing(t testing.TB, endpoint string, extraArgs ...string) *APIServer {
	t.Helper()
	return startAPIServer(t, "system:monitoring", append([]string{TracingConfigFile(t, endpoint, 0)}, extraArgs...))
}

// startAPIServer starts etcd and kube-apiserver with the proxy's identity
// in proxyGroup (none when empty).
func startAPIServer(t testing.TB, proxyGroup string, extraArgs []string) *APIServer {
	t.Helper()
	bin := RequireBinary(t, KubeAPIServer)
	etcd := StartEtcd(t)
	dir := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &APIServer{
		URL:        fmt.Sprintf("https://127.0.0.1:%d", port),
		AdminToken: randToken(t),
		ProxyToken: randToken(t),
		Dir:        dir,
		Etcd:       etcd,
	}
	tokens := fmt.Sprintf("%s,%s,%s-uid,system:masters\n%s,%s,%s-uid",
		s.AdminToken, AdminUser, AdminUser, s.ProxyToken, ProxyUser, ProxyUser)
	if proxyGroup != "" {
		tokens += "," + proxyGroup
	}
	tokens += "\n"
	mustWrite(t, filepath.Join(dir, "tokens.csv"), tokens)
	if err := writeRSAKeyPair(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	s.Process = startProcess(t, "kube-apiserver", dir, nil, bin, append([]string{
		"--etcd-servers=" + etcd.URL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// No kubernetes Service endpoints: a loopback address is not allowed there.
		"--endpoint-reconciler-type=none",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + certDir,
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"-v=1",
	}, extraArgs...)...,
	)
	s.CAFile = filepath.Join(certDir, "apiserver.crt")

	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	err = waitReady(ctx, s.Process, 200*time.Millisecond, func(ctx context.Context) error {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return fmt.Errorf("serving certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s yet", s.CAFile)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		defer c.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body := readAllLimit(resp.Body)
		if resp.StatusCode != http.StatusOK || body != "ok" {
			return fmt.Errorf("/readyz: %s: %s", resp.Status, lastLine(body))
		}
		s.CAPEM = pem
		return nil
	})
	if err != nil {
		t.Fatalf("kube-apiserver: %v\n%s\n%s", err, s.Process.Describe(), etcd.Process.Describe())
	}
	s.grantProxyRights(t)
	return s
}

// RESTConfig is a client config for the API server authenticating with token.
func (s *APIServer) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.CAPEM},
		QPS:             -1, // no client-side rate limit in tests
	}
}

// AdminClient is a clientset authenticated as the cluster admin (system:masters).
func (s *APIServer) AdminClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.RESTConfig(s.AdminToken))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return c
}

// Fatalf fails the test with the logs of kube-apiserver and etcd.
func (s *APIServer) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), s.Process.Describe())
}

func (s *APIServer) grantProxyRights(t testing.TB) {
	t.Helper()
	ctx := t.Context()
	c := s.AdminClient(t)
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ProxyClusterRole},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"users", "groups", "serviceaccounts"}, Verbs: []string{"impersonate"}},
			// RBAC has no "userextras/*" wildcard (only "*/subresource"), so
			// each extra key the proxy may forward is listed: the real-user
			// extras of end-user impersonation and the e2e extra headers.
			{APIGroups: []string{"authentication.k8s.io"}, Resources: append([]string{"uids"}, ProxyUserExtras...), Verbs: []string{"impersonate"}},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		s.Fatalf(t, "create ClusterRole %s: %v", ProxyClusterRole, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ProxyClusterRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ProxyClusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: ProxyUser}},
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		s.Fatalf(t, "create ClusterRoleBinding %s: %v", ProxyClusterRole, err)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
