package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBrowserHandoffPassesEachURLOnce(t *testing.T) {
	h := NewBrowserHandoff(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name string
		cmd  string
		args []string
		want string
	}{
		{"as --browser-command", h.Command, []string{"http://127.0.0.1:8000/"}, "http://127.0.0.1:8000/"},
		{"as xdg-open", filepath.Join(h.Dir, "xdg-open"), []string{"https://dex/device?user_code=AB-CD"}, "https://dex/device?user_code=AB-CD"},
		{"last argument is the URL", h.Command, []string{"--new-window", "http://localhost:1/x?a=1&b=2"}, "http://localhost:1/x?a=1&b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := exec.Command(tt.cmd, tt.args...).CombinedOutput(); err != nil {
				t.Fatalf("run %s: %v\n%s", tt.cmd, err, out)
			}
			got, err := h.Next(ctx)
			if err != nil || got != tt.want {
				t.Fatalf("Next = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if u, err := h.Next(short); err == nil {
		t.Fatalf("Next returned %q again; want a timeout", u)
	}
	if n := len(h.URLs()); n != len(tests) {
		t.Fatalf("URLs() has %d entries, want %d", n, len(tests))
	}
}

func TestRunTTYGivesTheChildATerminal(t *testing.T) {
	k := &Kubectl{Bin: "/bin/sh", Home: t.TempDir()}
	tests := []struct {
		name    string
		run     func(context.Context, ...string) KubectlResult
		wantTTY bool
	}{
		{"RunTTY", k.RunTTY, true},
		{"Run", k.Run, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.run(t.Context(), "-c", "if test -t 0; then echo tty; else echo no; fi")
			if r.Err != nil {
				t.Fatal(r)
			}
			if got := strings.TrimSpace(r.Stdout) == "tty"; got != tt.wantTTY {
				t.Fatalf("stdin is a terminal: %v, want %v (%s)", got, tt.wantTTY, r)
			}
		})
	}
}

func TestFingerprintIsSHA256OfTheDER(t *testing.T) {
	ca, err := NewCA("fp test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, _, err := ca.WriteServingCert(dir, "leaf")
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Fingerprint(certFile)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-fingerprint", "-sha256").Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	// openssl: "sha256 Fingerprint=AB:CD:..."
	want := "sha256:" + strings.ToLower(strings.ReplaceAll(strings.TrimSpace(string(out[strings.IndexByte(string(out), '=')+1:])), ":", ""))
	if fp != want {
		t.Fatalf("Fingerprint = %s, openssl says %s", fp, want)
	}
	if _, err := Fingerprint(filepath.Join(dir, "leaf.key")); err == nil {
		t.Fatal("a key file gave a fingerprint")
	}
}

func TestRealKubectlSkipsTheGcloudDispatcher(t *testing.T) {
	touch := func(t *testing.T, dir string, names ...string) {
		t.Helper()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"a plain kubectl is kept", []string{"kubectl"}, "kubectl"},
		{"the newest versioned kubectl, by number", []string{"kubectl", "kubectl.1.9", "kubectl.1.33", "kubectl.1.27"}, "kubectl.1.33"},
		{"plugins are not versions", []string{"kubectl", "kubectl-oidc", "kubectl.1.x"}, "kubectl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdk := t.TempDir()
			touch(t, sdk, tt.files...)
			// As on Debian: /usr/bin/kubectl -> google-cloud-sdk/bin/kubectl.
			link := filepath.Join(t.TempDir(), "kubectl")
			if err := os.Symlink(filepath.Join(sdk, "kubectl"), link); err != nil {
				t.Fatal(err)
			}
			got, err := RealKubectl(link)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(sdk, tt.want)
			if tt.want == "kubectl" {
				want = link
			}
			if got != want {
				t.Fatalf("RealKubectl = %s, want %s", got, want)
			}
		})
	}
}
