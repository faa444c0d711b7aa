package harness

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TokenIssuer is a second OIDC issuer for the real components: discovery and
// a JWKS over TLS on 127.0.0.1, and tokens with any claims signed by its key,
// for the token shapes Dex does not issue (jti, aud arrays, azp, hundreds of
// groups, nested claims). It has no login endpoints: tests mint tokens with Sign.
type TokenIssuer struct {
	URL      string // the issuer (https://127.0.0.1:PORT)
	ClientID string // the audience its tokens are for
	CAPEM    []byte // the certificate of its TLS server

	key *rsa.PrivateKey
	kid string
}

// StartTokenIssuer starts an issuer that stops when the test ends.
func StartTokenIssuer(t testing.TB, clientID string) *TokenIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &TokenIssuer{ClientID: clientID, key: key, kid: "e2e-issuer-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/keys",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": iss.kid,
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	iss.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return iss
}

// Sign returns claims as an RS256 JWT under the issuer's published key.
func (i *TokenIssuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := SignRS256(i.key, i.kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
