package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestClientDeviceCodeGrant is scenario 4 (device code): kubectl at a
// terminal runs get-token with --grant-type=device-code; kubectl-oidc asks
// Dex for a device code and opens verification_uri_complete through
// --browser-command; Chromium approves it with Dex's password form; the
// polling client gets the token and the request passes the proxy.
func TestClientDeviceCodeGrant(t *testing.T) {
	env := startClientEnv(t, harness.DexOptions{})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{env.dex.ServingSPKI}})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")
	env.setup(t, ctx, env.setupArgs("--grant-type=device-code", "--browser-command="+env.handoff.Command, "--skip-validation")...)

	approved := make(chan error, 1)
	go func() {
		url, err := env.handoff.Next(ctx)
		if err == nil {
			if !strings.HasPrefix(url, env.dex.Issuer+"/device") {
				err = errorf("the client opened %s, not Dex's device verification URI", url)
			} else {
				err = browser.ApproveDexDevice(ctx, url, "", alice.Email, alice.Password)
			}
		}
		approved <- err
	}()
	r := env.kubectl.RunTTY(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
	if r.Err != nil {
		env.fatalf(t, "kubectl get with the device-code grant: %s\nbrowser: %v\n--- chromium:\n%s", r, drain(approved), browser.Output())
	}
	if err := <-approved; err != nil {
		env.fatalf(t, "device approval in the browser: %v", err)
	}
	if !strings.Contains(r.Stdout, "configmap/team-a-settings") {
		t.Fatalf("kubectl get printed no configmap of team-a: %s", r)
	}
	// The person is shown the code to compare with the browser's.
	if !strings.Contains(r.Stderr, env.dex.Issuer+"/device") {
		t.Errorf("get-token did not print the verification URI on stderr: %s", r)
	}
}

// TestClientPasswordGrantLoginAndLogout is scenario 4 (password, Dex's
// passwordConnector: local) and scenario 11: with --username but no
// password, kubectl without a terminal is told to run `kubectl oidc login`;
// that login (with the password) fills the token cache and kubectl works
// through the proxy, with RBAC's answers for alice. `kubectl oidc logout`
// empties the cache and kubectl asks for a login again.
func TestClientPasswordGrantLoginAndLogout(t *testing.T) {
	env := startClientEnv(t, harness.DexOptions{})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")
	env.createConfigMap(t, ctx, "team-b", "team-b-settings")
	env.setup(t, ctx, env.setupArgs("--grant-type=password", "--username="+alice.Email, "--skip-validation")...)
	// The exec stanza's flags, for login and logout, bound to the cluster as
	// get-token is by kubectl (and as its "run kubectl oidc login" hint says).
	loginArgs := append(env.execArgs(t)[1:], "--cluster-server="+env.proxy.URL)

	askForLogin := func(t *testing.T, when string) {
		t.Helper()
		r := env.kubectl.Run(ctx, "get", "configmaps", "-n", "team-a")
		if r.Err == nil || !strings.Contains(r.Stderr, "kubectl oidc login") {
			env.fatalf(t, "%s: kubectl without a terminal should be told to run kubectl oidc login: %s", when, r)
		}
		if strings.Contains(r.Stderr, alice.Password) {
			t.Fatalf("%s: the password appears on stderr", when)
		}
	}
	askForLogin(t, "before any login")

	r := env.kubectl.Plugin(ctx, append([]string{"login"}, append(loginArgs, "--password="+alice.Password)...)...)
	if r.Err != nil {
		env.fatalf(t, "kubectl oidc login: %s", r)
	}
	if !strings.Contains(r.Stderr, alice.Email) {
		t.Errorf("login does not say who is logged in: %s", r)
	}
	tokenAfterLogin, _ := env.dexCounts(t, ctx)

	tests := []struct {
		name      string
		args      []string
		wantOut   string
		wantError string
	}{
		{name: "team-a is readable", args: []string{"get", "configmaps", "-n", "team-a", "-o", "name"}, wantOut: "configmap/team-a-settings"},
		{name: "team-b is forbidden by the API server", args: []string{"get", "configmaps", "-n", "team-b"}, wantError: `User "` + alice.Email + `" cannot list resource "configmaps" in API group "" in the namespace "team-b"`},
		{name: "nodes are forbidden", args: []string{"get", "nodes"}, wantError: "forbidden"},
		{name: "whoami through the proxy", args: []string{"oidc", "whoami"}, wantOut: alice.Email},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.kubectl.Run(ctx, tt.args...)
			switch {
			case tt.wantError == "" && (r.Err != nil || !strings.Contains(r.Stdout, tt.wantOut)):
				env.fatalf(t, "kubectl %s: want %q on stdout: %s", strings.Join(tt.args, " "), tt.wantOut, r)
			case tt.wantError != "" && (r.Err == nil || !strings.Contains(r.Stderr, tt.wantError)):
				env.fatalf(t, "kubectl %s: want an error with %q: %s", strings.Join(tt.args, " "), tt.wantError, r)
			}
		})
	}
	if n, _ := env.dexCounts(t, ctx); n != tokenAfterLogin {
		t.Errorf("calls with a cached token made %d token requests at Dex, want none", n-tokenAfterLogin)
	}

	r = env.kubectl.Plugin(ctx, append([]string{"logout"}, loginArgs...)...)
	if r.Err != nil {
		env.fatalf(t, "kubectl oidc logout: %s", r)
	}
	askForLogin(t, "after logout")
}

// TestClientConcurrentKubectlRefreshOnce is scenario 10: 20 kubectl
// processes started at once on an expired ID token (the password is in the
// kubeconfig, so no person is needed) cause one refresh at Dex, and all
// succeed through the proxy.
func TestClientConcurrentKubectlRefreshOnce(t *testing.T) {
	const idTokenTTL = 20 * time.Second
	env := startClientEnv(t, harness.DexOptions{IDTokenTTL: idTokenTTL})
	alice := env.dex.Users[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env.createConfigMap(t, ctx, "team-a", "team-a-settings")
	// setup's own check logs in (password grant, no terminal needed).
	r := env.setup(t, ctx, env.setupArgs("--grant-type=password", "--username="+alice.Email, "--password="+alice.Password, "--token-expiry-skew=1s")...)
	if !strings.Contains(r.Stderr, `the cluster sees you as "`+alice.Email+`"`) {
		t.Fatalf("setup's check did not log in as %s: %s", alice.Email, r)
	}
	token, _ := env.execToken(t, ctx)
	waitUntil(t, ctx, jwtExpiry(t, token))
	before, _ := env.dexCounts(t, ctx)

	const n = 20
	results := make([]harness.KubectlResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = env.kubectl.Run(ctx, "get", "configmaps", "-n", "team-a", "-o", "name")
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.Err != nil || !strings.Contains(r.Stdout, "configmap/team-a-settings") {
			env.fatalf(t, "kubectl #%d of %d: %s", i, n, r)
		}
	}
	if after, _ := env.dexCounts(t, ctx); after != before+1 {
		env.fatalf(t, "%d concurrent kubectl processes on an expired token made %d token requests at Dex, want 1", n, after-before)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
