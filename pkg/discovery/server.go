package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Options are the proxy's flags that publish the document.
type Options struct {
	IssuerURL string
	ClientID  string
	Audience  string
	// AudienceMethod is published as the document's audienceMethod.
	AudienceMethod string
	Scopes         []string
	ExtraParams    map[string]string
	GrantTypes     []string
	// RedirectURLHostname is published as the document's redirectURLHostname.
	RedirectURLHostname string
	ClusterName         string
	CAFile              string
	IssuerCAFile        string
}

// NewOptions returns empty options: discovery is off until
// --discovery-client-id is set.
func NewOptions() *Options { return &Options{} }

// AddFlags registers the --discovery-* flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ClientID, "discovery-client-id", o.ClientID,
		"Publish the public client ID kubectl-oidc logs in with at "+Path+" (unauthenticated). Setting it turns the discovery document on; it never contains a client secret.")
	fs.StringVar(&o.Audience, "discovery-audience", o.Audience,
		"Audience this proxy accepts (its --oidc-client-id), published in the discovery document when it differs from --discovery-client-id: clients exchange their ID token for one of this audience (RFC 8693 token exchange), so that each cluster gets tokens only it accepts.")
	fs.StringVar(&o.AudienceMethod, "discovery-audience-method", o.AudienceMethod,
		"How clients obtain a token of --discovery-audience, published in the discovery document: token-exchange (RFC 8693, the default), dex-cross-client (Dex's scope audience:server:client_id:AUDIENCE granted at login, narrowed to this audience by refresh; the audience's Dex client lists --discovery-client-id in its trustedPeers) or resource-indicator (RFC 8707: the audience, an absolute URI such as https://prod.k8s.example.com, is a resource granted at login; clients send a JWT access token (RFC 9068) whose aud is it).")
	fs.StringVar(&o.IssuerURL, "discovery-issuer-url", o.IssuerURL,
		"Issuer URL published in the discovery document (default: --oidc-issuer-url).")
	fs.StringSliceVar(&o.Scopes, "discovery-scopes", o.Scopes,
		"Scopes clients request in addition to openid, published in the discovery document (comma-separated or repeated).")
	fs.StringToStringVar(&o.ExtraParams, "discovery-extra-params", o.ExtraParams,
		"Extra authorization request parameters published in the discovery document (key=value, comma-separated or repeated).")
	fs.StringSliceVar(&o.GrantTypes, "discovery-grant-types", o.GrantTypes,
		"Grant types clients should use, preferred first, published in the discovery document (authcode, authcode-keyboard, device-code, password, client-credentials).")
	fs.StringVar(&o.RedirectURLHostname, "discovery-redirect-url-hostname", o.RedirectURLHostname,
		"Host of the redirect URI clients send in the authorization code flow, published in the discovery document: 127.0.0.1, [::1] or localhost (for identity providers such as Dex that accept only http://localhost:PORT for public clients; default: the client's, 127.0.0.1).")
	fs.StringVar(&o.ClusterName, "discovery-cluster-name", o.ClusterName,
		"Cluster name clients write into their kubeconfig, published in the discovery document (default: the proxy's host name).")
	fs.StringVar(&o.CAFile, "discovery-ca-file", o.CAFile,
		"PEM bundle clients should trust for this proxy, published in the discovery document (default: the CA of the proxy's serving certificate when the proxy generated it; else none, meaning the system roots).")
	fs.StringVar(&o.IssuerCAFile, "discovery-issuer-ca-file", o.IssuerCAFile,
		"PEM bundle clients should trust for the identity provider, published in the discovery document (default: none, meaning the system roots).")
}

// Enabled reports whether the document is to be served.
func (o *Options) Enabled() bool { return o.ClientID != "" }

// Document builds and validates the document. defaultIssuerURL is the
// proxy's --oidc-issuer-url; defaultCA the PEM of the proxy's serving CA
// when it generated one itself (else nil).
func (o *Options) Document(defaultIssuerURL string, defaultCA []byte) (*Document, error) {
	if !o.Enabled() {
		return nil, errors.New("--discovery-client-id is not set")
	}
	d := &Document{
		APIVersion:     APIVersion,
		Kind:           Kind,
		IssuerURL:      o.IssuerURL,
		ClientID:       o.ClientID,
		Audience:       o.Audience,
		AudienceMethod: o.AudienceMethod,
		Scopes:         o.Scopes,
		ExtraParams:    o.ExtraParams,
		GrantTypes:     o.GrantTypes,
		ClusterName:    o.ClusterName,

		RedirectURLHostname: o.RedirectURLHostname,
	}
	if d.IssuerURL == "" {
		d.IssuerURL = defaultIssuerURL
	}
	d.CertificateAuthorityData = string(defaultCA)
	if o.CAFile != "" {
		data, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--discovery-ca-file: %w", err)
		}
		d.CertificateAuthorityData = string(data)
	}
	if o.IssuerCAFile != "" {
		data, err := os.ReadFile(o.IssuerCAFile)
		if err != nil {
			return nil, fmt.Errorf("--discovery-issuer-ca-file: %w", err)
		}
		d.IssuerCertificateAuthorityData = string(data)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	return d, nil
}

// Handler serves the document (GET and HEAD) as JSON. Other methods get
// 405 with a Kubernetes Status body. The document is encoded once.
func Handler(d *Document) (http.Handler, error) {
	body, err := d.Marshal()
	if err != nil {
		return nil, err
	}
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method "+r.Method+" is not allowed on "+Path+": use GET")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}

func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  message,
		Reason:   metav1.StatusReason(reason),
		Code:     int32(code),
	})
}
