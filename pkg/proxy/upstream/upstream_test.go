package upstream

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"k8s.io/client-go/rest"
)

// The proxy's own credential is set by client-go's wrappers for every kind
// of configuration, on client-go's copy of the request.
func TestCredentialsAreClientGos(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("token-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    rest.Config
		preset *string // Authorization already on the request
		want   string
	}{
		{name: "static token", cfg: rest.Config{BearerToken: "static-token"}, want: "Bearer static-token"},
		{name: "token file (in-cluster service account)", cfg: rest.Config{BearerTokenFile: tokenFile}, want: "Bearer token-from-file"},
		{name: "token and token file: the file wins", cfg: rest.Config{BearerToken: "static-token", BearerTokenFile: tokenFile}, want: "Bearer token-from-file"},
		{name: "an Authorization already set is kept", cfg: rest.Config{BearerToken: "static-token"}, preset: ptr("Bearer other"), want: "Bearer other"},
		{name: "an empty Authorization is replaced", cfg: rest.Config{BearerToken: "static-token"}, preset: ptr(""), want: "Bearer static-token"},
		{name: "basic auth goes through client-go", cfg: rest.Config{Username: "u", Password: "p"}, want: "Basic dTpw"},
		{name: "token with a user agent goes through client-go", cfg: rest.Config{BearerToken: "static-token", UserAgent: "ua"}, want: "Bearer static-token"},
		{name: "no credential (client certificate)", cfg: rest.Config{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := func(wrap func(http.RoundTripper) (http.RoundTripper, error)) (got string, rt http.RoundTripper, caller http.Header) {
				rt, err := wrap(roundTripperFunc(func(r *http.Request) (*http.Response, error) {
					got = r.Header.Get("Authorization")
					return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
				}))
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodGet, "https://apiserver/api", nil)
				if tt.preset != nil {
					req.Header["Authorization"] = []string{*tt.preset}
				}
				if _, err := rt.RoundTrip(req); err != nil {
					t.Fatal(err)
				}
				return got, rt, req.Header
			}
			cfg := tt.cfg
			ours, _, caller := send(func(next http.RoundTripper) (http.RoundTripper, error) { return withCredentials(&cfg, next) })
			if ours != tt.want {
				t.Fatalf("Authorization %q, want %q", ours, tt.want)
			}
			if tt.preset == nil && caller.Get("Authorization") != "" {
				t.Fatalf("the caller's request was changed: %v", caller)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestCredentialsTokenFileMissing(t *testing.T) {
	cfg := rest.Config{BearerTokenFile: filepath.Join(t.TempDir(), "absent")}
	if _, err := withCredentials(&cfg, http.DefaultTransport); err == nil {
		t.Fatal("a missing token file was accepted")
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHTTP2StreamWindowIsBounded reads the SETTINGS the HTTP/2 transport
// sends the API server: the stream window it advertises is all the data a
// stream whose client stopped reading can make the proxy hold.
func TestHTTP2StreamWindowIsBounded(t *testing.T) {
	borrowed := httptest.NewTLSServer(nil) // for its certificate
	borrowed.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: borrowed.TLS.Certificates, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &rest.Config{Host: "https://" + ln.Addr().String(), BearerToken: "proxy", TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: borrowed.Certificate().Raw}),
	}}
	a, err := New(cfg, Timeouts{Dial: 5 * time.Second, TLSHandshake: 5 * time.Second, ResponseHeader: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api", nil)
		if res, err := a.HTTP2.RoundTrip(req); err == nil {
			res.Body.Close()
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil || string(preface) != http2.ClientPreface {
		t.Fatalf("preface %q: %v", preface, err)
	}
	f, err := http2.NewFramer(nil, conn).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	settings, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	window, ok := settings.Value(http2.SettingInitialWindowSize)
	if !ok || window > MaxStreamBuffer {
		t.Fatalf("initial stream window %d (sent: %v), want at most %d", window, ok, MaxStreamBuffer)
	}
}
