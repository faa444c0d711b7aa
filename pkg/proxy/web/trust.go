package web

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/kube-oidc/kube-oidc/pkg/discovery"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
)

// handout is what the page hands out for the certificate the proxy serves
// now: the setup command, and the kubeconfig that command writes.
type handout struct {
	// fingerprint is what setup's --ca-fingerprint pins: the top
	// certificate of the served chain; "" when the system roots verify the
	// proxy (setup then needs none).
	fingerprint string
	setup       string
	kubeconfig  []byte
}

// handouts computes the handout as `kubectl oidc setup PROXY_URL
// --ca-fingerprint` (pkg/discovery's Fetch) works it out on first contact:
// the pinned certificate is the top of the served chain; the kubeconfig
// trusts the document's CA bundle, else nothing when the system roots
// verify the proxy, else the pinned certificate. It is remembered per
// served chain (the serving certificate may be rotated).
type handouts struct {
	proxyURL   *url.URL
	doc        *discovery.Document
	servedPEM  func() []byte
	systemPool *x509.CertPool // nil: the system roots

	mu   sync.Mutex
	last string
	h    *handout
}

func (hs *handouts) current() (*handout, error) {
	var served []byte
	if hs.servedPEM != nil {
		served = hs.servedPEM()
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.h != nil && hs.last == string(served) {
		return hs.h, nil
	}
	h, err := hs.compute(served)
	if err != nil {
		return nil, err
	}
	hs.last, hs.h = string(served), h
	return h, nil
}

func (hs *handouts) compute(served []byte) (*handout, error) {
	proxyURL := hs.proxyURL.String()
	chain, err := parseChain(served)
	if err != nil {
		return nil, fmt.Errorf("the serving certificate: %w", err)
	}
	if len(chain) == 0 && hs.doc.CertificateAuthorityData != "" {
		// No served chain known: the document's CA, as setup pins it when
		// the proxy serves it.
		top, err := discovery.LastCertificate([]byte(hs.doc.CertificateAuthorityData))
		if err != nil {
			return nil, fmt.Errorf("the discovery document's CA: %w", err)
		}
		chain = []*x509.Certificate{top}
	}
	h := &handout{}
	var caPEM []byte
	systemVerified := len(chain) > 0 && verify(chain, hs.systemPool, hs.proxyURL.Hostname()) == nil
	switch {
	case hs.doc.CertificateAuthorityData != "":
		caPEM = []byte(hs.doc.CertificateAuthorityData)
	case len(chain) > 0 && !systemVerified:
		caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[len(chain)-1].Raw})
	}
	if len(chain) > 0 && !systemVerified {
		h.fingerprint = discovery.Fingerprint(chain[len(chain)-1])
	}
	h.setup = "kubectl oidc setup " + proxyURL
	if h.fingerprint != "" {
		h.setup += " --ca-fingerprint " + h.fingerprint
	}
	if h.kubeconfig, err = kubeconfig.ProxyKubeconfig(proxyURL, caPEM, hs.doc); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return h, nil
}

func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return chain, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
}

// verify is discovery's check: the leaf with the rest as intermediates,
// for host, against roots (nil: the system roots).
func verify(chain []*x509.Certificate, roots *x509.CertPool, host string) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}
