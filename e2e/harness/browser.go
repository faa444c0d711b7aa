package harness

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is a headless Chromium driven through chromedp, with a fresh
// profile in a temp dir.
type Browser struct {
	ctx context.Context
	out *syncBuffer
}

// BrowserOptions configure NewBrowser.
type BrowserOptions struct {
	// TrustSPKI are SPKI hashes of serving certificates the browser accepts
	// although no system root signs them (the harness CA's servers).
	TrustSPKI []string
}

// NewBrowser starts Chromium; it is stopped when the test ends.
func NewBrowser(t testing.TB, opts BrowserOptions) *Browser {
	t.Helper()
	bin := RequireBinary(t, Chromium)
	dir := t.TempDir()
	out := &syncBuffer{}
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(dir + "/profile"),
		chromedp.Env("TMPDIR=" + dir),
		chromedp.CombinedOutput(out),
	}
	if len(opts.TrustSPKI) > 0 {
		allocOpts = append(allocOpts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(opts.TrustSPKI, ",")))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so that a missing or broken Chromium fails here.
	// The first action must run on ctx itself: a derived context with a
	// timeout would own the browser and end it when cancelled.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v\n--- chromium output:\n%s", err, out.Tail(logTailLines))
	}
	return &Browser{ctx: ctx, out: out}
}

// Context is the chromedp context of the browser's tab.
func (b *Browser) Context() context.Context { return b.ctx }

// Output is the tail of Chromium's stdout and stderr, for failure messages.
func (b *Browser) Output() string { return b.out.Tail(logTailLines) }

// LoginDex opens authURL (an authorization request to Dex for the local
// connector), fills in Dex's login form and submits it, then waits until the
// browser has left Dex for a page whose URL starts with doneURLPrefix (the
// client's redirect URI).
func (b *Browser) LoginDex(ctx context.Context, authURL, login, password, doneURLPrefix string) error {
	if err := b.SubmitDexLogin(ctx, authURL, login, password); err != nil {
		return err
	}
	return b.WaitURLPrefix(ctx, doneURLPrefix)
}

// SubmitDexLogin opens authURL and submits Dex's login form.
func (b *Browser) SubmitDexLogin(ctx context.Context, authURL, login, password string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The tab's context must not be cancelled (that would close the tab);
	// bound each action by ctx instead.
	tab, cancelTab := context.WithCancel(b.ctx)
	defer cancelTab()
	stop := context.AfterFunc(ctx, cancelTab)
	defer stop()

	if err := chromedp.Do(tab,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS(`input[name=login]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=login]`), login),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
	); err != nil {
		return fmt.Errorf("fill in the Dex login form: %w (page: %s)", err, b.describePage())
	}
	return nil
}

// WaitText polls the page until its visible text contains substr.
func (b *Browser) WaitText(ctx context.Context, substr string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		lctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		text, err := chromedp.Run(lctx, chromedp.Text(chromedp.CSS("body")))
		cancel()
		if err == nil && strings.Contains(text, substr) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("page never showed %q: %w (page: %s)", substr, ctx.Err(), b.describePage())
		case <-tick.C:
		}
	}
}

// WaitURLPrefix polls the tab's location until it starts with prefix.
func (b *Browser) WaitURLPrefix(ctx context.Context, prefix string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var loc string
	for {
		lctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		l, err := chromedp.Run(lctx, chromedp.Location())
		cancel()
		if err == nil {
			loc = l
			if strings.HasPrefix(loc, prefix) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("browser did not reach %s: %w (page: %s)", prefix, ctx.Err(), b.describePage())
		case <-tick.C:
		}
	}
}

// describePage is the URL and visible text of the current page, shortened.
func (b *Browser) describePage() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 500 {
		text = text[:500] + "..."
	}
	return fmt.Sprintf("%s %q", loc, text)
}

// PageText is the visible text of the current page.
func (b *Browser) PageText(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tab, cancelTab := context.WithCancel(b.ctx)
	defer cancelTab()
	stop := context.AfterFunc(ctx, cancelTab)
	defer stop()
	return chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.Len() > 1<<20 {
		s.buf.Reset() // keep memory bounded; the tail is what matters
	}
	return s.buf.Write(p)
}

func (s *syncBuffer) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tailLines(s.buf.Bytes(), n)
}

// ApproveDexDevice completes Dex's device flow in the browser: it opens
// verificationURI (verification_uri_complete, or the plain URI with userCode
// typed in), submits the user code, picks the password connector when Dex
// shows its connector list, fills in the login form, and waits for Dex's
// "Login Successful" page.
func (b *Browser) ApproveDexDevice(ctx context.Context, verificationURI, userCode, login, password string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tab, cancelTab := context.WithCancel(b.ctx)
	defer cancelTab()
	stop := context.AfterFunc(ctx, cancelTab)
	defer stop()

	if err := chromedp.Do(tab, chromedp.Navigate(verificationURI)); err != nil {
		return fmt.Errorf("open %s: %w", verificationURI, err)
	}
	present := func(sel string) bool {
		n, err := chromedp.Run(tab, chromedp.Nodes(chromedp.CSS(sel), chromedp.AtLeast(0)))
		return err == nil && len(n) > 0
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	codeSubmitted, loginSubmitted := false, false
	for {
		text, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
		switch {
		case strings.Contains(text, "Login Successful"):
			return nil
		case strings.Contains(text, "Invalid"):
			return fmt.Errorf("dex refused the device approval (page: %s)", b.describePage())
		case !codeSubmitted && present(`input#user_code`):
			codeSubmitted = true
			steps := []chromedp.Action[chromedp.Void]{}
			if userCode != "" {
				steps = append(steps, chromedp.SetValue(chromedp.CSS(`input#user_code`), userCode))
			}
			steps = append(steps, chromedp.Click(chromedp.CSS(`#submit-login`)))
			if err := chromedp.Do(tab, steps...); err != nil {
				return fmt.Errorf("submit the user code: %w (page: %s)", err, b.describePage())
			}
		case !loginSubmitted && present(`input[name=login]`):
			loginSubmitted = true
			if err := chromedp.Do(tab,
				chromedp.SendKeys(chromedp.CSS(`input[name=login]`), login),
				chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
				chromedp.Submit(chromedp.CSS(`input[name=password]`)),
			); err != nil {
				return fmt.Errorf("fill in the Dex login form: %w (page: %s)", err, b.describePage())
			}
		case !loginSubmitted && present(`a[href*="/auth/local"]`):
			if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`a[href*="/auth/local"]`))); err != nil {
				return fmt.Errorf("choose the password connector: %w (page: %s)", err, b.describePage())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("device approval did not finish: %w (page: %s)", ctx.Err(), b.describePage())
		case <-tick.C:
		}
	}
}
