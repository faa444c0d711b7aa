package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logTailLines is how many lines of a component's log a failure message carries.
const logTailLines = 40

// Process is a component started by the harness: its combined stdout and
// stderr go to a log file in its directory, and the last lines are kept for
// failure messages.
type Process struct {
	Name    string
	Dir     string
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	mu   sync.Mutex
	err  error // exit status, once done is closed
}

// startProcess starts bin with args in dir, logging to dir/NAME.log. The
// process is stopped (SIGTERM, then SIGKILL after a grace period) when the test ends.
func startProcess(t testing.TB, name, dir string, env []string, bin string, args ...string) *Process {
	t.Helper()
	p, err := StartProcess(name, dir, env, bin, args...)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// StartProcess starts bin with args in dir; the caller must call Stop.
func StartProcess(name, dir string, env []string, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	// Own process group, so that Stop also ends the children (Chromium helpers).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	p := &Process{Name: name, Dir: dir, LogPath: logPath, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID (of the group leader: the binary started).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL after 10 seconds. It is
// idempotent.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Tail returns the last n lines of the process log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	return tailLines(b, n)
}

// Describe is the name, log path and log tail, for failure messages.
func (p *Process) Describe() string {
	status := "running"
	if exited, err := p.Exited(); exited {
		status = fmt.Sprintf("exited: %v", err)
	}
	return fmt.Sprintf("--- %s (%s), log %s, last %d lines:\n%s", p.Name, status, p.LogPath, logTailLines, p.Tail(logTailLines))
}

func tailLines(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// errNotReady is returned by a readiness probe that should be retried.
var errNotReady = errors.New("not ready")

// waitReady calls probe every tick until it returns nil, the process exits, or
// ctx ends. The error names the last probe failure.
func waitReady(ctx context.Context, p *Process, tick time.Duration, probe func(context.Context) error) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	var last error
	for {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited before it was ready (%v); last probe: %v", p.Name, err, last)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = probe(pctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; last probe: %v", p.Name, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// readAllLimit reads at most 1 MiB of r.
func readAllLimit(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	return strings.TrimSpace(string(b))
}
