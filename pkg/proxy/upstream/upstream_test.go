package upstream

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
)

// The proxy's own credential is set by client-go's wrappers for every kind
// of configuration, on client-go's copy of the request.
func TestCredentialsAreClientGos(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("token-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    rest.Config
		preset *string // Authorization already on the request
		want   string
	}{
		{name: "static token", cfg: rest.Config{BearerToken: "static-token"}, want: "Bearer static-token"},
		{name: "token file (in-cluster service account)", cfg: rest.Config{BearerTokenFile: tokenFile}, want: "Bearer token-from-file"},
		{name: "token and token file: the file wins", cfg: rest.Config{BearerToken: "static-token", BearerTokenFile: tokenFile}, want: "Bearer token-from-file"},
		{name: "an Authorization already set is kept", cfg: rest.Config{BearerToken: "static-token"}, preset: ptr("Bearer other"), want: "Bearer other"},
		{name: "an empty Authorization is replaced", cfg: rest.Config{BearerToken: "static-token"}, preset: ptr(""), want: "Bearer static-token"},
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
			ours, _, caller := send(func(next http.RoundTripper) (http.RoundTripper, error) { return withCredentials(&cfg, next) })
			if ours != tt.want {
				t.Fatalf("Authorization %q, want %q", ours, tt.want)
			}
			if tt.preset == nil && caller.Get("Authorization") != "" {
				t.Fatalf("the caller's request was changed: %v", caller)
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

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
