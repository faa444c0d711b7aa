package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/server"
)

// TestMain serves the secure port in this test binary when
// OIDC_PROXY_TEST_SERVE is set (for a test that needs its own GODEBUG),
// printing the address and serving until standard input closes.
func TestMain(m *testing.M) {
	if os.Getenv("OIDC_PROXY_TEST_SERVE") != "" {
		if err := serveUntilStdinCloses(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveUntilStdinCloses() error {
	o := NewOptions()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	o.SecureServing.Listener = ln
	o.SecureServing.ServerCert.CertDirectory = ""
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		return err
	}
	var info *server.SecureServingInfo
	if err := o.SecureServing.ApplyTo(&info); err != nil {
		return err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv, err := serveSecure(context.Background(), info, nil, ok, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// In FIPS 140-3 mode (what a GOFIPS140 build runs in by default) the
// secure port negotiates only FIPS-approved TLS: crypto/tls's own
// restriction, which the serving configuration (and --tls-cipher-suites)
// does not widen. ChaCha20-Poly1305 and an X25519-only key exchange are
// refused; AES-GCM over P-256 is served. Without FIPS mode all are served.
func TestSecurePortTLSInFIPSMode(t *testing.T) {
	tests := []struct {
		name string
		cfg  *tls.Config
		fips bool // served in FIPS mode
	}{
		{"TLS 1.2 AES-128-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.3 P-256", &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP256}}, true},
		{"TLS 1.2 ChaCha20-Poly1305", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}, false},
		{"TLS 1.3 X25519 only", &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}, false},
	}
	for _, mode := range []string{"fips140=off", "fips140=on"} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "OIDC_PROXY_TEST_SERVE=1", "GODEBUG="+mode)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("%s: no address from the serving process: %v", mode, err)
		}
		addr = strings.TrimSpace(addr)
		for _, tt := range tests {
			cfg := tt.cfg.Clone()
			cfg.InsecureSkipVerify = true // the handshake's parameters are under test, not the certificate
			conn, err := tls.Dial("tcp", addr, cfg)
			served := err == nil
			if served {
				conn.Close()
			}
			if want := tt.fips || mode == "fips140=off"; served != want {
				t.Errorf("%s, %s: served=%v (%v), want %v", mode, tt.name, served, err, want)
			}
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: serving process: %v", mode, err)
		}
	}
}
