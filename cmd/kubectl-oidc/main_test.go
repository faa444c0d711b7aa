package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// binPath is the kubectl-oidc binary built once, as it is shipped (the tag
// kubeconfig_sibling, with kubectl-oidc-kubeconfig next to it), for the
// tests that cross the process boundary (exec credential protocol, locking,
// exit codes).
var binPath string

// browserEnv makes the test binary act as the person's browser (see
// runBrowser) when get-token runs it through --browser-command.
const (
	browserEnv   = "KUBECTL_OIDC_TEST_BROWSER_CA"
	browserLogTo = "KUBECTL_OIDC_TEST_BROWSER_LOG"
)

func TestMain(m *testing.M) {
	if ca := os.Getenv(browserEnv); ca != "" {
		os.Exit(runBrowser(ca, os.Args[len(os.Args)-1]))
	}
	dir, err := os.MkdirTemp("", "kubectl-oidc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "kubectl-oidc")
	for _, build := range [][]string{
		{"-tags=kubeconfig_sibling", "-o", binPath},
		{"-o", filepath.Join(dir, siblingName)},
	} {
		if out, err := exec.Command("go", append(append([]string{"build"}, build...), ".")...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kubectl-oidc (%v): %v\n%s", build, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBrowser plays the person's browser for the authcode and device
// flows: it GETs url and follows every redirect (local server -> provider
// -> local callback), trusting the provider's CA, and records the final page.
func runBrowser(caFile, url string) int {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		return 1
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if log := os.Getenv(browserLogTo); log != "" {
		_ = os.WriteFile(log, fmt.Appendf(nil, "%d %s\n%s", resp.StatusCode, resp.Request.URL, body), 0o600)
	}
	return 0
}

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs the built binary with a minimal environment (PATH, HOME in a
// temp dir) plus env, stdin and args.
func runBin(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil: // Errorf, not Fatalf: runBin also runs in goroutines
		t.Errorf("run kubectl-oidc %v: %v", args, err)
		r.code = -1
	}
	return r
}

// loginArgs are the flags that point the binary at p with a disk cache in
// dir. The client is confidential (client secret sent with basic auth), so
// each grant is exactly one token request: golang.org/x/oauth2 probes a
// public client's auth style with a first request the provider refuses.
func loginArgs(t *testing.T, p *oidctest.Provider, cacheDir string) []string {
	t.Helper()
	return []string{
		"--oidc-issuer-url=" + p.Issuer,
		"--oidc-client-id=" + p.ClientID,
		"--oidc-client-secret=" + p.ClientSecret,
		"--certificate-authority=" + p.CAFile(t),
		"--token-cache-storage=disk",
		"--token-cache-dir=" + cacheDir,
		"--listen-address=127.0.0.1:0",
	}
}

func passwordArgs(p *oidctest.Provider) []string {
	return []string{"--grant-type=password", "--username=" + p.User.Username, "--password=" + p.User.Password}
}

// execCredential is the answer of get-token, either version.
type execCredential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Status     struct {
		Token               string     `json:"token"`
		ExpirationTimestamp *time.Time `json:"expirationTimestamp"`
	} `json:"status"`
}

// decodeOnlyJSON decodes stdout, failing when it holds anything but one
// JSON object and a newline.
func decodeOnlyJSON(t *testing.T, stdout string) execCredential {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%q", err, stdout)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" || strings.TrimSpace(stdout) != string(raw) {
		t.Fatalf("stdout holds more than the JSON object: %q", stdout)
	}
	var c execCredential
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("decode ExecCredential: %v", err)
	}
	return c
}

// verify checks that token is an ID token p issued for its client and
// returns its claims.
func verify(t *testing.T, p *oidctest.Provider, token string) map[string]any {
	t.Helper()
	return verifyFor(t, p, token, p.ClientID)
}

// verifyFor verifies token as an ID token of p for the audience aud.
func verifyFor(t *testing.T, p *oidctest.Provider, token, aud string) map[string]any {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), p.HTTPClient())
	prov, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: aud}).Verify(ctx, token)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// oneErrorLine checks a failed run: exit code 1, nothing on stdout, one
// line on stderr starting with "kubectl-oidc: ".
func oneErrorLine(t *testing.T, r result) string {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "kubectl-oidc: ") {
		t.Errorf("last stderr line %q does not start with \"kubectl-oidc: \"", last)
	}
	return last
}

func execInfo(apiVersion string, interactive bool) string {
	return fmt.Sprintf(`KUBERNETES_EXEC_INFO={"apiVersion":%q,"kind":"ExecCredential","spec":{"interactive":%t}}`, apiVersion, interactive)
}
