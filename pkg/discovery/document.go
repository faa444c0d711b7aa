// Package discovery is the public document oidc-proxy serves at
// /.well-known/kube-oidc-configuration so that `kubectl oidc setup URL`
// can write a kubeconfig from the proxy's URL alone: the type, the proxy's
// flags and handler, and the client's trust-on-first-use fetch.
package discovery

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Path is where the proxy serves the document, without authentication.
const Path = "/.well-known/kube-oidc-configuration"

// APIVersion and Kind identify the document format; a client refuses a
// document of another version.
const (
	APIVersion = "discovery.kube-oidc.io/v1"
	Kind       = "KubeOIDCConfiguration"
)

// AudienceMethods are the values of get-token's --oidc-audience-method a
// proxy may publish: RFC 8693 token exchange; Dex's cross-client scope
// granted at login and narrowed to one audience per cluster at refresh; or
// RFC 8707 resource indicators (the audience is a resource granted at login,
// an access token of it requested at the token endpoint).
var AudienceMethods = []string{"token-exchange", "dex-cross-client", ResourceIndicator}

// ResourceIndicator is the audience method of RFC 8707, whose audience is
// an absolute URI.
const ResourceIndicator = "resource-indicator"

// GrantTypes are the values of get-token's --grant-type a proxy may publish.
var GrantTypes = []string{"authcode", "authcode-keyboard", "device-code", "password", "client-credentials"}

// Document tells clients how to log in to the cluster behind the proxy. It
// is public: it never holds a client secret.
type Document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// IssuerURL is the OpenID Connect issuer the proxy trusts.
	IssuerURL string `json:"issuerURL"`
	// ClientID is the client kubectl-oidc logs in as (a public client).
	ClientID string `json:"clientID"`
	// Audience is the audience the proxy accepts when it is not ClientID:
	// clients obtain a token of this audience from their session (by
	// AudienceMethod), so that no other cluster accepts it.
	Audience string `json:"audience,omitempty"`
	// AudienceMethod is how clients obtain a token of Audience (one of
	// AudienceMethods; empty means token-exchange).
	AudienceMethod string `json:"audienceMethod,omitempty"`
	// Scopes are requested in addition to openid.
	Scopes []string `json:"scopes,omitempty"`
	// ExtraParams are extra authorization request parameters.
	ExtraParams map[string]string `json:"extraParams,omitempty"`
	// GrantTypes the identity provider allows for this client, preferred
	// first; empty means get-token's default (auto).
	GrantTypes []string `json:"grantTypes,omitempty"`
	// RedirectURLHostname is the host of the authcode redirect URI clients
	// send (get-token's --oidc-redirect-url-hostname): 127.0.0.1, [::1] or
	// localhost, for providers that accept only one of them; empty means
	// get-token's default (127.0.0.1).
	RedirectURLHostname string `json:"redirectURLHostname,omitempty"`
	// ClusterName is the suggested kubeconfig cluster name.
	ClusterName string `json:"clusterName,omitempty"`
	// CertificateAuthorityData is the PEM bundle clients should trust for
	// the proxy; empty means the system roots.
	CertificateAuthorityData string `json:"certificateAuthorityData,omitempty"`
	// IssuerCertificateAuthorityData is the PEM bundle for the identity
	// provider's TLS; empty means the system roots.
	IssuerCertificateAuthorityData string `json:"issuerCertificateAuthorityData,omitempty"`
}

// isResourceURI: s is an RFC 8707 resource indicator, an absolute URI
// without a fragment.
func isResourceURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && !strings.Contains(s, "#")
}

// Validate checks what a client relies on.
func (d *Document) Validate() error {
	var errs []error
	if d.APIVersion != APIVersion || d.Kind != Kind {
		errs = append(errs, fmt.Errorf("unsupported document %s/%s (want %s/%s): upgrade kubectl-oidc", d.APIVersion, d.Kind, APIVersion, Kind))
	}
	if u, err := url.Parse(d.IssuerURL); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuerURL %q is not an https URL", d.IssuerURL))
	}
	if d.ClientID == "" {
		errs = append(errs, errors.New("clientID is empty"))
	}
	if d.AudienceMethod != "" {
		switch {
		case !slices.Contains(AudienceMethods, d.AudienceMethod):
			errs = append(errs, fmt.Errorf("audienceMethod %q is not one of %s", d.AudienceMethod, strings.Join(AudienceMethods, ", ")))
		case d.Audience == "" || d.Audience == d.ClientID:
			errs = append(errs, fmt.Errorf("audienceMethod %q without an audience other than the clientID", d.AudienceMethod))
		case d.AudienceMethod == ResourceIndicator && !isResourceURI(d.Audience):
			errs = append(errs, fmt.Errorf("audience %q is not an absolute URI without a fragment, as audienceMethod %s needs (RFC 8707)", d.Audience, ResourceIndicator))
		case d.AudienceMethod == ResourceIndicator && hasKey(d.ExtraParams, "resource"):
			errs = append(errs, fmt.Errorf("extraParams cannot set resource with audienceMethod %s", ResourceIndicator))
		}
	}
	for _, g := range d.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			errs = append(errs, fmt.Errorf("unknown grant type %q", g))
		}
	}
	switch d.RedirectURLHostname {
	case "", "127.0.0.1", "[::1]", "localhost":
	default:
		errs = append(errs, fmt.Errorf("redirectURLHostname %q is not 127.0.0.1, [::1] or localhost", d.RedirectURLHostname))
	}
	if d.CertificateAuthorityData != "" && !validPEM(d.CertificateAuthorityData) {
		errs = append(errs, errors.New("certificateAuthorityData holds no PEM certificate"))
	}
	if d.IssuerCertificateAuthorityData != "" && !validPEM(d.IssuerCertificateAuthorityData) {
		errs = append(errs, errors.New("issuerCertificateAuthorityData holds no PEM certificate"))
	}
	return errors.Join(errs...)
}

func validPEM(s string) bool {
	return x509.NewCertPool().AppendCertsFromPEM([]byte(s))
}

// Marshal returns the JSON of d.
func (d *Document) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode discovery document: %w", err)
	}
	return append(data, '\n'), nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// LastCertificate returns the last certificate of a PEM bundle: the CA of
// a generated leaf+CA pair, or the leaf itself when it is alone; the one
// `kubectl oidc setup --ca-fingerprint` pins.
func LastCertificate(bundle []byte) (*x509.Certificate, error) {
	var last *x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		last = c
	}
	if last == nil {
		return nil, errors.New("no certificate in PEM")
	}
	return last, nil
}
