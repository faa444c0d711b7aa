package proxy

import (
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

func TestClientIPResolver(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		peer    string
		xff     []string
		want    string
	}{
		{"no trusted proxies: the peer, X-Forwarded-For ignored", nil, "203.0.113.9:5555", []string{"1.1.1.1"}, "203.0.113.9"},
		{"untrusted peer: its claim is ignored", []string{"10.0.0.0/8"}, "203.0.113.9:5555", []string{"10.1.1.1"}, "203.0.113.9"},
		{"trusted peer: right-most entry", []string{"10.0.0.0/8"}, "10.0.0.2:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"trusted chain: right-most untrusted entry, the client's own claim left of it ignored",
			[]string{"10.0.0.0/8"}, "10.0.0.2:443", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5"}, "198.51.100.7"},
		{"several X-Forwarded-For headers are one list", []string{"10.0.0.0/8"}, "10.0.0.2:443", []string{"6.6.6.6", "198.51.100.7", "10.0.0.5"}, "198.51.100.7"},
		{"all entries trusted: the left-most", []string{"10.0.0.0/8"}, "10.0.0.2:443", []string{"10.9.9.9, 10.0.0.5"}, "10.9.9.9"},
		{"trusted peer without X-Forwarded-For: the peer", []string{"10.0.0.0/8"}, "10.0.0.2:443", nil, "10.0.0.2"},
		{"garbage after trusted hops: the last trusted hop", []string{"10.0.0.0/8"}, "10.0.0.2:443", []string{"1.2.3.4, not-an-ip, 10.0.0.5"}, "10.0.0.5"},
		{"IPv6 peer", nil, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv6 zone dropped", nil, "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"IPv6 trusted proxy and IPv6 client", []string{"fd00::/8"}, "[fd00::2]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped IPv6 peer matches an IPv4 CIDR", []string{"10.0.0.0/8"}, "[::ffff:10.0.0.2]:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"X-Forwarded-For entry with a port", []string{"10.0.0.0/8"}, "10.0.0.2:443", []string{"[2001:db8::9]:1234"}, "2001:db8::9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClientIPResolver(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.Resolve(r); got != tt.want {
				t.Errorf("client IP %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtraUserHeadersAndClientIP(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		header  http.Header
		want    map[string][]string
		wantErr string
	}{
		{name: "extras from the flag, repeated keys collect values",
			args: []string{"--extra-user-headers=cluster=prod,team=a", "--extra-user-headers=team=b"},
			want: map[string][]string{"cluster": {"prod"}, "team": {"a", "b"}}},
		{name: "client IP is the TCP peer, X-Forwarded-For from an untrusted peer ignored",
			args:   []string{"--extra-user-header-client-ip"},
			header: http.Header{"X-Forwarded-For": {"6.6.6.6"}},
			want:   map[string][]string{"remote-client-ip": {"127.0.0.1"}}},
		{name: "client IP from X-Forwarded-For behind a trusted proxy",
			args:   []string{"--extra-user-header-client-ip", "--trusted-proxy-cidrs=127.0.0.0/8"},
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7"}},
			want:   map[string][]string{"remote-client-ip": {"198.51.100.7"}}},
		{name: "client IP also for kubectl --as, next to the real user",
			args:   []string{"--extra-user-header-client-ip"},
			header: http.Header{"Impersonate-User": {"bob"}},
			want: map[string][]string{"remote-client-ip": {"127.0.0.1"}, "originaluser.jetstack.io-user": {alice.Name},
				"originaluser.jetstack.io-groups": {"dev", "ops"}}},
		{name: "a client cannot impersonate the client-IP extra",
			args:    []string{"--extra-user-header-client-ip"},
			header:  http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-Remote-Client-Ip": {"1.2.3.4"}},
			wantErr: `the extra "remote-client-ip" is set by oidc-proxy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewModeOptions()
			fs := pflagSet(o)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			api := &fakeKubeAPI{allow: allowExcept()}
			up := newUpstream(t, api.handler)
			p := newModesProxy(t, up, newFakeAuth(), o)
			hdr := bearer(aliceToken)
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/pods", hdr)
			if tt.wantErr != "" {
				st := decodeStatus(t, res, body, http.StatusForbidden)
				if st.Message == "" || !contains(st.Message, tt.wantErr) {
					t.Errorf("message %q, want %q", st.Message, tt.wantErr)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("code %d: %s", res.StatusCode, body)
			}
			f := forwarded(up)
			if len(f) != 1 {
				t.Fatalf("forwarded %d", len(f))
			}
			got := extrasOf(t, f[0].Header)
			if len(got) != len(tt.want) {
				t.Errorf("extras %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("extra %q = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestWithClientAddressRewritesForwardedHeaders(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		peer    string
		header  http.Header
		want    http.Header // X-Forwarded-For and X-Real-Ip after the filter
	}{
		{"no headers: untouched", []string{"10.0.0.0/8"}, "10.0.0.2:1", http.Header{}, http.Header{}},
		{"untrusted peer: dropped", nil, "203.0.113.9:1",
			http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Real-Ip": {"7.7.7.7"}}, http.Header{}},
		{"trusted peer: client and trusted hops only, normalised, one header",
			[]string{"10.0.0.0/8"}, "10.0.0.2:1",
			http.Header{"X-Forwarded-For": {"6.6.6.6, [::ffff:198.51.100.7]:99", " 10.0.0.5 "}, "X-Real-Ip": {"7.7.7.7"}},
			http.Header{"X-Forwarded-For": {"198.51.100.7, 10.0.0.5"}}},
		{"trusted peer repeating its own address", []string{"10.0.0.0/8"}, "10.0.0.2:1",
			http.Header{"X-Forwarded-For": {"198.51.100.7, 10.0.0.2"}},
			http.Header{"X-Forwarded-For": {"198.51.100.7, 10.0.0.2"}}},
		{"garbage right of the client: the last trusted hop", []string{"10.0.0.0/8"}, "10.0.0.2:1",
			http.Header{"X-Forwarded-For": {"198.51.100.7, junk, 10.0.0.5"}},
			http.Header{"X-Forwarded-For": {"10.0.0.5"}}},
		{"garbage next to the peer: the peer alone", []string{"10.0.0.0/8"}, "10.0.0.2:1",
			http.Header{"X-Forwarded-For": {"198.51.100.7, junk"}}, http.Header{}},
		{"unparsable peer: dropped", []string{"10.0.0.0/8"}, "@unix",
			http.Header{"X-Forwarded-For": {"198.51.100.7"}}, http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClientIPResolver(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr, r.Header = tt.peer, tt.header.Clone()
			wantClient := c.Resolve(r)
			var seen *http.Request
			WithClientAddress(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r }), c).ServeHTTP(nil, r)
			got := http.Header{}
			for _, k := range []string{"X-Forwarded-For", "X-Real-Ip"} {
				if v, ok := seen.Header[k]; ok {
					got[k] = v
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("headers %q, want %q", got, tt.want)
			}
			if c.Resolve(seen) != wantClient {
				t.Errorf("Resolve after the filter %q, before %q", c.Resolve(seen), wantClient)
			}
		})
	}
}

// FuzzClientAddress holds WithClientAddress against k8s.io/apimachinery's
// SourceIPs (what the audit event's sourceIPs are made of): after the
// filter, the first source IP is the address Resolve found before it,
// Resolve gives the same answer again, every source IP is the client, a
// trusted hop or the peer, and no X-Real-Ip is left.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.0.0.0/8", "10.0.0.2:443", "6.6.6.6, 198.51.100.7", "10.0.0.5", "8.8.8.8")
	f.Add("", "203.0.113.9:1", "6.6.6.6", "", "")
	f.Add("fd00::/8,10.0.0.0/8", "[fd00::2]:443", "[2001:db8::9]:1234, junk", "::ffff:10.0.0.9", "")
	f.Add("0.0.0.0/0", "1.1.1.1:1", "010.1.1.1, 1.1.1.1,,", "fe80::1%eth0", "1.1.1.1")
	f.Add("127.0.0.0/8", "127.0.0.1:1", " ", "\t6.6.6.6", "x")
	f.Fuzz(func(t *testing.T, trusted, peer, xff1, xff2, realIP string) {
		var cidrs []string
		if trusted != "" {
			cidrs = strings.Split(trusted, ",")
		}
		c, err := NewClientIPResolver(cidrs)
		if err != nil {
			return
		}
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				r.Header.Add("X-Forwarded-For", v)
			}
		}
		if realIP != "" {
			r.Header.Set("X-Real-Ip", realIP)
		}
		want := c.Resolve(r)
		client, hops, _ := c.resolve(r)
		c.sanitize(r)
		if got := c.Resolve(r); got != want {
			t.Fatalf("Resolve after the filter %q, before %q", got, want)
		}
		if _, ok := r.Header["X-Real-Ip"]; ok {
			t.Fatalf("X-Real-Ip left")
		}
		if len(r.Header.Values("X-Forwarded-For")) > 1 {
			t.Fatalf("several X-Forwarded-For headers left: %q", r.Header.Values("X-Forwarded-For"))
		}
		ips := utilnet.SourceIPs(r)
		if want == "" {
			// Unparsable peer: no client address; SourceIPs may still
			// read RemoteAddr its own (sloppier) way, never a header.
			if len(r.Header.Values("X-Forwarded-For")) > 0 {
				t.Fatalf("X-Forwarded-For left without a resolved client")
			}
			return
		}
		if len(ips) == 0 {
			t.Fatalf("no source IPs")
		}
		first, _ := netip.AddrFromSlice(ips[0])
		if first.Unmap().String() != want {
			t.Fatalf("source IPs %v, first is not the resolved client %q", ips, want)
		}
		allowed := map[netip.Addr]bool{client: true}
		for _, h := range hops {
			allowed[h] = true
		}
		if p, ok := parseAddr(peer, true); ok {
			allowed[p] = true
		}
		for _, ip := range ips {
			a, _ := netip.AddrFromSlice(ip)
			if !allowed[a.Unmap()] {
				t.Fatalf("source IP %v is neither the client, a trusted hop nor the peer (%v)", ip, ips)
			}
		}
	})
}
