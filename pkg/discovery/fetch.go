package discovery

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxDocumentSize bounds the response read from the proxy.
const maxDocumentSize = 1 << 20

// fetchTimeout bounds each network step of Fetch (not the person's answer).
const fetchTimeout = 30 * time.Second

// CertInfo describes the certificate a person is asked to trust.
type CertInfo struct {
	// Fingerprint is "sha256:<hex>" of the DER certificate.
	Fingerprint string
	Subject     string
	Issuer      string
	NotAfter    time.Time
	// SelfSigned is true when the certificate signed itself (typical of a
	// proxy that generated its own certificate).
	SelfSigned bool
}

// ErrUntrusted means the proxy's certificate could not be trusted: no
// --certificate-authority, no --ca-fingerprint and nobody to ask.
var ErrUntrusted = errors.New("cannot verify the proxy's TLS certificate")

// Trust says how the first contact's TLS is verified: with CAPEM when
// given; else the served chain must contain a certificate whose SHA-256
// fingerprint is Fingerprint; else Confirm is asked about the top
// certificate of the served chain. Confirm nil means nobody can be asked.
type Trust struct {
	CAPEM       []byte
	Fingerprint string
	Confirm     func(ctx context.Context, c CertInfo) (bool, error)
	// ServerName overrides the TLS server name (--server-tls-server-name).
	ServerName string
	// Roots are the CAs that need no confirmation when no CAPEM is given
	// (nil: the system roots). A proxy with a publicly trusted certificate
	// is used like any HTTPS site.
	Roots *x509.CertPool
}

// Result is a fetched, trusted document.
type Result struct {
	Document *Document
	// ServerCAPEM is the bundle the kubeconfig's cluster should trust for
	// the proxy: the document's bundle, else Trust.CAPEM, else the pinned
	// certificate; nil when the system roots verify the proxy.
	ServerCAPEM []byte
}

// Fingerprint returns "sha256:<lower-case hex>" of the DER certificate.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint accepts "sha256:<hex>" with or without the prefix, in
// either case, with or without colons between bytes (as openssl prints).
func ParseFingerprint(s string) ([]byte, error) {
	v := strings.TrimSpace(s)
	if i := strings.IndexByte(v, ':'); i > 0 && strings.EqualFold(v[:i], "sha256") {
		v = v[i+1:]
	}
	v = strings.ReplaceAll(v, ":", "")
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("invalid certificate fingerprint %q: want sha256: followed by 64 hex digits", s)
	}
	return b, nil
}

// Fetch gets the discovery document from the proxy at proxyURL (https),
// verifying its TLS as Trust says, and works out which CA the kubeconfig
// should trust for it.
func Fetch(ctx context.Context, proxyURL string, t Trust) (*Result, error) {
	base, err := url.Parse(strings.TrimSpace(proxyURL))
	if err != nil || base.Scheme != "https" || base.Host == "" || base.User != nil {
		return nil, fmt.Errorf("proxy URL %q: want https://HOST[:PORT]", proxyURL)
	}
	serverName := t.ServerName
	if serverName == "" {
		serverName = base.Hostname()
	}
	addr := base.Host
	if base.Port() == "" {
		addr = net.JoinHostPort(base.Hostname(), "443")
	}

	var pinned *x509.Certificate // the certificate trusted by fingerprint
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	switch {
	case len(t.CAPEM) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CAPEM) {
			return nil, errors.New("--certificate-authority holds no PEM certificate")
		}
		tlsCfg.RootCAs = pool
	default:
		chain, err := peerChain(ctx, addr, serverName)
		if err != nil {
			return nil, err
		}
		if t.Fingerprint == "" && verifyChain(chain, t.Roots, serverName) == nil {
			tlsCfg.RootCAs = t.Roots
			break
		}
		if pinned, err = choosePinned(ctx, chain, t, serverName); err != nil {
			return nil, err
		}
		want := pinned.Raw
		tlsCfg.InsecureSkipVerify = true // verified below against the pinned certificate
		tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyAgainst(cs.PeerCertificates, want, serverName)
		}
	}

	doc, served, err := get(ctx, base, tlsCfg)
	if err != nil {
		return nil, err
	}
	res := &Result{Document: doc}
	switch {
	case doc.CertificateAuthorityData != "":
		// The document's bundle must verify the proxy it came from, else
		// the kubeconfig would not work (or a pinned attacker chose it).
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(doc.CertificateAuthorityData))
		if err := verifyChain(served, pool, serverName); err != nil {
			return nil, fmt.Errorf("the discovery document's certificateAuthorityData does not verify the proxy's certificate: %w", err)
		}
		res.ServerCAPEM = []byte(doc.CertificateAuthorityData)
	case len(t.CAPEM) > 0:
		res.ServerCAPEM = t.CAPEM
	default:
		if verifyChain(served, t.Roots, serverName) == nil {
			break // the system roots verify it
		}
		res.ServerCAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pinned.Raw})
	}
	return res, nil
}

