package main

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

func TestLoginPrintsWhoYouAre(t *testing.T) {
	p := oidctest.New(t)
	cacheDir := t.TempDir()
	args := append(append([]string{"login"}, loginArgs(t, p, cacheDir)...), passwordArgs(p)...)
	r := runBin(t, nil, "", args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("login wrote to stdout: %q", r.stdout)
	}
	for _, want := range []string{
		"Logged in to " + p.Issuer,
		"subject: " + p.User.Subject,
		"email:   " + p.User.Email,
		"groups:  " + strings.Join(p.User.Groups, ", "),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if !regexp.MustCompile(`expires: \S+ \(in 59m5\ds\)`).MatchString(r.stderr) && !strings.Contains(r.stderr, "(in 1h0m0s)") {
		t.Errorf("stderr does not give the expiry about an hour ahead:\n%s", r.stderr)
	}
	// login always signs in, even with a valid cached token.
	if r := runBin(t, nil, "", args...); r.code != 0 || p.Count("token:password") != 2 {
		t.Errorf("second login: exit %d, %d password grants; want a new sign-in", r.code, p.Count("token:password"))
	}
	// get-token then uses the cache.
	gt := append(append([]string{"get-token"}, loginArgs(t, p, cacheDir)...), passwordArgs(p)...)
	if r := runBin(t, nil, "", gt...); r.code != 0 || p.Count("token:password") != 2 {
		t.Errorf("get-token after login: exit %d, %d password grants; want a cache hit", r.code, p.Count("token:password"))
	}
}

func TestLogoutRevokesAtTheProvider(t *testing.T) {
	tests := []struct {
		name string
		// logoutArgs are logout's flags for the cache in dir; scope is the
		// extra scope of the first login (the entry a scoped logout names).
		logoutArgs  func(t *testing.T, p *oidctest.Provider, dir, scope string) []string
		logins      int // separate cache entries created before logout
		wantRemoved string
		wantRevoked int
	}{
		{
			name: "the given provider",
			logoutArgs: func(t *testing.T, p *oidctest.Provider, d, scope string) []string {
				return append(append(loginArgs(t, p, d), passwordArgs(p)...), "--oidc-extra-scope="+scope)
			},
			logins:      1,
			wantRemoved: "Removed 1 cached token entry.",
			wantRevoked: 1,
		},
		{
			// The cache does not keep each provider's CA: --all revokes
			// with the system roots plus the CA flags given.
			name: "all",
			logoutArgs: func(t *testing.T, p *oidctest.Provider, d, _ string) []string {
				return []string{"--all", "--token-cache-storage=disk", "--token-cache-dir=" + d, "--certificate-authority=" + p.CAFile(t)}
			},
			logins:      2,
			wantRemoved: "Removed 2 cached token entries.",
			wantRevoked: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			cacheDir := t.TempDir()
			base := append(append([]string{"get-token"}, loginArgs(t, p, cacheDir)...), passwordArgs(p)...)
			for i := range tt.logins {
				// Different scopes make different cache entries.
				args := append(base, fmt.Sprintf("--oidc-extra-scope=scope%d", i))
				if r := runBin(t, nil, "", args...); r.code != 0 {
					t.Fatalf("login %d: exit %d: %s", i, r.code, r.stderr)
				}
			}
			r := runBin(t, nil, "", append([]string{"logout"}, tt.logoutArgs(t, p, cacheDir, "scope0")...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantRemoved) || strings.Contains(r.stderr, "warning") {
				t.Errorf("stderr %q does not say %q, or warns", r.stderr, tt.wantRemoved)
			}
			if n := p.Count("revoke"); n != tt.wantRevoked {
				t.Errorf("%d revocations at the provider, want %d", n, tt.wantRevoked)
			}
			if left, _ := filepath.Glob(filepath.Join(cacheDir, "*.json")); len(left) != 0 {
				t.Errorf("cache entries left: %v", left)
			}
			// Logged out: the next get-token signs in again.
			before := p.Count("token:password")
			if r := runBin(t, nil, "", append(base, "--oidc-extra-scope=scope0")...); r.code != 0 || p.Count("token:password") != before+1 {
				t.Errorf("get-token after logout: exit %d, %d new logins; want 1", r.code, p.Count("token:password")-before)
			}
			// Nothing left to remove is not an error.
			r = runBin(t, nil, "", append([]string{"logout"}, tt.logoutArgs(t, p, t.TempDir(), "scope0")...)...)
			if r.code != 0 || !strings.Contains(r.stderr, "Nothing to remove") {
				t.Errorf("logout of an empty cache: exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}

// writeKubeconfig writes a kubeconfig with context "oidc" (current) whose
// user runs the built binary's get-token against p, cluster api, and a
// context "static" whose user has a plain token.
func writeKubeconfig(t *testing.T, p *oidctest.Provider, api *oidctest.APIServer, cacheDir string) string {
	t.Helper()
	ca := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}))
	var args strings.Builder
	for _, a := range append([]string{"get-token"}, append(loginArgs(t, p, cacheDir), passwordArgs(p)...)...) {
		args.WriteString("      - " + a + "\n")
	}
	content := `apiVersion: v1
kind: Config
current-context: oidc
clusters:
- name: test
  cluster:
    server: ` + api.URL + `
    certificate-authority-data: ` + ca + `
contexts:
- name: oidc
  context: {cluster: test, user: oidc-user}
- name: static
  context: {cluster: test, user: static-user}
users:
- name: static-user
  user:
    token: not-a-jwt
- name: oidc-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ` + binPath + `
      interactiveMode: Never
      args:
` + args.String()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWhoami(t *testing.T) {
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	cacheDir := t.TempDir()
	kubeconfig := writeKubeconfig(t, p, api, cacheDir)
	emptyCache := t.TempDir()

	tests := []struct {
		name        string
		env         []string
		args        []string
		loggedIn    bool
		wantCode    int
		want        []string
		wantNot     []string
		wantReviews int
	}{
		{
			name:     "current context, not logged in",
			env:      []string{"KUBECONFIG=" + kubeconfig},
			wantCode: 1,
			want: []string{`kubectl-oidc: not logged in to ` + p.Issuer + `: run "kubectl oidc login --certificate-authority=`,
				`--grant-type=password --listen-address=127.0.0.1:0 --oidc-client-id=` + p.ClientID + ` --oidc-client-secret=REDACTED`},
			wantNot: []string{"--password=", p.ClientSecret},
		},
		{
			name:        "current context from KUBECONFIG asks the cluster",
			env:         []string{"KUBECONFIG=" + kubeconfig},
			loggedIn:    true,
			want:        []string{"Cached token of " + p.Issuer, "sub: " + p.User.Subject, "exp: ", "Z)\n", "email: " + p.User.Email, `The cluster of context "oidc"`, "username: " + p.User.Email, "groups:   developers, system:authenticated"},
			wantReviews: 1,
		},
		{
			name:        "--kubeconfig and --context",
			args:        []string{"--kubeconfig=" + kubeconfig, "--context=oidc"},
			loggedIn:    true,
			want:        []string{"email: " + p.User.Email, "username: " + p.User.Email},
			wantReviews: 1,
		},
		{
			name:     "flags only: the cache, no cluster",
			args:     append(loginArgs(t, p, cacheDir), passwordArgs(p)...),
			loggedIn: true,
			want:     []string{"Cached token of " + p.Issuer, "email: " + p.User.Email},
			wantNot:  []string{"The cluster"},
		},
		{
			name:     "flags of another cache: not logged in",
			args:     append(loginArgs(t, p, emptyCache), passwordArgs(p)...),
			loggedIn: true,
			wantCode: 1,
			want:     []string{"not logged in"},
		},
		{
			name:     "a context whose user is not kubectl oidc",
			args:     []string{"--kubeconfig=" + kubeconfig, "--context=static"},
			loggedIn: true,
			wantCode: 1,
			want:     []string{`kubectl-oidc: the user "static-user" of context "static" does not run "kubectl oidc get-token"`},
		},
		{
			name:     "an unknown context",
			args:     []string{"--kubeconfig=" + kubeconfig, "--context=nope"},
			wantCode: 1,
			want:     []string{`kubectl-oidc: context "nope" is not in the kubeconfig`},
		},
		{
			name:     "no kubeconfig and no flags",
			args:     []string{"--kubeconfig=" + filepath.Join(t.TempDir(), "missing")},
			wantCode: 1,
			want:     []string{"kubectl-oidc: "},
		},
	}
	loggedIn := false
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.loggedIn && !loggedIn {
				args := append(append([]string{"login"}, loginArgs(t, p, cacheDir)...), passwordArgs(p)...)
				if r := runBin(t, nil, "", args...); r.code != 0 {
					t.Fatalf("login: %s", r.stderr)
				}
				loggedIn = true
			}
			before := api.Reviews()
			r := runBin(t, tt.env, "", append([]string{"whoami"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			out := r.stdout + r.stderr
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not contain %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output contains %q:\n%s", w, out)
				}
			}
			if tt.wantCode != 0 {
				oneErrorLine(t, r)
			}
			if n := api.Reviews() - before; n != tt.wantReviews {
				t.Errorf("%d SelfSubjectReviews, want %d", n, tt.wantReviews)
			}
		})
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	loginFlags := []string{
		"--oidc-issuer-url", "--oidc-client-id", "--oidc-client-secret", "--oidc-extra-scope", "--oidc-redirect-url", "--oidc-redirect-url-hostname",
		"--oidc-auth-request-extra-params", "--oidc-pkce-method", "--oidc-use-access-token", "--grant-type",
		"--listen-address", "--skip-open-browser", "--browser-command", "--authentication-timeout", "--oidc-request-timeout", "--oidc-request-notice", "--username",
		"--password", "--certificate-authority", "--certificate-authority-data", "--insecure-skip-tls-verify",
		"--token-cache-dir", "--token-cache-storage", "--force-refresh", "--token-expiry-skew", "--cluster-server", "--oidc-audience", "-v, --v",
	}
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"--help"}, want: []string{"Usage:\n  kubectl oidc [command]", "get-token", "login", "logout", "whoami", "setup", "convert", "version", "completion"}},
		{args: []string{"get-token", "--help"}, want: append([]string{"Usage:\n  kubectl oidc get-token [flags]", "KUBERNETES_EXEC_INFO"}, loginFlags...)},
		{args: []string{"login", "--help"}, want: append([]string{"Usage:\n  kubectl oidc login [flags]"}, loginFlags...)},
		{args: []string{"logout", "--help"}, want: append([]string{"Usage:\n  kubectl oidc logout [flags]", "--all"}, loginFlags...)},
		{args: []string{"whoami", "--help"}, want: append([]string{"Usage:\n  kubectl oidc whoami [flags]", "--context", "--kubeconfig"}, loginFlags...)},
		{args: []string{"setup", "--help"}, want: append([]string{"Usage:\n  kubectl oidc setup [PROXY_URL] [flags]", "--server", "--ca-fingerprint"}, loginFlags...)},
		{args: []string{"convert", "--help"}, want: []string{"Usage:\n  kubectl oidc convert [flags]", "--dry-run", "--token-cache-storage"}},
		{args: []string{"version", "--help"}, want: []string{"Usage:\n  kubectl oidc version"}},
		{args: []string{"completion", "bash", "--help"}, want: []string{"kubectl oidc completion bash"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runBin(t, nil, "", tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help does not mention %q", w)
				}
			}
		})
	}
}

