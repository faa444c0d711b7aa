package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
)

// TestWebPageAsksTheAPIThroughTheProxy runs the command with the sign-in
// page and a generated serving certificate: a person signed in at the
// provider sees the identity the API server was asked about with the
// proxy's own credential and Impersonate-* headers (not the ID token), the
// setup command pins the generated CA, and GET / with a bearer token still
// reaches the API server.
func TestWebPageAsksTheAPIThroughTheProxy(t *testing.T) {
	p := oidctest.New(t)
	p.ClientSecret = "web-client-secret-0123456789"
	api := apiservertest.New(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
				"status": map[string]any{"userInfo": map[string]any{"username": "seen:" + r.Header.Get("Impersonate-User"),
					"groups": r.Header.Values("Impersonate-Group")}}})
		case r.URL.Path == "/api/v1/namespaces":
			_, _ = io.WriteString(w, `{"kind":"NamespaceList","apiVersion":"v1","items":[{"metadata":{"name":"team-a"}}]}`)
		case r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"kind":"SelfSubjectRulesReview","apiVersion":"authorization.k8s.io/v1","spec":{"namespace":"team-a"},"status":{"resourceRules":[{"verbs":["get"],"apiGroups":[""],"resources":["configmaps"]}],"incomplete":false}}`)
		default:
			_, _ = io.WriteString(w, `{"paths":["/api"]}`)
		}
	})
	dir := t.TempDir()
	secretFile, apiCA, certDir := filepath.Join(dir, "secret"), filepath.Join(dir, "api-ca.pem"), filepath.Join(dir, "certs")
	writeFile(t, secretFile, []byte(p.ClientSecret+"\n"))
	writeFile(t, apiCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}))
	port := freePort(t)
	proxyURL := "https://127.0.0.1:" + strconv.Itoa(port)

	runProxy(t,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--cert-dir="+certDir,
		"--readiness-probe-port=0", "--metrics-serving-address=",
		"--oidc-issuer-url="+p.Issuer, "--oidc-client-id="+p.ClientID, "--oidc-ca-file="+p.CAFile(t),
		"--oidc-username-claim=email", "--oidc-groups-claim=groups",
		"--server="+api.URL, "--token=proxy-token", "--certificate-authority="+apiCA,
		"--discovery-client-id=public-kubectl", "--discovery-scopes=email,groups",
		"--web-client-id="+p.ClientID, "--web-client-secret-file="+secretFile,
		"--web-redirect-url="+proxyURL+"/web/callback",
		"--shutdown-delay-duration=0",
	)

	// The browser trusts the generated CA and the provider.
	var ca *x509.Certificate
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if ca, err = generatedCA(certDir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no generated certificate: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	pool.AppendCertsFromPEM(p.CAPEM())
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	browser := &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
	get := func(path, bearer string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, proxyURL+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	for {
		resp, err := browser.Get(proxyURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, hdr, body := get("/", "")
	if code != http.StatusOK || !strings.Contains(body, `href="/web/login"`) || hdr.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("GET / without a session: %d %v\n%s", code, hdr, body)
	}
	code, _, body = get("/web/login", "")
	if code != http.StatusOK {
		t.Fatalf("sign-in: %d\n%s", code, body)
	}
	for _, want := range []string{
		"seen:alice@example.com", "developers", "<code>configmaps</code>",
		"kubectl oidc setup " + proxyURL + " --ca-fingerprint " + discovery.Fingerprint(ca),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the signed-in page lacks %q:\n%s", want, body)
		}
	}
	for _, r := range api.Requests() {
		if r.Header.Get("Authorization") != "Bearer proxy-token" || strings.Contains(strings.Join(r.Header.Values("Authorization"), ""), ".") {
			t.Errorf("%s %s reached the API server with %q, want the proxy's own credential", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}
	code, _, body = get("/", p.IDToken(p.User))
	if code != http.StatusOK || !strings.Contains(body, `"paths"`) {
		t.Errorf("GET / with a bearer token: %d %s, want the API server's answer", code, body)
	}
}
