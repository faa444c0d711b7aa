package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIPResolver finds the address of the client behind a request: the
// TCP peer, unless the peer is a trusted proxy (--trusted-proxy-cidrs); then
// X-Forwarded-For is read from the right, skipping trusted proxies, and the
// first untrusted entry is the client. Entries left of it were written by
// the client itself and are never used, so a client cannot claim an address.
type ClientIPResolver struct {
	trusted []netip.Prefix
}

// NewClientIPResolver parses the trusted CIDRs.
func NewClientIPResolver(trustedCIDRs []string) (*ClientIPResolver, error) {
	p, err := parseCIDRs(trustedCIDRs)
	if err != nil {
		return nil, err
	}
	return &ClientIPResolver{trusted: p}, nil
}

func (c *ClientIPResolver) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client IP as text (IPv6 without brackets or zone),
// or "" when the peer address cannot be parsed.
func (c *ClientIPResolver) Resolve(r *http.Request) string {
	peer, ok := parseAddr(r.RemoteAddr, true)
	if !ok {
		return ""
	}
	if !c.isTrusted(peer) {
		return peer.String()
	}
	// The peer is a trusted proxy: walk X-Forwarded-For from the right.
	var entries []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		entries = append(entries, strings.Split(v, ",")...)
	}
	last := peer // the nearest hop we can vouch for
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseAddr(strings.TrimSpace(entries[i]), false)
		if !ok {
			// A trusted proxy always appends a valid address; garbage here
			// means nothing further left can be believed.
			return last.String()
		}
		if !c.isTrusted(a) {
			return a.String()
		}
		last = a
	}
	return last.String()
}

// parseAddr reads an IP, optionally with a port ("1.2.3.4:5", "[::1]:5"),
// and normalises it: IPv4-mapped IPv6 becomes IPv4, zones are dropped.
func parseAddr(s string, withPort bool) (netip.Addr, bool) {
	if withPort || strings.HasPrefix(s, "[") {
		if host, _, err := net.SplitHostPort(s); err == nil {
			s = host
		} else if withPort {
			s = strings.Trim(s, "[]")
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
