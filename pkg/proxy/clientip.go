package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
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
	if c == nil {
		return false
	}
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// TrustsPeer tells whether the request's TCP peer is in the trusted CIDRs
// (a nil resolver trusts none).
func (c *ClientIPResolver) TrustsPeer(r *http.Request) bool {
	peer, ok := parseAddr(r.RemoteAddr, true)
	return ok && c.isTrusted(peer)
}

// Resolve returns the client IP as text (IPv6 without brackets or zone),
// or "" when the peer address cannot be parsed. A nil resolver trusts no
// proxy.
func (c *ClientIPResolver) Resolve(r *http.Request) string {
	client, _, ok := c.resolve(r)
	if !ok {
		return ""
	}
	return client.String()
}

// resolve returns the client and the hops between it and the peer that the
// resolver vouches for (the X-Forwarded-For entries right of the client,
// normalised, nearest last); ok is false when the peer address cannot be
// parsed.
func (c *ClientIPResolver) resolve(r *http.Request) (client netip.Addr, hops []netip.Addr, ok bool) {
	peer, ok := parseAddr(r.RemoteAddr, true)
	if !ok {
		return netip.Addr{}, nil, false
	}
	if !c.isTrusted(peer) {
		return peer, nil, true
	}
	// The peer is a trusted proxy: walk X-Forwarded-For from the right.
	var entries []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		entries = append(entries, strings.Split(v, ",")...)
	}
	last, atPeer := peer, true // the nearest hop we can vouch for
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseAddr(strings.TrimSpace(entries[i]), false)
		if !ok {
			// A trusted proxy always appends a valid address; garbage here
			// means nothing further left can be believed.
			break
		}
		if !atPeer {
			hops = append(hops, last)
		}
		last, atPeer = a, false
		if !c.isTrusted(a) {
			break
		}
	}
	slices.Reverse(hops)
	return last, hops, true
}

// forwardedHeaders are the request headers k8s.io/apimachinery's SourceIPs
// (the audit event's sourceIPs) reads a client address from.
// WithClientAddress rewrites X-Forwarded-For and removes X-Real-Ip, which
// the resolver never believes.
var forwardedHeaders = [...]string{"X-Forwarded-For", "X-Real-Ip"}

// WithClientAddress makes every later reader of the request see the client
// address c resolves and nothing a client claimed: X-Forwarded-For from an
// untrusted peer is removed, from a trusted one it is rewritten to the
// resolved client followed by the trusted hops ("client, hop1, hop2",
// normalised), so that kube-apiserver's SourceIPs (the audit event's
// sourceIPs), the access log, the client-IP extra (Resolve is idempotent on
// the rewritten header) and the upstream X-Forwarded-For all start with
// the same resolved client. X-Real-Ip is always removed. A request without
// either header is not touched.
func WithClientAddress(next http.Handler, c *ClientIPResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.sanitize(r)
		next.ServeHTTP(w, r)
	})
}

func (c *ClientIPResolver) sanitize(r *http.Request) {
	present := false
	for _, k := range forwardedHeaders {
		if _, ok := r.Header[k]; ok {
			present = true
			break
		}
	}
	if !present {
		return
	}
	client, hops, ok := c.resolve(r)
	for _, k := range forwardedHeaders {
		delete(r.Header, k)
	}
	if !ok {
		return
	}
	peer, _ := parseAddr(r.RemoteAddr, true)
	if client == peer && len(hops) == 0 {
		return // the peer alone: SourceIPs reads it from RemoteAddr
	}
	b := make([]byte, 0, 16*(len(hops)+1))
	b = client.AppendTo(b)
	for _, h := range hops {
		b = append(b, ", "...)
		b = h.AppendTo(b)
	}
	r.Header["X-Forwarded-For"] = []string{string(b)}
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
