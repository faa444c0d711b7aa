package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
)

// The proxy's own credential is what client-go's wrappers would send, for
// every kind of configuration; only the copy of the request is saved.
func TestCredentialsAreClientGos(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("token-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      rest.Config
		preset   *string // Authorization already on the request
		want     string
		fastPath bool
	}{
		{name: "static token", cfg: rest.Config{BearerToken: "static-token"}, want: "Bearer static-token", fastPath: true},
		{name: "token file (in-cluster service account)", cfg: rest.Config{BearerTokenFile: tokenFile}, want: "Bearer token-from-file", fastPath: true},
		{name: "token and token file: the file wins", cfg: rest.Config{BearerToken: "static-token", BearerTokenFile: tokenFile}, want: "Bearer token-from-file", fastPath: true},
		{name: "an Authorization already set is kept", cfg: rest.Config{BearerToken: "static-token"}, preset: ptr("Bearer other"), want: "Bearer other", fastPath: true},
		{name: "an empty Authorization is replaced", cfg: rest.Config{BearerToken: "static-token"}, preset: ptr(""), want: "Bearer static-token", fastPath: true},
		{name: "basic auth goes through client-go", cfg: rest.Config{Username: "u", Password: "p"}, want: "Basic dTpw"},
		{name: "token with a user agent goes through client-go", cfg: rest.Config{BearerToken: "static-token", UserAgent: "ua"}, want: "Bearer static-token"},
		{name: "no credential (client certificate)", cfg: rest.Config{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := func(wrap func(http.RoundTripper) (http.RoundTripper, error)) (got string, rt http.RoundTripper, caller http.Header) {
				rt, err := wrap(roundTripperFunc(func(r *http.Request) (*http.Response, error) {
					got = r.Header.Get("Authorization")
					return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
				}))
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodGet, "https://apiserver/api", nil)
				if tt.preset != nil {
					req.Header["Authorization"] = []string{*tt.preset}
				}
				if _, err := rt.RoundTrip(req); err != nil {
					t.Fatal(err)
				}
				return got, rt, req.Header
			}
			cfg := tt.cfg
			ours, rt, _ := send(func(next http.RoundTripper) (http.RoundTripper, error) { return withCredentials(&cfg, next) })
			ref, _, _ := send(func(next http.RoundTripper) (http.RoundTripper, error) { return rest.HTTPWrappersForConfig(&cfg, next) })
			if ours != tt.want || ref != tt.want {
				t.Fatalf("Authorization: ours %q, client-go %q, want %q", ours, ref, tt.want)
			}
			if _, fast := rt.(*bearerCredential); fast != tt.fastPath {
				t.Fatalf("bearerCredential used: %v, want %v", fast, tt.fastPath)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestCredentialsTokenFileMissing(t *testing.T) {
	cfg := rest.Config{BearerTokenFile: filepath.Join(t.TempDir(), "absent")}
	if _, err := withCredentials(&cfg, http.DefaultTransport); err == nil {
		t.Fatal("a missing token file was accepted")
	}
}
