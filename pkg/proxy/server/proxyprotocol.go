package server

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyProtocolHeaderTimeout bounds the wait for a PROXY header after the
// TCP connection is accepted; a peer that sends none in time is closed.
const proxyProtocolHeaderTimeout = 10 * time.Second

func (o *Options) validateProxyProtocol() []error {
	switch {
	case o.ProxyProtocol && len(o.ProxyProtocolTrustedCIDRs) == 0:
		return []error{errors.New("--proxy-protocol needs --proxy-protocol-trusted-cidrs: the load balancers allowed to send PROXY headers")}
	case !o.ProxyProtocol && len(o.ProxyProtocolTrustedCIDRs) > 0:
		return []error{errors.New("--proxy-protocol-trusted-cidrs needs --proxy-protocol")}
	}
	if _, err := o.proxyProtocolPolicy(); err != nil {
		return []error{err}
	}
	return nil
}

// proxyProtocolPolicy is the connection policy of --proxy-protocol: a
// header is required from the trusted CIDRs, every other peer is closed
// (go-proxyproto's TrustProxyHeaderFromRanges). Nil when it is off.
func (o *Options) proxyProtocolPolicy() (proxyproto.ConnPolicyFunc, error) {
	if !o.ProxyProtocol {
		return nil, nil
	}
	policy, err := proxyproto.TrustProxyHeaderFromRanges(o.ProxyProtocolTrustedCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--proxy-protocol-trusted-cidrs: %w", err)
	}
	return policy, nil
}

// withProxyProtocol wraps ln so that accepted connections are read through
// a PROXY protocol header (v1 or v2) according to policy: the connection's
// RemoteAddr is then the header's source address, which the HTTP server
// puts in Request.RemoteAddr. A connection the policy refuses is closed
// and Accept goes on with the next one. Nil policy: ln unchanged.
func withProxyProtocol(ln net.Listener, policy proxyproto.ConnPolicyFunc) net.Listener {
	if policy == nil {
		return ln
	}
	return &proxyproto.Listener{Listener: ln, ConnPolicy: policy, ReadHeaderTimeout: proxyProtocolHeaderTimeout}
}
