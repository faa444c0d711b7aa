package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	certutil "k8s.io/client-go/util/cert"
)

// Flag names of the issuer client certificate.
const (
	flagClientCertFile = "oidc-client-cert-file"
	flagClientKeyFile  = "oidc-client-key-file"
)

// issuerTimeout is the bound of each request to an issuer, as in
// k8s.io/apiserver's OIDC authenticator's own client.
const issuerTimeout = 30 * time.Second

// checkClientCert validates the client certificate flags: both or neither,
// and a key pair that loads.
func (o *Options) checkClientCert() error {
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		return fmt.Errorf("--%s and --%s must be given together", flagClientCertFile, flagClientKeyFile)
	}
	if o.ClientCertFile == "" {
		return nil
	}
	if _, err := dynamiccertificates.NewDynamicServingContentFromFiles("oidc-client-cert", o.ClientCertFile, o.ClientKeyFile); err != nil {
		return fmt.Errorf("--%s, --%s: %w", flagClientCertFile, flagClientKeyFile, err)
	}
	return nil
}

// clientCert is the issuer client certificate, re-read from its files when
// they change (k8s.io/apiserver's dynamiccertificates, the code that
// reloads kube-apiserver's own certificates); nil without one.
type clientCert struct {
	content *dynamiccertificates.DynamicCertKeyPairContent
}

// newClientCert loads the files and watches them until ctx ends.
func newClientCert(ctx context.Context, certFile, keyFile string) (*clientCert, error) {
	if certFile == "" {
		return nil, nil
	}
	content, err := dynamiccertificates.NewDynamicServingContentFromFiles("oidc-client-cert", certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--%s, --%s: %w", flagClientCertFile, flagClientKeyFile, err)
	}
	if err := content.RunOnce(ctx); err != nil {
		return nil, fmt.Errorf("--%s, --%s: %w", flagClientCertFile, flagClientKeyFile, err)
	}
	go content.Run(ctx, 1)
	return &clientCert{content: content}, nil
}

// get is tls.Config.GetClientCertificate: the current key pair, at every
// handshake (connections to issuers are few: discovery and key fetches).
func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cert, key := c.content.CurrentCertKeyContent()
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("issuer client certificate: %w", err)
	}
	return &pair, nil
}

// issuerClient is the HTTP client k8s.io/apiserver's OIDC authenticator
// builds for an issuer (trusting caPEM, or the host's roots when empty;
// its transport defaults and timeout) with c's client certificate.
func (c *clientCert) issuerClient(caPEM string) (*http.Client, error) {
	var roots *x509.CertPool
	if caPEM != "" {
		var err error
		if roots, err = certutil.NewPoolFromBytes([]byte(caPEM)); err != nil {
			return nil, fmt.Errorf("certificateAuthority: %w", err)
		}
		if roots == nil {
			return nil, errors.New("certificateAuthority: no certificate")
		}
	}
	tr := utilnet.SetTransportDefaults(&http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, GetClientCertificate: c.get},
	})
	return &http.Client{Transport: tr, Timeout: issuerTimeout}, nil
}
