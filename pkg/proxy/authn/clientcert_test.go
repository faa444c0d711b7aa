package authn

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/internal/testpki"
)

// An issuer that requires TLS client authentication is discovered only
// with --oidc-client-cert-file/--oidc-client-key-file, in both
// configuration forms.
func TestIssuerClientCertificate(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t)
	p := oidctest.NewWithClientCA(t, ca.Pool())
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	ca.WriteClientCert(t, "proxy-a", certFile, keyFile)
	configFile := filepath.Join(dir, "authn.yaml")
	writeConfig(t, configFile, authConfig(v1, simpleJWT(p, "p:")))

	forms := map[string]func() *Options{
		"flags": func() *Options { return legacyOptions(t, p) },
		"config file": func() *Options {
			o := NewOptions()
			o.AuthenticationConfigFile = configFile
			return o
		},
	}
	for name, form := range forms {
		// Without the client certificate the issuer refuses the
		// connection: started first, it is still not ready when the
		// one with the certificate is.
		without, _ := newTestAuthenticator(t, form(), false)
		o := form()
		o.ClientCertFile, o.ClientKeyFile = certFile, keyFile
		a, _ := newTestAuthenticator(t, o, true)
		mustAuthenticate(t, a, p.IDToken(p.User))
		if err := without.HealthCheck(); err == nil {
			t.Fatalf("%s: issuer discovered without a client certificate", name)
		}
		if _, ok, _ := without.AuthenticateToken(t.Context(), p.IDToken(p.User)); ok {
			t.Fatalf("%s: token accepted without the issuer's keys", name)
		}
	}
	if p.Count("client-cert:proxy-a") == 0 {
		t.Fatal("the issuer saw no request with the client certificate")
	}
}

func TestIssuerClientCertificateOptions(t *testing.T) {
	p := oidctest.New(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	ca.WriteClientCert(t, "x", certFile, keyFile)
	tests := []struct {
		name, cert, key, wantErr string
	}{
		{"both", certFile, keyFile, ""},
		{"cert only", certFile, "", "--oidc-client-cert-file and --oidc-client-key-file must be given together"},
		{"key only", "", keyFile, "--oidc-client-cert-file and --oidc-client-key-file must be given together"},
		{"missing file", filepath.Join(dir, "nope.crt"), keyFile, "--oidc-client-cert-file"},
		{"key of another certificate", certFile, certFile, "--oidc-client-cert-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := legacyOptions(t, p)
			o.ClientCertFile, o.ClientKeyFile = tt.cert, tt.key
			errs := o.Validate()
			err := fmt.Sprint(errs)
			if tt.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("Validate: %v", errs)
				}
				return
			}
			if !strings.Contains(err, tt.wantErr) {
				t.Fatalf("Validate: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// The client certificate is re-read when its files change: while a loop
// authenticates fresh tokens (each a cache miss verified with the issuer's
// keys), the certificate is replaced and the issuer rotates its signing key
// and drops its connections, so the JWKS is fetched again over a new
// connection: it carries the new certificate, and no authentication fails.
func TestIssuerClientCertificateReload(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t)
	p := oidctest.NewWithClientCA(t, ca.Pool())
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	ca.WriteClientCert(t, "before", certFile, keyFile)
	o := legacyOptions(t, p)
	o.ClientCertFile, o.ClientKeyFile = certFile, keyFile
	a, _ := newTestAuthenticator(t, o, true)

	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		ok, fail atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			tok := p.IDToken(p.User, func(c map[string]any) { c["jti"] = fmt.Sprint("loop-", i) })
			if _, authOK, err := a.AuthenticateToken(t.Context(), tok); authOK {
				ok.Add(1)
			} else {
				fail.Add(1)
				mu.Lock()
				failures = append(failures, fmt.Sprint(err))
				mu.Unlock()
			}
		}
	}()
	waitFor(t, "requests before the rotation", func() bool { return ok.Load() > 5 })
	ca.WriteClientCert(t, "after", certFile, keyFile)
	// dynamiccertificates notices the change; then a new connection
	// must carry the new certificate.
	waitFor(t, "the new certificate in use", func() bool {
		p.RotateSigningKey(t)
		p.CloseClientConnections()
		before := ok.Load()
		waitFor(t, "progress", func() bool { return ok.Load() > before+2 })
		return p.Count("client-cert:after") > 0
	})
	after := ok.Load()
	waitFor(t, "requests after the rotation", func() bool { return ok.Load() > after+5 })
	stop.Store(true)
	wg.Wait()
	if n := fail.Load(); n > 0 {
		t.Fatalf("%d of %d authentications failed during the rotation: %v", n, n+ok.Load(), failures[:min(3, len(failures))])
	}
}
