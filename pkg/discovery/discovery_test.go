package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/pflag"
)

func testDocument() *Document {
	return &Document{
		APIVersion:     APIVersion,
		Kind:           Kind,
		IssuerURL:      "https://issuer.example.com",
		ClientID:       "kubectl",
		Audience:       "cluster-prod",
		AudienceMethod: "dex-cross-client",
		Scopes:         []string{"email", "groups"},
		ExtraParams:    map[string]string{"audience": "k8s"},
		GrantTypes:     []string{"authcode", "device-code"},
		ClusterName:    "prod",

		RedirectURLHostname: "localhost",
	}
}

// proxy is a TLS server serving a document, counting discovery requests.
type proxy struct {
	*httptest.Server
	hits atomic.Int32
}

func startProxy(t *testing.T, doc *Document, cert *tls.Certificate) *proxy {
	t.Helper()
	var h http.Handler = http.NotFoundHandler()
	if doc != nil {
		var err error
		if h, err = Handler(doc); err != nil {
			t.Fatal(err)
		}
	}
	p := &proxy{}
	mux := http.NewServeMux()
	mux.Handle(Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	p.Server = httptest.NewUnstartedServer(mux)
	if cert != nil {
		p.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	p.StartTLS()
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Certificate().Raw})
}

func TestOptionsPublishFlagsAsDocument(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("proxy", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{
		"--discovery-client-id=kubectl",
		"--discovery-audience=cluster-prod",
		"--discovery-audience-method=dex-cross-client",
		"--discovery-scopes=email,groups",
		"--discovery-extra-params=audience=k8s",
		"--discovery-grant-types=authcode,device-code",
		"--discovery-cluster-name=prod",
		"--discovery-redirect-url-hostname=localhost",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.Document("https://issuer.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := testDocument().Marshal()
	gotJSON, _ := got.Marshal()
	if string(gotJSON) != string(want) {
		t.Errorf("document:\n%s\nwant:\n%s", gotJSON, want)
	}
}

func TestOptionsRejectBadSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"discovery off", nil, "--discovery-client-id is not set"},
		{"unknown grant type", []string{"--discovery-client-id=c", "--discovery-grant-types=implicit"}, `unknown grant type "implicit"`},
		{"missing CA file", []string{"--discovery-client-id=c", "--discovery-ca-file=/nonexistent/ca.pem"}, "--discovery-ca-file"},
		{"redirect host not loopback", []string{"--discovery-client-id=c", "--discovery-redirect-url-hostname=evil.example.com"}, "redirectURLHostname"},
		{"unknown audience method", []string{"--discovery-client-id=c", "--discovery-audience=a", "--discovery-audience-method=resource"}, `audienceMethod "resource" is not one of`},
		{"audience method without an audience", []string{"--discovery-client-id=c", "--discovery-audience-method=dex-cross-client"}, "without an audience other than the clientID"},
		{"audience method for the client itself", []string{"--discovery-client-id=c", "--discovery-audience=c", "--discovery-audience-method=token-exchange"}, "without an audience other than the clientID"},
		{"resource indicator not a URI", []string{"--discovery-client-id=c", "--discovery-audience=prod", "--discovery-audience-method=resource-indicator"}, `audience "prod" is not an absolute URI`},
		{"resource indicator with a fragment", []string{"--discovery-client-id=c", "--discovery-audience=https://prod.example.com/#x", "--discovery-audience-method=resource-indicator"}, "without a fragment"},
		{"resource indicator and a resource parameter", []string{"--discovery-client-id=c", "--discovery-audience=https://prod.example.com", "--discovery-audience-method=resource-indicator", "--discovery-extra-params=resource=https://other.example.com"}, "extraParams cannot set resource"},
		{"plain http issuer", []string{"--discovery-client-id=c", "--discovery-issuer-url=http://issuer"}, "not an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			fs := pflag.NewFlagSet("proxy", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			_, err := o.Document("https://issuer.example.com", nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestHandlerServesJSONToGetAndRefusesOtherMethods(t *testing.T) {
	h, err := Handler(testDocument())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method   string
		wantCode int
		wantBody bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
		{http.MethodDelete, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, Path, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("code %d, want %d", rec.Code, tt.wantCode)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			switch {
			case tt.wantCode == http.StatusMethodNotAllowed:
				var st struct {
					Kind string
					Code int
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || st.Code != 405 {
					t.Errorf("body %q is not a 405 Status", rec.Body)
				}
			case tt.wantBody:
				var d Document
				if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || d.ClientID != "kubectl" {
					t.Errorf("body %q is not the document", rec.Body)
				}
			default:
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD body %q", rec.Body)
				}
			}
		})
	}
}

