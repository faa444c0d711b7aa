package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/internal/syncbuf"
)

// syncBuffer collects output written from several goroutines.
type syncBuffer = syncbuf.Buffer

// TestOneLogStreamWithoutTokens runs the command with --log-format=json and
// the highest -v, sends valid, hostile and passthrough tokens, and reads
// stderr: every line is JSON, the Kubernetes libraries' klog lines among
// them with the proxy's fields, and no line holds a token or the proxy's
// own credential.
func TestOneLogStreamWithoutTokens(t *testing.T) {
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	dir := t.TempDir()
	issuerCA := filepath.Join(dir, "issuer-ca.pem")
	writeFile(t, issuerCA, p.CAPEM())
	port := freePort(t)
	const ownCredential = "proxy-own-credential-4711"

	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand(&strings.Builder{}, &stderr)
		cmd.SetArgs([]string{
			"--log-format=json", "-v=5",
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port), "--cert-dir=" + filepath.Join(dir, "certs"),
			"--readiness-probe-port=0", "--metrics-serving-address=",
			"--oidc-issuer-url=" + p.Issuer, "--oidc-client-id=" + p.ClientID, "--oidc-ca-file=" + issuerCA,
			"--server=" + api.URL, "--token=" + ownCredential, "--insecure-skip-tls-verify",
			"--token-passthrough", "--shutdown-delay-duration=0",
		})
		done <- cmd.ExecuteContext(ctx)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("oidc-proxy: %v", err)
		}
	}
	t.Cleanup(stop)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+strconv.Itoa(port)+"/api/v1/pods", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	good := p.IDToken(p.User)
	deadline := time.Now().Add(30 * time.Second)
	for get(good) != http.StatusNotFound { // the fake API server has no pods
		if time.Now().After(deadline) {
			t.Fatal("the proxy never forwarded a valid token")
		}
		time.Sleep(20 * time.Millisecond)
	}
	secrets := []string{good, ownCredential, "passthrough-secret-token-0815"}
	get("passthrough-secret-token-0815")
	for _, tok := range p.HostileTokens(t, p.User) {
		get(tok)
		if len(tok) >= 16 {
			secrets = append(secrets, tok)
		}
	}
	stop()

	var libraryLine bool
	for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "Generated self-signed cert") {
			libraryLine = m["time"] != nil && m["level"] == "INFO"
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a token is in the log: %s", line)
			}
		}
	}
	if !libraryLine {
		t.Errorf("k8s.io/apiserver's klog line about the generated certificate is not a JSON line with time and level:\n%s", stderr.String())
	}
}
