package proxy

import (
	"net/http"
	"slices"
	"testing"
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
