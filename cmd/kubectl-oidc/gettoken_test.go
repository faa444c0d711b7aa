package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

func TestGetTokenAnswersInTheRequestedVersion(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantAPI string
	}{
		{name: "v1", env: []string{execInfo("client.authentication.k8s.io/v1", true)}, wantAPI: "client.authentication.k8s.io/v1"},
		{name: "v1beta1", env: []string{execInfo("client.authentication.k8s.io/v1beta1", true)}, wantAPI: "client.authentication.k8s.io/v1beta1"},
		{name: "v1 non-interactive with a non-interactive grant", env: []string{execInfo("client.authentication.k8s.io/v1", false)}, wantAPI: "client.authentication.k8s.io/v1"},
		{name: "absent: v1beta1", env: nil, wantAPI: "client.authentication.k8s.io/v1beta1"},
		{name: "empty: v1beta1", env: []string{"KUBERNETES_EXEC_INFO="}, wantAPI: "client.authentication.k8s.io/v1beta1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			args := append([]string{"get-token"}, loginArgs(t, p, t.TempDir())...)
			args = append(args, passwordArgs(p)...)
			before := time.Now()
			r := runBin(t, tt.env, "", args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			c := decodeOnlyJSON(t, r.stdout)
			if c.APIVersion != tt.wantAPI || c.Kind != "ExecCredential" {
				t.Errorf("apiVersion %q kind %q, want %q ExecCredential", c.APIVersion, c.Kind, tt.wantAPI)
			}
			claims := verify(t, p, c.Status.Token)
			if claims["email"] != p.User.Email {
				t.Errorf("token of %v, want %s", claims["email"], p.User.Email)
			}
			exp := c.Status.ExpirationTimestamp
			if exp == nil || exp.Before(before.Add(p.IDTokenTTL-time.Minute)) || exp.After(time.Now().Add(p.IDTokenTTL+time.Minute)) {
				t.Errorf("expirationTimestamp %v, want about now+%s (the ID token's exp)", exp, p.IDTokenTTL)
			}
			if strings.Contains(r.stderr, c.Status.Token) || strings.Contains(r.stderr, p.User.Password) {
				t.Errorf("stderr shows a secret: %s", r.stderr)
			}
		})
	}
}

func TestGetTokenRejectsMalformedExecInfo(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{name: "not JSON", value: `{"apiVersion": client`, want: "KUBERNETES_EXEC_INFO is not a JSON ExecCredential (invalid JSON at byte"},
		{name: "truncated", value: `{"apiVersion":"client.authentication.k8s.io/v1"`, want: "KUBERNETES_EXEC_INFO is not a JSON ExecCredential"},
		{name: "wrong kind", value: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"Pod"}`, want: `KUBERNETES_EXEC_INFO has kind "Pod", want "ExecCredential"`},
		{name: "unknown version", value: `{"apiVersion":"client.authentication.k8s.io/v2","kind":"ExecCredential"}`, want: `KUBERNETES_EXEC_INFO has apiVersion "client.authentication.k8s.io/v2"; supported are`},
		{name: "wrong-typed spec", value: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":"yes"}}`, want: `malformed client.authentication.k8s.io/v1 ExecCredential (field "spec.interactive" has the wrong type)`},
	}
	p := oidctest.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"get-token"}, loginArgs(t, p, t.TempDir())...)
			args = append(args, passwordArgs(p)...)
			r := runBin(t, []string{"KUBERNETES_EXEC_INFO=" + tt.value}, "", args...)
			line := oneErrorLine(t, r)
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not contain %q", line, tt.want)
			}
		})
	}
	if n := p.Count("discovery") + p.Count("token:password"); n != 0 {
		t.Errorf("%d requests reached the provider; a malformed request must stop before any", n)
	}
}