func TestFetchTrust(t *testing.T) {
	pki := newTestPKI(t)
	otherPKI := newTestPKI(t)
	withCA := testDocument()
	withCA.CertificateAuthorityData = string(pki.caPEM)
	wrongCA := testDocument()
	wrongCA.CertificateAuthorityData = string(otherPKI.caPEM)

	type setup struct {
		doc  *Document
		cert *tls.Certificate // nil: httptest's self-signed certificate
	}
	tests := []struct {
		name      string
		setup     setup
		trust     func(p *proxy) Trust
		wantErr   string // "" for success
		untrusted bool   // error must be ErrUntrusted and no request made
		wantCA    func(p *proxy) []byte
	}{
		{
			name:   "certificate authority given",
			setup:  setup{doc: testDocument()},
			trust:  func(p *proxy) Trust { return Trust{CAPEM: p.certPEM()} },
			wantCA: func(p *proxy) []byte { return p.certPEM() },
		},
		{
			name:    "wrong certificate authority refused",
			setup:   setup{doc: testDocument()},
			trust:   func(p *proxy) Trust { return Trust{CAPEM: otherPKI.caPEM} },
			wantErr: "certificate",
		},
		{
			name:   "fingerprint of self-signed certificate pins it",
			setup:  setup{doc: testDocument()},
			trust:  func(p *proxy) Trust { return Trust{Fingerprint: Fingerprint(p.Certificate())} },
			wantCA: func(p *proxy) []byte { return p.certPEM() },
		},
		{
			name:  "fingerprint in openssl format accepted",
			setup: setup{doc: testDocument()},
			trust: func(p *proxy) Trust {
				fp := strings.ToUpper(strings.TrimPrefix(Fingerprint(p.Certificate()), "sha256:"))
				var parts []string
				for i := 0; i < len(fp); i += 2 {
					parts = append(parts, fp[i:i+2])
				}
				return Trust{Fingerprint: "SHA256:" + strings.Join(parts, ":")}
			},
			wantCA: func(p *proxy) []byte { return p.certPEM() },
		},
		{
			name:      "fingerprint mismatch refused",
			setup:     setup{doc: testDocument()},
			trust:     func(p *proxy) Trust { return Trust{Fingerprint: Fingerprint(otherPKI.caCert)} },
			wantErr:   "no certificate presented by the proxy has the fingerprint",
			untrusted: true,
		},
		{
			name:    "malformed fingerprint refused",
			setup:   setup{doc: testDocument()},
			trust:   func(p *proxy) Trust { return Trust{Fingerprint: "sha256:abcd"} },
			wantErr: "invalid certificate fingerprint",
		},
		{
			name:      "nothing to trust and nobody to ask refused",
			setup:     setup{doc: testDocument()},
			trust:     func(p *proxy) Trust { return Trust{} },
			wantErr:   "pass --certificate-authority FILE or --ca-fingerprint",
			untrusted: true,
		},
		{
			name:  "person confirms the fingerprint shown",
			setup: setup{doc: testDocument()},
			trust: func(p *proxy) Trust {
				return Trust{Confirm: func(_ context.Context, c CertInfo) (bool, error) {
					return c.Fingerprint == Fingerprint(p.Certificate()) && c.SelfSigned, nil
				}}
			},
			wantCA: func(p *proxy) []byte { return p.certPEM() },
		},
		{
			name:  "person declines",
			setup: setup{doc: testDocument()},
			trust: func(p *proxy) Trust {
				return Trust{Confirm: func(context.Context, CertInfo) (bool, error) { return false, nil }}
			},
			wantErr:   "not confirmed",
			untrusted: true,
		},
		{
			name:   "fingerprint of the served leaf with the document's CA bundle",
			setup:  setup{doc: withCA, cert: &pki.leaf},
			trust:  func(p *proxy) Trust { return Trust{Fingerprint: Fingerprint(pki.leafCrt)} },
			wantCA: func(p *proxy) []byte { return pki.caPEM },
		},
		{
			name:   "fingerprint of the served CA pins the CA",
			setup:  setup{doc: testDocument(), cert: &pki.chain},
			trust:  func(p *proxy) Trust { return Trust{Fingerprint: Fingerprint(pki.caCert)} },
			wantCA: func(p *proxy) []byte { return pki.caPEM },
		},
		{
			name:  "person confirms the served CA",
			setup: setup{doc: testDocument(), cert: &pki.chain},
			trust: func(p *proxy) Trust {
				return Trust{Confirm: func(_ context.Context, c CertInfo) (bool, error) {
					return c.Fingerprint == Fingerprint(pki.caCert), nil
				}}
			},
			wantCA: func(p *proxy) []byte { return pki.caPEM },
		},
		{
			name:    "CA fingerprint that did not sign the served leaf refused",
			setup:   setup{doc: testDocument(), cert: &tls.Certificate{Certificate: [][]byte{pki.leaf.Certificate[0], otherPKI.caCert.Raw}, PrivateKey: pki.leaf.PrivateKey}},
			trust:   func(p *proxy) Trust { return Trust{Fingerprint: Fingerprint(otherPKI.caCert)} },
			wantErr: "does not verify the proxy's certificate",
		},
		{
			name:    "document CA that does not verify the proxy refused",
			setup:   setup{doc: wrongCA, cert: &pki.leaf},
			trust:   func(p *proxy) Trust { return Trust{CAPEM: pki.caPEM} },
			wantErr: "certificateAuthorityData does not verify",
		},
		{
			name:   "publicly trusted proxy needs no confirmation",
			setup:  setup{doc: testDocument(), cert: &pki.leaf},
			trust:  func(p *proxy) Trust { return Trust{Roots: newPool(pki.caPEM)} },
			wantCA: func(p *proxy) []byte { return nil },
		},
		{
			name:    "no discovery document",
			setup:   setup{},
			trust:   func(p *proxy) Trust { return Trust{CAPEM: p.certPEM()} },
			wantErr: "--discovery-client-id",
		},
		{
			name:    "document of another version refused",
			setup:   setup{doc: &Document{APIVersion: "discovery.kube-oidc.io/v9", Kind: Kind, IssuerURL: "https://i", ClientID: "c"}},
			trust:   func(p *proxy) Trust { return Trust{CAPEM: p.certPEM()} },
			wantErr: "unsupported document",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, tt.setup.doc, tt.setup.cert)
			res, err := Fetch(context.Background(), p.URL, tt.trust(p))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				if tt.untrusted {
					if !errors.Is(err, ErrUntrusted) {
						t.Errorf("error %v is not ErrUntrusted", err)
					}
					if n := p.hits.Load(); n != 0 {
						t.Errorf("%d requests reached the untrusted server", n)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Document.ClientID != "kubectl" || res.Document.IssuerURL != "https://issuer.example.com" {
				t.Errorf("document %+v", res.Document)
			}
			if got, want := string(res.ServerCAPEM), string(tt.wantCA(p)); got != want {
				t.Errorf("server CA:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestFetchRefusesNonHTTPSURL(t *testing.T) {
	for _, u := range []string{"http://proxy.example.com", "proxy.example.com", "https://user:pw@proxy.example.com", "://"} {
		if _, err := Fetch(context.Background(), u, Trust{}); err == nil || !strings.Contains(err.Error(), "want https://") {
			t.Errorf("Fetch(%q) error %v", u, err)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		in string
		ok bool
	}{
		{"sha256:" + hex64, true},
		{hex64, true},
		{"SHA256:" + strings.ToUpper(hex64), true},
		{"sha256:" + strings.TrimSuffix(strings.Repeat("AB:", 32), ":"), true},
		{"sha1:" + hex64, false},
		{"sha256:" + hex64[:62], false},
		{"sha256:" + hex64[:62] + "zz", false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := ParseFingerprint(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseFingerprint(%q) error %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func newPool(pemData []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	return pool
}

func TestOptionsPublishResourceIndicator(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("proxy", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--discovery-client-id=kubectl", "--discovery-audience=https://prod.k8s.example.com",
		"--discovery-audience-method=resource-indicator"}); err != nil {
		t.Fatal(err)
	}
	d, err := o.Document("https://issuer.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Audience != "https://prod.k8s.example.com" || d.AudienceMethod != ResourceIndicator {
		t.Fatalf("document audience %q method %q", d.Audience, d.AudienceMethod)
	}
}