// peerChain connects once to read the served certificates, unverified.
func peerChain(ctx context.Context, addr, serverName string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         serverName,
		InsecureSkipVerify: true, // only to read the chain; nothing is sent
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy %s: %w", addr, err)
	}
	defer conn.Close()
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, fmt.Errorf("proxy %s presented no certificate", addr)
	}
	return chain, nil
}

// choosePinned returns the certificate of chain trusted by fingerprint or
// by the person, and checks that it verifies the served certificate.
func choosePinned(ctx context.Context, chain []*x509.Certificate, t Trust, serverName string) (*x509.Certificate, error) {
	if t.Fingerprint != "" {
		want, err := ParseFingerprint(t.Fingerprint)
		if err != nil {
			return nil, err
		}
		for _, c := range chain {
			sum := sha256.Sum256(c.Raw)
			if subtle.ConstantTimeCompare(sum[:], want) == 1 {
				if err := verifyAgainst(chain, c.Raw, serverName); err != nil {
					return nil, err
				}
				return c, nil
			}
		}
		return nil, fmt.Errorf("%w: no certificate presented by the proxy has the fingerprint given with --ca-fingerprint (the proxy presented %s); refusing to continue", ErrUntrusted, Fingerprint(chain[len(chain)-1]))
	}
	top := chain[len(chain)-1]
	if t.Confirm == nil {
		return nil, fmt.Errorf("%w: pass --certificate-authority FILE or --ca-fingerprint sha256:... (the proxy presented %s; check it with the cluster's administrator)", ErrUntrusted, Fingerprint(top))
	}
	ok, err := t.Confirm(ctx, info(top))
	if err != nil {
		return nil, fmt.Errorf("confirm the proxy's certificate: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: the certificate was not confirmed", ErrUntrusted)
	}
	if err := verifyAgainst(chain, top.Raw, serverName); err != nil {
		return nil, err
	}
	return top, nil
}

func info(c *x509.Certificate) CertInfo {
	return CertInfo{
		Fingerprint: Fingerprint(c),
		Subject:     c.Subject.String(),
		Issuer:      c.Issuer.String(),
		NotAfter:    c.NotAfter,
		SelfSigned:  c.CheckSignatureFrom(c) == nil,
	}
}

// verifyAgainst checks that the served chain's leaf verifies for
// serverName with the pinned certificate as the only root (a pinned leaf
// verifies itself), so the kubeconfig written with it will work.
func verifyAgainst(served []*x509.Certificate, pinnedRaw []byte, serverName string) error {
	if len(served) == 0 {
		return errors.New("proxy presented no certificate")
	}
	pinned, err := x509.ParseCertificate(pinnedRaw)
	if err != nil {
		return fmt.Errorf("pinned certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pinned)
	if err := verifyChain(served, pool, serverName); err != nil {
		return fmt.Errorf("the trusted certificate does not verify the proxy's certificate: %w", err)
	}
	return nil
}

// verifyChain verifies served[0] with served[1:] as intermediates against
// roots (nil: the system roots) for serverName ("" skips the name check).
func verifyChain(served []*x509.Certificate, roots *x509.CertPool, serverName string) error {
	inter := x509.NewCertPool()
	for _, c := range served[1:] {
		inter.AddCert(c)
	}
	_, err := served[0].Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: inter})
	return err
}

// get fetches and decodes the document; it returns the certificates the
// proxy served on that connection.
func get(ctx context.Context, base *url.URL, tlsCfg *tls.Config) (*Document, []*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + Path
	u.RawQuery, u.Fragment = "", ""
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsCfg,
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: fetchTimeout,
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u.String(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch %s: the server answered %s; is it an oidc-proxy started with --discovery-client-id?", u.String(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u.String(), err)
	}
	if len(body) > maxDocumentSize {
		return nil, nil, fmt.Errorf("fetch %s: document larger than %d bytes", u.String(), maxDocumentSize)
	}
	var d Document
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, nil, fmt.Errorf("fetch %s: not a discovery document: %w", u.String(), err)
	}
	if err := d.Validate(); err != nil {
		return nil, nil, fmt.Errorf("discovery document from %s: %w", u.String(), err)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return nil, nil, errors.New("discovery response came without TLS")
	}
	return &d, resp.TLS.PeerCertificates, nil
}