func TestGetTokenNonInteractiveNamesTheLoginCommand(t *testing.T) {
	p := oidctest.New(t)
	cacheDir := t.TempDir()
	ca := p.CAFile(t)
	base := []string{
		"--oidc-issuer-url=" + p.Issuer,
		"--oidc-client-id=" + p.ClientID,
		"--certificate-authority=" + ca,
		"--token-cache-storage=disk",
		"--token-cache-dir=" + cacheDir,
	}
	tests := []struct {
		name  string
		extra []string
		want  string
	}{
		{
			name:  "authcode with a client secret",
			extra: []string{"--grant-type=authcode", "--oidc-client-secret=s3cret-value", "--oidc-extra-scope=email"},
			want: `kubectl-oidc: interactive login needed: run "kubectl oidc login --certificate-authority=` + ca +
				` --grant-type=authcode --oidc-client-id=` + p.ClientID + ` --oidc-client-secret=REDACTED --oidc-extra-scope=email --oidc-issuer-url=` + p.Issuer +
				` --token-cache-dir=` + cacheDir + ` --token-cache-storage=disk"`,
		},
		{
			name:  "password grant without a password",
			extra: []string{"--grant-type=password", "--username=alice", "--oidc-auth-request-extra-params=connector_id=local ldap"},
			want: `kubectl-oidc: interactive login needed: run "kubectl oidc login --certificate-authority=` + ca +
				` --grant-type=password '--oidc-auth-request-extra-params=connector_id=local ldap' --oidc-client-id=` + p.ClientID + ` --oidc-issuer-url=` + p.Issuer +
				` --token-cache-dir=` + cacheDir + ` --token-cache-storage=disk --username=alice"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"get-token"}, base...), tt.extra...)
			r := runBin(t, []string{execInfo("client.authentication.k8s.io/v1", false)}, "", args...)
			if got := oneErrorLine(t, r); got != tt.want {
				t.Errorf("error line\n got %s\nwant %s", got, tt.want)
			}
			if strings.Contains(r.stderr, "s3cret-value") {
				t.Error("stderr shows the client secret")
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr has more than one line:\n%s", r.stderr)
			}
		})
	}
	if n := p.Count("authorize") + p.Count("device_authorization"); n != 0 {
		t.Errorf("%d sign-ins were started in a non-interactive session", n)
	}
}

// TestGetTokenEveryGrant signs in through the built binary with every
// grant type: password and client credentials need nobody; authcode and
// device code go through --browser-command running this test binary as a
// scripted browser.
func TestGetTokenEveryGrant(t *testing.T) {
	tests := []struct {
		name       string
		args       func(p *oidctest.Provider) []string
		browser    bool
		wantCount  string
		wantSub    func(p *oidctest.Provider) string
		wantInPage string
	}{
		{name: "password", args: passwordArgs, wantCount: "token:password"},
		{
			name: "client credentials",
			args: func(p *oidctest.Provider) []string {
				return []string{"--grant-type=client-credentials"}
			},
			wantCount: "token:client_credentials",
			wantSub:   func(p *oidctest.Provider) string { return p.ClientID },
		},
		{
			name:       "authcode with PKCE through the browser",
			args:       func(*oidctest.Provider) []string { return []string{"--grant-type=authcode"} },
			browser:    true,
			wantCount:  "token:authorization_code",
			wantInPage: "close",
		},
		{
			name:      "auto picks authcode when a browser command is given",
			args:      func(*oidctest.Provider) []string { return nil },
			browser:   true,
			wantCount: "token:authorization_code",
		},
		{
			name:      "device code",
			args:      func(*oidctest.Provider) []string { return []string{"--grant-type=device-code"} },
			browser:   true,
			wantCount: "token:urn:ietf:params:oauth:grant-type:device_code",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			args := append(append([]string{"get-token"}, loginArgs(t, p, t.TempDir())...), tt.args(p)...)
			env := []string{execInfo("client.authentication.k8s.io/v1", true)}
			page := filepath.Join(t.TempDir(), "page")
			if tt.browser {
				self, err := os.Executable()
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, "--browser-command="+self)
				env = append(env, browserEnv+"="+p.CAFile(t), browserLogTo+"="+page)
			}
			r := runBin(t, env, "", args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			c := decodeOnlyJSON(t, r.stdout)
			claims := verify(t, p, c.Status.Token)
			wantSub := p.User.Subject
			if tt.wantSub != nil {
				wantSub = tt.wantSub(p)
			}
			if claims["sub"] != wantSub {
				t.Errorf("token of %v, want %s", claims["sub"], wantSub)
			}
			if n := p.Count(tt.wantCount); n != 1 {
				t.Errorf("%d %s requests, want 1", n, tt.wantCount)
			}
			if tt.browser && p.Count("authorize") > 0 {
				q := p.LastAuthorizeRequest()
				if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
					t.Errorf("authorize request without PKCE S256, nonce or state: %v", q)
				}
			}
			if tt.wantInPage != "" {
				b, err := os.ReadFile(page)
				if err != nil || !strings.Contains(strings.ToLower(string(b)), tt.wantInPage) {
					t.Errorf("final browser page %q (%v) does not say %q", b, err, tt.wantInPage)
				}
			}
		})
	}
}

// TestGetTokenConcurrentProcessesRefreshOnce starts 20 get-token processes
// at once on a cached, expired ID token with a valid refresh token: the
// per-key lock lets one refresh and the others read its result.
func TestGetTokenConcurrentProcessesRefreshOnce(t *testing.T) {
	p := oidctest.New(t)
	p.RotateRefreshTokens = true // a second refresh with the old token would fail
	p.IDTokenTTL = 45 * time.Second
	cacheDir := t.TempDir()
	args := append(append([]string{"get-token"}, loginArgs(t, p, cacheDir)...), passwordArgs(p)...)
	// The first token lives 45s: valid with the default skew (30s), expired
	// with --token-expiry-skew=1m, without waiting.
	if r := runBin(t, nil, "", args...); r.code != 0 {
		t.Fatalf("first login: exit %d: %s", r.code, r.stderr)
	}
	p.IDTokenTTL = time.Hour
	p.SetDown(false) // orders the TTL write before the handlers' reads (the provider's lock)
	args = append(args, "--token-expiry-skew=1m")

	const n = 20
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBin(t, []string{execInfo("client.authentication.k8s.io/v1", false)}, "", args...)
		}()
	}
	wg.Wait()
	tokens := map[string]bool{}
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("process %d: exit %d: %s", i, r.code, r.stderr)
			continue
		}
		tokens[decodeOnlyJSON(t, r.stdout).Status.Token] = true
	}
	if got := p.Count("token:refresh_token"); got != 1 {
		t.Errorf("%d refreshes at the provider, want exactly 1", got)
	}
	if got := p.Count("token:password"); got != 1 {
		t.Errorf("%d password logins, want only the first", got)
	}
	if len(tokens) != 1 {
		t.Errorf("%d different tokens handed out, want the one refreshed token", len(tokens))
	}
}

func TestGetTokenCorruptCacheWarnsAndLogsIn(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{name: "garbage", content: "\x00\x01not json"},
		{name: "truncated", content: `{"version":1,"idToken":"eyJ`},
		{name: "empty", content: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			cacheDir := t.TempDir()
			args := append(append([]string{"get-token"}, loginArgs(t, p, cacheDir)...), passwordArgs(p)...)
			if r := runBin(t, nil, "", args...); r.code != 0 {
				t.Fatalf("first login: exit %d: %s", r.code, r.stderr)
			}
			entries, _ := filepath.Glob(filepath.Join(cacheDir, "*.json"))
			if len(entries) != 1 {
				t.Fatalf("cache holds %d entries, want 1", len(entries))
			}
			if err := os.WriteFile(entries[0], []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runBin(t, nil, "", args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			verify(t, p, decodeOnlyJSON(t, r.stdout).Status.Token)
			if !strings.Contains(strings.ToLower(r.stderr), "warning") || !strings.Contains(r.stderr, "corrupt") {
				t.Errorf("no warning about the corrupt entry on stderr: %q", r.stderr)
			}
			if n := p.Count("token:password"); n != 2 {
				t.Errorf("%d password logins, want 2 (the corrupt entry is a miss)", n)
			}
			// The new login replaced the entry: the next run is a cache hit.
			r = runBin(t, nil, "", args...)
			if r.code != 0 || r.stderr != "" || p.Count("token:password") != 2 {
				t.Errorf("third run: exit %d, stderr %q, %d logins; want a silent cache hit", r.code, r.stderr, p.Count("token:password"))
			}
		})
	}
}

func TestGetTokenStalledIssuerFailsWithinTheTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	start := time.Now()
	r := runBin(t, nil, "", "get-token", "--oidc-issuer-url=https://"+l.Addr().String(), "--oidc-client-id=kubectl",
		"--grant-type=client-credentials", "--oidc-client-secret=s", "--token-cache-storage=none",
		"--oidc-request-timeout=1s", "--oidc-request-notice=200ms")
	took := time.Since(start)
	last := oneErrorLine(t, r)
	if !strings.Contains(last, l.Addr().String()) || !strings.Contains(last, "did not answer within 1s") {
		t.Errorf("error line %q does not name the issuer and the timeout", last)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "waiting for the identity provider at "+l.Addr().String()) {
		t.Errorf("stderr, want the notice then the error:\n%s", r.stderr)
	}
	if took > 10*time.Second {
		t.Errorf("exit after %s", took)
	}
}

func TestGetTokenTakesSecretsFromTheEnvironment(t *testing.T) {
	p := oidctest.New(t)
	dir := t.TempDir()
	var args []string
	for _, a := range loginArgs(t, p, dir) {
		if !strings.HasPrefix(a, "--oidc-client-secret=") {
			args = append(args, a)
		}
	}
	env := []string{"KUBECTL_OIDC_CLIENT_SECRET=" + p.ClientSecret, "KUBECTL_OIDC_PASSWORD=" + p.User.Password}
	r := runBin(t, env, "", append([]string{"get-token", "--grant-type=password", "--username=" + p.User.Username}, args...)...)
	if r.code != 0 {
		t.Fatalf("get-token with the secrets in the environment: %s", r.stderr)
	}
	if got := p.LastTokenRequest().Get("password"); got != p.User.Password {
		t.Fatalf("password sent %q, want the one from KUBECTL_OIDC_PASSWORD", got)
	}
}

func TestGetTokenBindsTheCacheEntryToTheCluster(t *testing.T) {
	p := oidctest.New(t)
	dir := t.TempDir()
	args := append(append([]string{"get-token"}, loginArgs(t, p, dir)...), passwordArgs(p)...)
	info := func(server string) string {
		return `KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,"cluster":{"server":"` + server + `"}}}`
	}
	steps := []struct {
		name, server string
		wantLogins   int // password grants so far
	}{
		{"first cluster signs in", "https://proxy.example.com", 1},
		{"first cluster again: from its cache entry", "https://proxy.example.com", 1},
		{"another cluster never gets the first one's token", "https://look-alike.example.com", 2},
		{"no cluster info: the unbound entry of earlier versions", "", 3},
		{"first cluster still from its entry", "https://proxy.example.com", 3},
	}
	for _, s := range steps {
		var env []string
		if s.server != "" {
			env = []string{info(s.server)}
		}
		r := runBin(t, env, "", args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", s.name, r.code, r.stderr)
		}
		if n := p.Count("token:password"); n != s.wantLogins {
			t.Fatalf("%s: %d password grants, want %d", s.name, n, s.wantLogins)
		}
	}
}

func TestGetTokenNonInteractiveHintCarriesTheCluster(t *testing.T) {
	p := oidctest.New(t)
	env := []string{`KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,"cluster":{"server":"https://proxy.example.com"}}}`}
	r := runBin(t, env, "", append([]string{"get-token", "--grant-type=authcode"}, loginArgs(t, p, t.TempDir())...)...)
	last := oneErrorLine(t, r)
	if !strings.Contains(last, "--cluster-server=https://proxy.example.com") {
		t.Errorf("the login hint does not bind the login to the cluster: %s", last)
	}
}

func TestGetTokenExchangesForEachClustersAudienceFromOneLogin(t *testing.T) {
	p := oidctest.New(t)
	p.ExchangeAudiences = []string{"cluster-a", "cluster-b"}
	dir := t.TempDir()
	base := append(append([]string{"get-token"}, loginArgs(t, p, dir)...), passwordArgs(p)...)
	info := func(server string) []string {
		return []string{`KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,"cluster":{"server":"` + server + `"}}}`}
	}
	for _, c := range []struct{ aud, server string }{{"cluster-a", "https://a.example.com"}, {"cluster-b", "https://b.example.com"}, {"cluster-a", "https://a.example.com"}} {
		r := runBin(t, info(c.server), "", append(base, "--oidc-audience="+c.aud)...)
		if r.code != 0 {
			t.Fatalf("get-token for %s: %s", c.aud, r.stderr)
		}
		claims := verifyFor(t, p, decodeOnlyJSON(t, r.stdout).Status.Token, c.aud)
		if claims["aud"] != c.aud || claims["email"] != p.User.Email {
			t.Fatalf("token for %s: aud %v, email %v", c.server, claims["aud"], claims["email"])
		}
	}
	if n, x := p.Count("token:password"), p.Count("token:"+oidctest.TokenExchangeGrant); n != 1 || x != 2 {
		t.Fatalf("%d logins and %d exchanges, want 1 and 2", n, x)
	}
}

func TestGetTokenExpandsTildeInPathFlags(t *testing.T) {
	p := oidctest.New(t)
	home := t.TempDir()
	ca := filepath.Join(home, "idp-ca.pem")
	if err := os.WriteFile(ca, p.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range loginArgs(t, p, "unused") {
		if !strings.HasPrefix(a, "--token-cache-dir=") && !strings.HasPrefix(a, "--certificate-authority=") {
			args = append(args, a)
		}
	}
	// kubectl does not run exec plugins through a shell: ~ arrives as is.
	args = append(args, "--token-cache-dir=~/cache", "--certificate-authority=~/idp-ca.pem")
	r := runBin(t, []string{"HOME=" + home}, "", append(append([]string{"get-token"}, args...), passwordArgs(p)...)...)
	if r.code != 0 {
		t.Fatalf("get-token: %s", r.stderr)
	}
	if entries, err := os.ReadDir(filepath.Join(home, "cache")); err != nil || len(entries) == 0 {
		t.Fatalf("no cache in $HOME/cache (%v)", err)
	}
}
