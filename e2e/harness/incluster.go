package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
	port, readyPort := freePort(t), freePort(t)
	ca, err := NewCA("kube-oidc e2e in-cluster proxy CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteServingCert(dir, "proxy")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{
		URL:      fmt.Sprintf("https://127.0.0.1:%d", port),
		CA:       ca,
		CAFile:   filepath.Join(dir, "ca.crt"),
		ReadyURL: fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort),
		Dir:      dir,
	}
	mustWrite(t, p.CAFile, string(ca.CertPEM))
	if opts.UsernameClaim == "" {
		opts.UsernameClaim = "email"
	}
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = "groups"
	}
	args := []string{
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		fmt.Sprintf("--readiness-probe-port=%d", readyPort),
		"--metrics-serving-address=",
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--oidc-issuer-url=" + dex.Issuer,
		"--oidc-client-id=" + dex.ClientID,
		"--oidc-ca-file=" + dex.CAFile,
		"--oidc-username-claim=" + opts.UsernameClaim,
		"--oidc-groups-claim=" + opts.GroupsClaim,
	}
	if opts.UsernamePrefix != "" {
		args = append(args, "--oidc-username-prefix="+opts.UsernamePrefix)
	}
	if opts.GroupsPrefix != "" {
		args = append(args, "--oidc-groups-prefix="+opts.GroupsPrefix)
	}
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

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := p.HTTPClient()
	defer client.CloseIdleConnections()
	err = waitReady(ctx, p.Process, 100*time.Millisecond, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/readyz?verbose", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s: %s", resp.Status, lastLine(readAllLimit(resp.Body)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("in-cluster oidc-proxy: %v\n%s\n%s", err, p.Process.Describe(), dex.Describe())
	}
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
