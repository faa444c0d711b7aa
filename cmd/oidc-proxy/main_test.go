package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func execute(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	out, _, err := execute(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{
		// secure serving (kube-apiserver names)
		"--secure-port", "--bind-address", "--tls-cert-file", "--tls-private-key-file", "--tls-min-version", "--tls-cipher-suites", "--cert-dir",
		// authentication (pkg/proxy/authn)
		"--oidc-issuer-url", "--oidc-client-id", "--oidc-ca-file", "--oidc-username-claim", "--oidc-username-prefix", "--oidc-groups-claim",
		"--oidc-groups-prefix", "--oidc-required-claim", "--oidc-signing-algs", "--authentication-config", "--token-cache-ttl", "--allow-system-identities",
		// the proxy's own credentials (kubectl names)
		"--kubeconfig", "--server", "--token", "--certificate-authority", "--client-certificate", "--client-key", "--insecure-skip-tls-verify",
		"--tls-server-name", "--context", "--cluster", "--user",
		"--upstream-dial-timeout", "--upstream-tls-handshake-timeout", "--upstream-response-header-timeout",
		// modes (issue 6)
		"--disable-impersonation", "--token-passthrough", "--token-passthrough-audiences", "--extra-user-headers",
		"--extra-user-header-client-ip", "--trusted-proxy-cidrs", "--flush-interval", "--impersonation-original-user-extra-prefix",
		"--impersonation-review-timeout",
		// load balancers, issuer client certificate
		"--proxy-protocol", "--proxy-protocol-trusted-cidrs", "--oidc-client-cert-file", "--oidc-client-key-file",
		// audit (kube-apiserver names)
		"--audit-policy-file", "--audit-log-path", "--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize",
		"--audit-log-format", "--audit-webhook-config-file", "--audit-log-mode", "--audit-webhook-mode",
		// operations
		"--readiness-probe-port", "--metrics-serving-address", "--shutdown-delay-duration", "--shutdown-timeout", "--version",
		"--gc-heap-floor",
		// logging (pkg/proxy/logging)
		"--log-format", "-v, --v",
		// tracing (pkg/proxy/tracing)
		"--tracing-config-file", "--tracing-protocol",
		// discovery (pkg/discovery)
		"--discovery-client-id", "--discovery-issuer-url", "--discovery-scopes", "--discovery-extra-params", "--discovery-grant-types",
		"--discovery-cluster-name", "--discovery-ca-file", "--discovery-issuer-ca-file",
		// sign-in page (pkg/proxy/web)
		"--web-client-id", "--web-client-secret-file", "--web-redirect-url", "--web-extra-scopes",
	} {
		if !strings.Contains(out, flag+" ") {
			t.Errorf("--help does not document %s", flag)
		}
	}
	for _, absent := range []string{"--as ", "--as-group", "--as-uid", "--namespace", "--request-timeout", " -s,", " -n,"} {
		if strings.Contains(out, absent) {
			t.Errorf("--help offers %q, which the proxy must not have", absent)
		}
	}
	if !strings.Contains(out, "(default 6443)") || !strings.Contains(out, "(default 8080)") {
		t.Error("--secure-port / --readiness-probe-port defaults not shown")
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := execute(t, args...)
		if err != nil || !strings.HasPrefix(out, "oidc-proxy ") {
			t.Errorf("%v: %q %v", args, out, err)
		}
	}
}

func TestBadFlagsFailWithOneClearError(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{"no authentication configured", []string{"--kubeconfig=/nonexistent"}, "invalid flags"},
		{"both authentication forms", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--authentication-config=/x"}, "authentication-config"},
		{"bad probe port", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--readiness-probe-port=-2"}, "--readiness-probe-port"},
		{"positional argument", []string{"extra"}, "unknown command"},
		{"extras without impersonation", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--disable-impersonation", "--extra-user-headers=a=b"}, "--disable-impersonation"},
		{"negative heap floor", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--gc-heap-floor=-1Mi"}, "--gc-heap-floor must not be negative"},
		{"huge heap floor", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--gc-heap-floor=2Ti"}, "--gc-heap-floor must be at most 1Ti"},
		{"heap floor not a quantity", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--gc-heap-floor=lots"}, "not a quantity"},
		{"bad trusted proxy CIDR", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--trusted-proxy-cidrs=nope"}, "--trusted-proxy-cidrs"},
		{"sign-in page without discovery", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--web-client-id=w",
			"--web-client-secret-file=/s", "--web-redirect-url=https://p.example.com/web/callback"}, "--web-client-id needs --discovery-client-id"},
		{"sign-in page without its secret", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--discovery-client-id=k", "--web-client-id=w",
			"--web-redirect-url=https://p.example.com/web/callback"}, "--web-client-id needs --web-client-secret-file"},
		{"sign-in page redirect elsewhere", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--discovery-client-id=k", "--web-client-id=w",
			"--web-client-secret-file=/s", "--web-redirect-url=https://p.example.com/callback"}, "--web-redirect-url"},
		{"sign-in page settings without the page", []string{"--oidc-issuer-url=https://a", "--oidc-client-id=c", "--web-redirect-url=https://p.example.com/web/callback"}, "need --web-client-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execute(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
