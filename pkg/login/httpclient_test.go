package login

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
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

func TestRequestHeadersAndRenegotiationReachTheProvider(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	c, err := newHTTPClient(httpClientOptions{
		headers:       map[string]string{"Origin": "http://localhost:8000", "X-Extra": "1"},
		renegotiation: tls.RenegotiateOnceAsClient,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Origin", "overridden")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-got
	if h.Get("Origin") != "http://localhost:8000" || h.Get("X-Extra") != "1" {
		t.Errorf("headers %v, want --oidc-request-header's", h)
	}
	if req.Header.Get("Origin") != "overridden" {
		t.Error("the caller's request was changed")
	}
	tr := c.Transport
	for {
		switch v := tr.(type) {
		case *headerTransport:
			tr = v.next
			continue
		case *http.Transport:
			if v.TLSClientConfig.Renegotiation != tls.RenegotiateOnceAsClient {
				t.Errorf("renegotiation %v", v.TLSClientConfig.Renegotiation)
			}
		default:
			t.Fatalf("transport %T", v)
		}
		break
	}
}