func TestVersionAndCompletion(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"version"}, want: "kubectl-oidc dev\n"},
		{args: []string{"completion", "bash"}, want: "bash completion V2 for kubectl-oidc"},
		{args: []string{"completion", "zsh"}, want: "#compdef kubectl-oidc"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runBin(t, nil, "", tt.args...)
			if r.code != 0 || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("exit %d, stdout %.200q; want %q", r.code, r.stdout, tt.want)
			}
		})
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"get-token", "--bogus"}, want: "kubectl-oidc: unknown flag: --bogus (see kubectl oidc get-token --help)"},
		{args: []string{"get-token", "extra"}, want: `kubectl-oidc: unknown command "extra" for "kubectl oidc get-token"`},
		{args: []string{"get-token"}, want: "kubectl-oidc: --oidc-issuer-url is required"},
		{args: []string{"get-token", "--oidc-issuer-url=http://example.com", "--oidc-client-id=x"}, want: "must use https"},
		{args: []string{"nope"}, want: `kubectl-oidc: unknown command "nope" for "kubectl oidc"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runBin(t, nil, "", tt.args...)
			line := oneErrorLine(t, r)
			if !strings.Contains(line, tt.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line containing %q", r.stderr, tt.want)
			}
		})
	}
}

// hostile is what a provider could put into claims and messages to take
// over the terminal: clear the screen, set the window title, reverse text.
const hostile = "\x1b[2J\x1b]0;pwned\x07\u202e"

func TestStringsFromTheProviderReachTheTerminalEscaped(t *testing.T) {
	p := oidctest.New(t)
	p.User.Email = "alice" + hostile + "@example.com"
	p.User.Groups = []string{"dev" + hostile}
	p.User.Extra = map[string]any{"name": "Alice" + hostile}
	dir := t.TempDir()
	args := append(loginArgs(t, p, dir), passwordArgs(p)...)

	check := func(name string, r result) {
		t.Helper()
		for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
			if strings.Contains(r.stdout+r.stderr, bad) {
				t.Errorf("%s printed %q raw:\nstdout: %q\nstderr: %q", name, bad, r.stdout, r.stderr)
			}
		}
		if !strings.Contains(r.stdout+r.stderr, `\x1b[2J`) {
			t.Errorf("%s does not show the escaped sequence:\nstdout: %q\nstderr: %q", name, r.stdout, r.stderr)
		}
	}
	r := runBin(t, nil, "", append([]string{"login"}, args...)...)
	if r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	check("login", r)
	r = runBin(t, nil, "", append([]string{"whoami"}, args...)...)
	if r.code != 0 {
		t.Fatalf("whoami: %s", r.stderr)
	}
	check("whoami", r)

	// An error quoting the provider's discovery document.
	p.SetDiscoveryOverrides(map[string]any{"issuer": "https://evil.example.com" + hostile})
	r = runBin(t, nil, "", append([]string{"login", "--token-cache-storage=none"}, args...)...)
	oneErrorLine(t, r)
	check("login against a hostile discovery document", r)
}

func TestWhoamiFindsTheTokenBoundToTheContextsCluster(t *testing.T) {
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	path := filepath.Join(t.TempDir(), "config")
	ca := filepath.Join(t.TempDir(), "api.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// setup's check runs get-token through client-go, with the cluster's
	// server in KUBERNETES_EXEC_INFO (provideClusterInfo).
	env := []string{"PATH=" + filepath.Dir(binPath) + string(os.PathListSeparator) + os.Getenv("PATH")}
	args := append([]string{"setup", "--yes", "--server=" + api.URL, "--server-certificate-authority=" + ca, "--kubeconfig=" + path},
		append(loginArgs(t, p, t.TempDir()), passwordArgs(p)...)...)
	if r := runBin(t, env, "", args...); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	logins := p.Count("token:password")
	r := runBin(t, env, "", "whoami", "--kubeconfig="+path)
	if r.code != 0 || !strings.Contains(r.stdout, "email: "+p.User.Email) {
		t.Fatalf("whoami does not find the cached token of the context's cluster: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := p.Count("token:password"); n != logins {
		t.Errorf("whoami signed in again (%d password grants)", n-logins)
	}
}
