package harness

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// Issuer is a minimal OpenID Connect issuer in the test process: a discovery
// document and a JWKS over TLS on 127.0.0.1 or a given address (its own CA), and the key the test
// signs ID tokens with, so a token can carry any claim values and shapes that
// Dex does not issue (padded values, jti, aud arrays, azp, hundreds of groups,
// nested claims). It serves no login: tests mint tokens with IDToken or Sign.
type Issuer struct {
	URL      string // the issuer (https://127.0.0.1:PORT)
	ClientID string // the audience IDToken's tokens are for
	CAFile   string // the CA of its TLS server, as a file
	CAPEM    []byte // the same CA, PEM

	key *rsa.PrivateKey
	kid string
}

// StartIssuer serves an issuer whose tokens are for clientID until the test ends.
func StartIssuer(t testing.TB, clientID string) *Issuer {
	t.Helper()
	return StartIssuerOn(t, clientID, nil)
}

// StartIssuerOn is StartIssuer listening on ip (nil: 127.0.0.1), with ip in
// its serving certificate: on a Node's gateway, pods reach it too.
func StartIssuerOn(t testing.TB, clientID string, ip net.IP) *Issuer {
	t.Helper()
	ca, err := NewCA("kube-oidc e2e issuer CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var ips []net.IP
	if ip != nil {
		ips = []net.IP{ip}
	}
	certFile, keyFile, err := ca.WriteServingCertFor(dir, "issuer", nil, ips)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{ClientID: clientID, CAFile: filepath.Join(dir, "ca.crt"), CAPEM: ca.CertPEM, key: key, kid: "e2e-issuer-key"}
	mustWrite(t, iss.CAFile, string(ca.CertPEM))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONBody(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/keys",
			"authorization_endpoint":                iss.URL + "/auth",
			"token_endpoint":                        iss.URL + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		writeJSONBody(w, map[string]any{"keys": []map[string]any{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": iss.kid,
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	srv := httptest.NewUnstartedServer(mux)
	if ip != nil {
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			t.Fatalf("issuer: listen on %s: %v", ip, err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// IDToken signs a valid ID token for email with the given groups, after
// applying mods to its claims.
func (i *Issuer) IDToken(t testing.TB, email string, groups []string, mods ...func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": i.URL, "aud": i.ClientID, "sub": email, "email": email, "email_verified": true,
		"groups": groups, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for _, m := range mods {
		m(claims)
	}
	return i.Sign(t, claims)
}

// Sign returns claims, exactly as given, as an RS256 JWT under the issuer's published key.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := SignRS256(i.key, i.kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
