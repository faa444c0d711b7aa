package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// TestGetTokenAuthCodeKeyboard plays a person on an SSH session: get-token
// prints the authorization URL on stderr, the person opens it elsewhere and
// pastes back the code (or the whole URL the browser ended on).
func TestGetTokenAuthCodeKeyboard(t *testing.T) {
	tests := []struct {
		name  string
		paste func(location *url.URL) string
	}{
		{name: "the code", paste: func(l *url.URL) string { return l.Query().Get("code") }},
		{name: "the whole URL", paste: func(l *url.URL) string { return l.String() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append(append([]string{"get-token"}, loginArgs(t, p, t.TempDir())...), "--grant-type=authcode-keyboard")
			cmd := exec.CommandContext(ctx, binPath, args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var shown strings.Builder
			authURL := ""
			sc := bufio.NewScanner(stderr)
			for authURL == "" && sc.Scan() {
				line := sc.Text()
				shown.WriteString(line + "\n")
				if s := strings.TrimSpace(line); strings.HasPrefix(s, p.Issuer+"/authorize?") {
					authURL = s
				}
			}
			if authURL == "" {
				t.Fatalf("no authorization URL on stderr:\n%s", shown.String())
			}
			// The person's browser: sign in, stop at the redirect.
			c := p.HTTPClient()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || loc.Query().Get("code") == "" {
				t.Fatalf("provider redirect %q: %v", resp.Header.Get("Location"), err)
			}
			if _, err := io.WriteString(stdin, tt.paste(loc)+"\n"); err != nil {
				t.Fatal(err)
			}
			stdin.Close()
			for sc.Scan() { // until the process exits (or the context kills it)
				shown.WriteString(sc.Text() + "\n")
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("get-token: %v\n%s", err, shown.String())
			}
			verify(t, p, decodeOnlyJSON(t, stdout.String()).Status.Token)
			if q := p.LastAuthorizeRequest(); q.Get("redirect_uri") != "urn:ietf:wg:oauth:2.0:oob" || q.Get("code_challenge_method") != "S256" {
				t.Errorf("authorize request %v, want the out-of-band redirect with PKCE", q)
			}
		})
	}
}
