package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
)

// TestDiscoveryDocumentServedWithGeneratedCA runs the command with a
// self-generated serving certificate and --discovery-* flags, then fetches
// the public document the way `kubectl oidc setup URL` does, pinning the
// generated CA's fingerprint: the document names the issuer, the client and
// both CA bundles (the proxy's generated CA and the --oidc-ca-file).
func TestDiscoveryDocumentServedWithGeneratedCA(t *testing.T) {
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	dir := t.TempDir()
	issuerCA := filepath.Join(dir, "issuer-ca.pem")
	apiCA := filepath.Join(dir, "api-ca.pem")
	certDir := filepath.Join(dir, "certs")
	writeFile(t, issuerCA, p.CAPEM())
	writeFile(t, apiCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}))
	port := freePort(t)

	runProxy(t,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--cert-dir="+certDir,
		"--readiness-probe-port=0", "--metrics-serving-address=",
		"--oidc-issuer-url="+p.Issuer, "--oidc-client-id="+p.ClientID, "--oidc-ca-file="+issuerCA,
		"--server="+api.URL, "--token=proxy-token", "--certificate-authority="+apiCA,
		"--discovery-client-id=public-kubectl", "--discovery-scopes=email,groups",
		"--discovery-grant-types=authcode,device-code", "--discovery-cluster-name=prod",
		"--shutdown-delay-duration=0",
	)

	url := "https://127.0.0.1:" + strconv.Itoa(port)
	var (
		res *discovery.Result
		err error
	)
	deadline, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var ca *x509.Certificate
		if ca, err = generatedCA(certDir); err == nil {
			res, err = discovery.Fetch(deadline, url, discovery.Trust{Fingerprint: discovery.Fingerprint(ca)})
			if err == nil {
				break
			}
		}
		select {
		case <-deadline.Done():
			t.Fatalf("discovery document never served: %v", err)
		case <-tick.C:
		}
	}
	d := res.Document
	if d.IssuerURL != p.Issuer || d.ClientID != "public-kubectl" || d.ClusterName != "prod" ||
		strings.Join(d.Scopes, ",") != "email,groups" || strings.Join(d.GrantTypes, ",") != "authcode,device-code" {
		t.Errorf("document = %+v", d)
	}
	if d.IssuerCertificateAuthorityData != string(p.CAPEM()) {
		t.Error("issuerCertificateAuthorityData is not the --oidc-ca-file bundle")
	}
	ca, _ := generatedCA(certDir)
	if want := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})); d.CertificateAuthorityData != want {
		t.Errorf("certificateAuthorityData is not the generated CA:\n%s", d.CertificateAuthorityData)
	}
	if !ca.IsCA {
		t.Error("the published certificate is not a CA")
	}
}

func TestDiscoveryNeedsAnIssuer(t *testing.T) {
	_, _, err := execute(t, "--discovery-client-id=x", "--authentication-config=/nonexistent", "--server=https://127.0.0.1:1", "--token=t")
	if err == nil || !strings.Contains(err.Error(), "--discovery-client-id needs --discovery-issuer-url") {
		t.Fatalf("err = %v, want the missing --discovery-issuer-url named", err)
	}
}

// generatedCA returns the last certificate of the chain the proxy wrote
// into --cert-dir (leaf, then its CA).
func generatedCA(certDir string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(certDir, "oidc-proxy.crt"))
	if err != nil {
		return nil, err
	}
	return discovery.LastCertificate(data)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runProxy runs the command with args until the test ends.
func runProxy(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand(&strings.Builder{}, &syncDiscard{})
		cmd.SetArgs(args)
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("oidc-proxy: %v", err)
		}
	})
}

type syncDiscard struct{}

func (syncDiscard) Write(b []byte) (int, error) { return len(b), nil }
