package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// proxyProtocolClient is an HTTPS client whose every connection opens with
// a PROXY protocol header (version 1 or 2) naming src as the client, as a
// TCP load balancer sends it; version 0 sends none.
func proxyProtocolClient(rs *runningServer, version byte, src net.Addr) *http.Client {
	tr := rs.client.Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil || version == 0 {
			return c, err
		}
		if _, err := proxyproto.HeaderProxyFromAddrs(version, src, c.RemoteAddr()).WriteTo(c); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func startProxyProtocolServer(t *testing.T, up *apiservertest.Server, p *oidctest.Provider, auditLog string, trusted ...string) *runningServer {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, up, p, func(o *Options) {
		o.ProxyProtocol = true
		o.ProxyProtocolTrustedCIDRs = trusted
		o.Modes.ExtraUserHeaderClientIP = true
		o.Modes.Audit.PolicyFile = policy
		o.Modes.Audit.LogOptions.Path = auditLog
	})
}

// With --proxy-protocol, the address of the PROXY header (v1 and v2, IPv4
// and IPv6) is the client's: the access log, the audit event's sourceIPs
// and the remote-client-ip extra name it, not the load balancer's.
func TestProxyProtocolOriginalAddress(t *testing.T) {
	p := oidctest.New(t)
	up := apiservertest.New(t, nil)
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	rs := startProxyProtocolServer(t, up, p, auditLog, "127.0.0.0/8", "::1/128")
	token := p.IDToken(p.User)
	waitFor(t, "readiness", func() bool { code, _, _ := rs.get(t, rs.ready+"/ready", ""); return code == 200 })
	tests := []struct {
		name    string
		version byte
		src     *net.TCPAddr
	}{
		{"v1 IPv4", 1, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000}},
		{"v2 IPv4", 2, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 9), Port: 50001}},
		{"v2 IPv6", 2, &net.TCPAddr{IP: net.ParseIP("2001:db8::42"), Port: 50002}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			c := proxyProtocolClient(rs, tt.version, src)
			defer c.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodGet, rs.secure+"/api/v1/namespaces/default/pods", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET through a PROXY %d header: %v", tt.version, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			ip := src.IP.String()
			reqs := up.Requests()
			if got := reqs[len(reqs)-1].Header.Get("Impersonate-Extra-Remote-Client-Ip"); got != ip {
				t.Errorf("remote-client-ip extra %q, want %q", got, ip)
			}
			waitFor(t, "the access log line", func() bool { return strings.Contains(rs.accessLog.String(), `"peer":"`+src.String()+`"`) })
			waitFor(t, "the audit event with the address", func() bool {
				b, _ := os.ReadFile(auditLog)
				return strings.Contains(string(b), `"sourceIPs":["`+ip+`"]`)
			})
		})
	}

	t.Run("liveness on the probe port", func(t *testing.T) {
		res, err := http.Get(rs.ready + "/livez")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("probe port /livez = %d", res.StatusCode)
		}
	})

	t.Run("trusted peer without a header is refused", func(t *testing.T) {
		c := proxyProtocolClient(rs, 0, nil)
		defer c.CloseIdleConnections()
		if res, err := c.Get(rs.secure + "/healthz"); err == nil {
			res.Body.Close()
			t.Fatalf("connection without a PROXY header served: %d", res.StatusCode)
		}
	})
}

// A peer outside --proxy-protocol-trusted-cidrs gets its connection closed,
// header or not; the listener keeps serving trusted peers.
func TestProxyProtocolUntrustedPeerIsRefused(t *testing.T) {
	p := oidctest.New(t)
	up := apiservertest.New(t, nil)
	rs := startProxyProtocolServer(t, up, p, filepath.Join(t.TempDir(), "audit.log"), "10.0.0.0/8")
	for _, version := range []byte{0, 1, 2} {
		c := proxyProtocolClient(rs, version, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50000})
		res, err := c.Get(rs.secure + "/healthz")
		c.CloseIdleConnections()
		if err == nil {
			res.Body.Close()
			t.Fatalf("untrusted peer (header v%d) served: %d", version, res.StatusCode)
		}
		var tlsErr *tls.RecordHeaderError
		if !errors.Is(err, io.EOF) && !errors.As(err, &tlsErr) && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("untrusted peer (header v%d): %v, want the connection closed", version, err)
		}
	}
	if len(up.Requests()) != 0 {
		t.Fatalf("requests reached the API server: %+v", up.Requests())
	}
}

func TestProxyProtocolOptions(t *testing.T) {
	tests := []struct {
		name    string
		on      bool
		cidrs   []string
		wantErr string
	}{
		{"off", false, nil, ""},
		{"on with CIDRs", true, []string{"10.0.0.0/8", "fd00::/8", "192.0.2.10"}, ""},
		{"on without CIDRs", true, nil, "--proxy-protocol needs --proxy-protocol-trusted-cidrs"},
		{"CIDRs without on", false, []string{"10.0.0.0/8"}, "--proxy-protocol-trusted-cidrs needs --proxy-protocol"},
		{"bad CIDR", true, []string{"10.0.0.0/33"}, "--proxy-protocol-trusted-cidrs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			o.ProxyProtocol, o.ProxyProtocolTrustedCIDRs = tt.on, tt.cidrs
			err := errors.Join(o.Validate()...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
