package login

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// stalledIssuer accepts connections and never answers (a hung identity
// provider, a captive proxy); it returns the issuer URL.
func stalledIssuer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	return "https://" + l.Addr().String() + "/dex"
}

func TestStalledIssuerIsNamedAndGivenUpOn(t *testing.T) {
	for _, grant := range []string{GrantPassword, GrantClientCredentials} {
		t.Run(grant, func(t *testing.T) {
			issuer := stalledIssuer(t)
			o := Options{
				IssuerURL: issuer, ClientID: "kubectl", ClientSecret: "s", GrantType: grant,
				Username: "alice", Password: "pw",
				TokenCacheDir: t.TempDir(), TokenCacheStorage: tokencache.KindDisk,
				RequestTimeout: 400 * time.Millisecond, RequestNotice: 100 * time.Millisecond,
			}
			stderr := &syncBuffer{}
			start := time.Now()
			_, err := get(t.Context(), o, UI{Err: stderr, Interactive: false}, testEnv(newClock()), modeGet)
			took := time.Since(start)
			host := strings.TrimPrefix(strings.TrimSuffix(issuer, "/dex"), "https://")
			wantErr(t, err, host, "did not answer within 400ms", "--oidc-request-timeout")
			if took > 5*time.Second {
				t.Fatalf("gave up after %s, want about 400ms", took)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], host) || !strings.Contains(lines[0], "no answer") {
				t.Fatalf("stderr, want one line naming %s:\n%s", host, stderr)
			}
		})
	}
}
