package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// lookAlike is a server that serves a copy of a real proxy's discovery
// document and records every request it gets, credentials included.
type lookAlike struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string // "METHOD PATH [Authorization]"
}

func startLookAlike(t *testing.T, document []byte) *lookAlike {
	t.Helper()
	l := &lookAlike{}
	l.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.requests = append(l.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")))
		l.mu.Unlock()
		if r.URL.Path == "/.well-known/kube-oidc-configuration" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(document)
			return
		}
		http.Error(w, "not found", http.StatusNotFound)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *lookAlike) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests...)
}

func (l *lookAlike) fingerprint() string {
	sum := sha256.Sum256(l.Certificate().Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestClientSetupAgainstALookAlikeSendsNothing: alice has a working context
// for the real proxy (set up from its discovery document, logged in). A
// look-alike serves a copy of that document at its own URL. `kubectl oidc
// setup https://LOOK-ALIKE` without a terminal and without --yes shows what
// it would trust, warns that the real proxy already gets tokens of that
// issuer and client, and stops: no kubeconfig change, no login at Dex, and
// the look-alike receives nothing but the discovery request.
func TestClientSetupAgainstALookAlikeSendsNothing(t *testing.T) {
	env := startClientEnv(t, harness.DexOptions{NoClientSecret: true})
	t.Cleanup(env.proxy.Process.Stop)
	env.proxy.Process.Stop()
	env.proxy = harness.StartProxy(t, env.api, env.dex, harness.ProxyOptions{GroupsPrefix: groupsPrefix, ExtraArgs: []string{
		"--discovery-client-id=" + env.dex.ClientID,
		"--discovery-scopes=email,offline_access",
		"--discovery-grant-types=password",
		"--discovery-cluster-name=real",
		"--discovery-issuer-ca-file=" + env.dex.CAFile,
	}})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")
	fp, err := harness.Fingerprint(env.proxy.ServingCertFile())
	if err != nil {
		t.Fatal(err)
	}
	login := []string{"--username=" + alice.Email, "--password=" + alice.Password, "--token-cache-storage=disk"}

	// The real cluster, confirmed and checked (a password login at Dex).
	r := env.kubectl.Plugin(ctx, append([]string{"setup", env.proxy.URL, "--ca-fingerprint", fp, "--yes"}, login...)...)
	if r.Err != nil || !strings.Contains(r.Stderr, `works: the cluster sees you as "`+alice.Email+`"`) {
		env.fatalf(t, "setup of the real proxy: %s", r)
	}

	// The look-alike's document is a copy of the real one.
	resp, err := env.proxy.HTTPClient().Get(env.proxy.URL + "/.well-known/kube-oidc-configuration")
	if err != nil {
		t.Fatal(err)
	}
	document, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("real discovery document: %s, %v", resp.Status, err)
	}
	fake := startLookAlike(t, document)
	tokensBefore, authBefore := env.dexCounts(t, ctx)

	r = env.kubectl.Plugin(ctx, append([]string{"setup", fake.URL, "--ca-fingerprint", fake.fingerprint(), "--context-name=look-alike"}, login...)...)
	if r.Err == nil {
		env.fatalf(t, "setup against the look-alike went ahead without confirmation: %s", r)
	}
	for _, want := range []string{"server: " + fake.URL, "issuer: " + env.dex.Issuer, "client: " + env.dex.ClientID, "--yes"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("setup does not show %q:\n%s", want, r.Stderr)
		}
	}
	if !strings.Contains(r.Stderr, "Warning: context \"real\"") || !strings.Contains(r.Stderr, "to "+env.proxy.URL) {
		t.Errorf("no warning naming the real proxy %s:\n%s", env.proxy.URL, r.Stderr)
	}
	if got := fake.seen(); len(got) != 1 || got[0] != "GET /.well-known/kube-oidc-configuration" {
		t.Errorf("the look-alike received %q, want only the discovery request", got)
	}
	if tokensAfter, authAfter := env.dexCounts(t, ctx); tokensAfter != tokensBefore || authAfter != authBefore {
		t.Errorf("Dex saw %d token and %d auth requests during the refused setup, want none", tokensAfter-tokensBefore, authAfter-authBefore)
	}
	if cfg, err := clientcmd.LoadFromFile(env.kubeconfig); err != nil || cfg.Contexts["look-alike"] != nil || cfg.Contexts["real"] == nil {
		t.Errorf("the refused setup wrote the look-alike context")
	}

	// The real context still works from its cache.
	r = env.kubectl.Run(ctx, "--context=real", "get", "configmaps", "-n", "team-a", "-o", "name")
	if r.Err != nil || !strings.Contains(r.Stdout, "configmap/team-a-settings") {
		env.fatalf(t, "kubectl through the real context: %s", r)
	}
}
