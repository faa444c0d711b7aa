package harness

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BrowserHandoff stands in for the person's web browser when kubectl-oidc
// (started by kubectl, two processes away from the test) wants to open a
// URL: a tiny script, given as --browser-command or found on PATH as
// xdg-open, appends the URL to a file, and the test takes it from there
// (usually to Chromium: Browser.LoginDex, Browser.ApproveDexDevice).
type BrowserHandoff struct {
	// Command is the script's path, for --browser-command.
	Command string
	// Dir holds the script under the names the client tries by default
	// (xdg-open); put it first on PATH to catch those too.
	Dir string

	urls string // file the script appends to, one URL a line
	mu   sync.Mutex
	seen int // lines already handed out by Next
}

// handoffScript appends its last argument (the URL) to the file named by
// the environment variable or, when unset, baked in.
const handoffScript = `#!/bin/sh
# kube-oidc e2e: hands the URL to the test instead of opening a browser.
url=""
for a in "$@"; do url="$a"; done
printf '%%s\n' "$url" >> %q
`

// NewBrowserHandoff writes the script into a temp dir of the test.
func NewBrowserHandoff(t testing.TB) *BrowserHandoff {
	t.Helper()
	dir := t.TempDir()
	h := &BrowserHandoff{Command: filepath.Join(dir, "open-browser"), Dir: dir, urls: filepath.Join(dir, "urls.txt")}
	script := fmt.Sprintf(handoffScript, h.urls)
	for _, name := range []string{"open-browser", "xdg-open"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatalf("write browser hand-off script: %v", err)
		}
	}
	return h
}

// URLs are all URLs handed over so far.
func (h *BrowserHandoff) URLs() []string {
	b, err := os.ReadFile(h.urls)
	if err != nil {
		return nil
	}
	var out []string
	s := bufio.NewScanner(strings.NewReader(string(b)))
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Next waits for the next URL not yet returned by Next.
func (h *BrowserHandoff) Next(ctx context.Context) (string, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		h.mu.Lock()
		urls := h.URLs()
		if len(urls) > h.seen {
			u := urls[h.seen]
			h.seen++
			h.mu.Unlock()
			return u, nil
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the client never opened a browser (no URL reached %s): %w", h.Command, ctx.Err())
		case <-tick.C:
		}
	}
}

// NewClientKubectl prepares kubectl for a person using kubectl-oidc: the
// Makefile-built (or harness-built) kubectl-oidc first on PATH, then the
// browser hand-off's directory (its xdg-open wins over the system's), HOME,
// KUBECONFIG and KUBECACHEDIR in temp dirs of the test, and no D-Bus session
// (so the token cache is on disk, not in a desktop keyring).
func NewClientKubectl(t testing.TB, kubeconfig string, handoff *BrowserHandoff) *Kubectl {
	t.Helper()
	k := NewPlainKubectl(t, kubeconfig)
	plugin := OurBinary(t, KubectlOIDC)
	// The exec stanza runs `kubectl oidc get-token`: that kubectl must be
	// a real one (see RealKubectl), first on PATH.
	real, err := RealKubectl(k.Bin)
	if err != nil {
		t.Fatal(err)
	}
	k.Bin = real
	kubectlDir := t.TempDir()
	if err := os.Symlink(real, filepath.Join(kubectlDir, "kubectl")); err != nil {
		t.Fatalf("kubectl link: %v", err)
	}
	path := filepath.Dir(plugin) + string(os.PathListSeparator) + kubectlDir
	if handoff != nil {
		path += string(os.PathListSeparator) + handoff.Dir
	}
	k.Env = append(k.Env,
		"PATH="+path+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECACHEDIR="+filepath.Join(k.Home, ".kube", "cache"),
		"DBUS_SESSION_BUS_ADDRESS=disabled:",
		"XDG_RUNTIME_DIR="+k.Home,
	)
	return k
}

// RealKubectl returns bin, or, when bin is Google Cloud SDK's kubectl
// dispatcher (a kubectl next to kubectl.1.NN files), the newest versioned
// kubectl beside it. The dispatcher asks the API server for its version
// before every command, with the kubeconfig's credentials: with an exec
// stanza that runs `kubectl oidc get-token`, that runs the dispatcher
// again, which asks again... without end.
func RealKubectl(bin string) (string, error) {
	resolved, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w", bin, err)
	}
	versioned, _ := filepath.Glob(filepath.Join(filepath.Dir(resolved), "kubectl.1.*"))
	best, bestMinor := "", -1
	for _, v := range versioned {
		var minor int
		if _, err := fmt.Sscanf(filepath.Base(v), "kubectl.1.%d", &minor); err == nil && minor > bestMinor {
			best, bestMinor = v, minor
		}
	}
	if best == "" {
		return bin, nil
	}
	return best, nil
}

// Plugin runs `kubectl oidc ARGS...` (kubectl finds kubectl-oidc on PATH).
func (k *Kubectl) Plugin(ctx context.Context, args ...string) KubectlResult {
	return k.Run(ctx, append([]string{"oidc"}, args...)...)
}

// Fingerprint is the SHA-256 fingerprint (sha256:HEX, of the DER) of the
// first certificate in a PEM file, as an administrator reads it with
// `openssl x509 -fingerprint -sha256`.
func Fingerprint(certFile string) (string, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", certFile, err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", fmt.Errorf("no PEM certificate in %s", certFile)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", fmt.Errorf("parse %s: %w", certFile, err)
	}
	sum := sha256.Sum256(block.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// ServingCertFile is the proxy's serving certificate (signed by CA).
func (p *Proxy) ServingCertFile() string { return filepath.Join(p.Dir, "proxy.crt") }

// LoginDexFor finishes a login a client started: it opens url (what the
// client handed to its browser: its local server, which redirects to Dex,
// or Dex itself), fills in Dex's password form, and waits until the browser
// has left Dex (redirected back to the client).
func (b *Browser) LoginDexFor(ctx context.Context, dex *DexServer, url, login, password string) error {
	if err := b.SubmitDexLogin(ctx, url, login, password); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	dexOrigin := strings.TrimSuffix(dex.Issuer, "/dex")
	for {
		lctx, lcancel := context.WithTimeout(b.ctx, 5*time.Second)
		loc, err := chromedp.Run(lctx, chromedp.Location())
		lcancel()
		if err == nil && loc != "" && !strings.HasPrefix(loc, dexOrigin) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("browser stayed at Dex after the login form: %w (page: %s)", ctx.Err(), b.describePage())
		case <-tick.C:
		}
	}
}
