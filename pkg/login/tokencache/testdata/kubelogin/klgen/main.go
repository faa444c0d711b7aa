// Command klgen writes kubelogin v1.34.0 token cache files with kubelogin's
// own repository code, for kube-oidc's import tests.
package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"github.com/int128/kubelogin/pkg/oidc"
	"github.com/int128/kubelogin/pkg/tlsclientconfig"
	"github.com/int128/kubelogin/pkg/tokencache"
	"github.com/int128/kubelogin/pkg/tokencache/repository"
)

func jwt(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	p, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + ".c2lnbmF0dXJl"
}

func main() {
	dir := os.Args[1]
	idToken := jwt(map[string]any{"iss": "https://issuer.example.com", "aud": "kubectl", "sub": "alice", "exp": 2000000000})
	cases := []struct {
		name string
		key  tokencache.Key
		ts   oidc.TokenSet
	}{
		{"minimal", tokencache.Key{Provider: oidc.Provider{IssuerURL: "https://issuer.example.com", ClientID: "kubectl"}},
			oidc.TokenSet{IDToken: idToken, RefreshToken: "refresh-minimal"}},
		{"full", tokencache.Key{
			Provider: oidc.Provider{
				IssuerURL: "https://issuer.example.com", ClientID: "kubectl", ClientSecret: "client-secret",
				ExtraScopes: []string{"email", "groups"}, RedirectURL: "http://localhost:8000",
				PKCEMethod: oidc.PKCEMethodS256, RequestHeaders: map[string]string{"Origin": "http://localhost:8000"},
			},
			TLSClientConfig: tlsclientconfig.Config{CACertFilename: []string{"/home/u/ca.pem"}, CACertData: []string{"Zm9v"}, Renegotiation: tls.RenegotiateOnceAsClient},
			Username:        "alice",
		}, oidc.TokenSet{IDToken: idToken, RefreshToken: "refresh-full"}},
		{"insecure-access-token", tokencache.Key{
			Provider:        oidc.Provider{IssuerURL: "https://issuer.example.com", ClientID: "kubectl", PKCEMethod: oidc.PKCEMethodNo, UseAccessToken: true},
			TLSClientConfig: tlsclientconfig.Config{SkipTLSVerify: true, Renegotiation: tls.RenegotiateFreelyAsClient},
		}, oidc.TokenSet{IDToken: "opaque-access-token", RefreshToken: "refresh-insecure"}},
	}
	var r repository.Repository
	index := map[string]string{}
	for _, c := range cases {
		cfg := tokencache.Config{Directory: dir, Storage: tokencache.StorageDisk}
		if err := r.Save(cfg, c.key, c.ts); err != nil {
			panic(err)
		}
		// The file name is the checksum; find it by reading back.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, seen := reverse(index)[e.Name()]; !seen && e.Name() != "index.json" {
				index[c.name] = e.Name()
			}
		}
	}
	b, _ := json.MarshalIndent(index, "", "  ")
	fmt.Println(string(b))
}

func reverse(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[v] = k
	}
	return out
}
