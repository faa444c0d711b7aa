package login

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"runtime"
)

// openBrowserFunc returns how to open a URL: ui.OpenBrowser, else
// --browser-command, else the platform's opener.
func openBrowserFunc(ui UI, browserCommand string) func(ctx context.Context, url string) error {
	if ui.OpenBrowser != nil {
		return ui.OpenBrowser
	}
	return func(ctx context.Context, u string) error {
		var cmd *exec.Cmd
		switch {
		case browserCommand != "":
			cmd = exec.Command(browserCommand, u)
		case runtime.GOOS == "darwin":
			cmd = exec.Command("open", u)
		case runtime.GOOS == "windows":
			cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
		default:
			cmd = exec.Command("xdg-open", u)
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		go func() { _ = cmd.Wait() }() // reap; the browser outlives us
		return nil
	}
}

// browserAvailable guesses whether a browser can be opened on this machine
// (used by --grant-type=auto).
func browserAvailable(ui UI, o *Options, env env) bool {
	if ui.OpenBrowser != nil || o.BrowserCommand != "" {
		return true
	}
	if env.getenv("SSH_CONNECTION") != "" || env.getenv("SSH_TTY") != "" {
		return false
	}
	switch env.goos {
	case "darwin", "windows":
		return true
	}
	return env.getenv("DISPLAY") != "" || env.getenv("WAYLAND_DISPLAY") != ""
}

// shortURL turns the local server's index URL (http://localhost:PORT/) into
// the address it listens on (http://127.0.0.1:PORT/), so the printed URL
// works even where localhost resolves to ::1 first.
func shortURL(index string, listen []string) string {
	u, err := url.Parse(index)
	if err != nil {
		return index
	}
	port := u.Port()
	host, ok := "", false
	// An exact port match names the candidate; else it was one with port 0.
	for _, want := range []string{port, "0"} {
		for _, a := range listen {
			if h, p, err := net.SplitHostPort(a); err == nil && p == want {
				host, ok = h, true
				break
			}
		}
		if ok {
			break
		}
	}
	if !ok {
		return index
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	u.Host = net.JoinHostPort(host, port)
	return u.String()
}
