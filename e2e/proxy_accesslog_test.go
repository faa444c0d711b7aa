package e2e

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// TestProxySIEMAccessLog: with --access-log-format=siem the proxy writes
// kube-oidc-proxy's lines on stderr: AuSuccess with the peer, the
// X-Forwarded-For entries a trusted proxy vouches for (--trusted-proxy-cidrs;
// what the client wrote left of them is dropped) and the authenticated user
// for a forwarded request, AuFail
// for a refused token, nothing for the probes, and never a token.
func TestProxySIEMAccessLog(t *testing.T) {
	api := harness.StartAPIServer(t)
	dex := harness.StartDex(t, harness.DexOptions{})
	admin := api.AdminClient(t)
	if err := harness.CreateTeamNamespaces(t.Context(), admin, harness.TeamRBAC{TeamAUsers: []string{dex.Users[0].Email}}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{ExtraArgs: []string{"--access-log-format=siem", "--trusted-proxy-cidrs=127.0.0.1/32"}})
	env := &proxyEnv{api: api, dex: dex, proxy: proxy, admin: admin}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	alice := env.passwordToken(t, ctx, harness.DexClientID, dex.Users[0])
	const path = "/api/v1/namespaces/team-a/configmaps?limit=5"
	const garbage = "garbage-token-0123456789abcdef"
	forwardedFor := bearer(alice)
	forwardedFor.Set("X-Forwarded-For", "6.6.6.6 / 7.7.7.7, 203.0.113.9")
	for _, req := range []struct {
		header http.Header
		want   int
	}{
		{bearer(alice), http.StatusOK},
		{bearer(garbage), http.StatusUnauthorized},
		{forwardedFor, http.StatusOK},
	} {
		if code, _, body := env.rawGet(t, ctx, path, req.header); code != req.want {
			env.fatalf(t, "GET %s: HTTP %d %s, want %d", path, code, body, req.want)
		}
	}

	ts := `^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\] `
	uri := regexp.QuoteMeta(path)
	user := regexp.QuoteMeta(dex.Users[0].Email)
	want := []*regexp.Regexp{
		regexp.MustCompile(ts + `AuSuccess src:\[127\.0\.0\.1 / \] URI:` + uri + ` inbound:\[` + user + ` / [^\]]* / [^\]]*\]$`),
		regexp.MustCompile(ts + `AuFail src:\[127\.0\.0\.1 / \] URI:` + uri + `$`),
		regexp.MustCompile(ts + `AuSuccess src:\[127\.0\.0\.1 / 203\.0\.113\.9\] URI:` + uri + ` inbound:\[` + user + ` / [^\]]* / [^\]]*\]$`),
	}
	// Access-log lines reach stderr within 100 ms (buffered); poll the log.
	var lines []string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(proxy.Process.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		lines = lines[:0]
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "] AuSuccess ") || strings.Contains(l, "] AuFail ") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= len(want) {
			break
		}
		select {
		case <-ctx.Done():
			env.fatalf(t, "%d SIEM lines in the proxy log, want %d", len(lines), len(want))
		case <-tick.C:
		}
	}
	if len(lines) != len(want) {
		env.fatalf(t, "SIEM lines:\n%s\nwant exactly %d (the probes get none)", strings.Join(lines, "\n"), len(want))
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			env.fatalf(t, "SIEM line %d:\n%s\ndoes not match\n%s", i+1, lines[i], re)
		}
	}
	t.Logf("SIEM lines:\n%s", strings.Join(lines, "\n"))
	logText := proxy.Process.Tail(10000)
	for _, secret := range []string{alice, garbage} {
		if strings.Contains(logText, secret) {
			env.fatalf(t, "a token reached the proxy log")
		}
	}
}
