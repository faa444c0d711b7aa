package harness

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountDir is where client-go's in-cluster config reads a pod's
// service account (token, ca.crt, namespace).
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ServiceAccountToken mints a token for namespace/name with the TokenRequest
// API, as the kubelet does for a pod.
func (s *APIServer) ServiceAccountToken(t testing.TB, namespace, name string) string {
	t.Helper()
	expiry := int64(3600)
	tr, err := s.AdminClient(t).CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		s.Fatalf(t, "TokenRequest for %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// StartInClusterProxy starts oidc-proxy as it runs in a pod: no --kubeconfig
// and no kubeconfig file, KUBERNETES_SERVICE_HOST/PORT pointing at api, and
// token, ca.crt and namespace at ServiceAccountDir. That directory is made in
// a private mount namespace of the proxy only (`unshare --mount
// --map-root-user`, a tmpfs on /run, which /var/run links to), so client-go's
// real in-cluster code path is what runs. Dex is the issuer, as in StartProxy.
func StartInClusterProxy(t testing.TB, api *APIServer, dex *DexServer, namespace, token string, opts ProxyOptions) *Proxy {
	t.Helper()
	bin := OurBinary(t, OIDCProxy)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("the in-cluster proxy runs under unshare(1) (util-linux): %v", err)
	}
	dir := t.TempDir()
	saDir := filepath.Join(dir, "serviceaccount")
	home := filepath.Join(dir, "home") // no ~/.kube/config: in-cluster is the only source
	for _, d := range []string{saDir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, filepath.Join(saDir, "token"), token)
	mustWrite(t, filepath.Join(saDir, "ca.crt"), string(api.CAPEM))
	mustWrite(t, filepath.Join(saDir, "namespace"), namespace)
	u, err := url.Parse(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, args := newProxy(t, dir, "kube-oidc e2e in-cluster proxy CA", dex, opts)
	args = append(args, opts.ExtraArgs...)
	// sh runs inside the new mount namespace, mounts the service account
	// directory, and becomes the proxy (exec: same PID, so Stop reaches it).
	script := `set -e; mount -t tmpfs tmpfs /run; mkdir -p "` + ServiceAccountDir + `"; ` +
		`mount --bind "$1" "` + ServiceAccountDir + `"; shift; exec "$@"`
	env := []string{
		"KUBERNETES_SERVICE_HOST=" + u.Hostname(),
		"KUBERNETES_SERVICE_PORT=" + u.Port(),
		"HOME=" + home,
		"KUBECONFIG=",
	}
	cmd := append([]string{"--mount", "--map-root-user", "--propagation", "private", "sh", "-c", script, "sh", saDir, bin}, args...)
	p.Process = startProcess(t, "oidc-proxy", dir, env, unshare, cmd...)

	p.waitServing(t, "/readyz?verbose", "in-cluster oidc-proxy", dex)
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
