package tokencache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Child process modes: the test binary re-executes itself with
// TOKENCACHE_CHILD set to run one of these instead of the tests.
const (
	childEnv  = "TOKENCACHE_CHILD"
	dirEnv    = "TOKENCACHE_DIR"
	userEnv   = "TOKENCACHE_USER"
	roundsEnv = "TOKENCACHE_ROUNDS"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childKey(user string) Key {
	k := baseKey()
	k.Username = user
	return k
}

func runChild(mode string) error {
	ctx := context.Background()
	dir := os.Getenv(dirEnv)
	key := childKey(os.Getenv(userEnv))
	switch mode {
	case "hold":
		// Take the lock, say so, hold it until stdin closes, say so, release.
		unlock, err := Lock(ctx, dir, key, time.Minute, nil)
		if err != nil {
			return err
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Println("releasing")
		return unlock()
	case "count":
		// Read-modify-write a counter under the lock; without mutual
		// exclusion concurrent children lose increments.
		rounds, err := strconv.Atoi(os.Getenv(roundsEnv))
		if err != nil {
			return err
		}
		counter := filepath.Join(dir, "counter")
		for range rounds {
			unlock, err := Lock(ctx, dir, key, time.Minute, nil)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(counter)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(data))
			if err != nil {
				return err
			}
			if err := os.WriteFile(counter, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
				return err
			}
			if err := unlock(); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHolder starts a child process holding the lock of childKey(user) in
// dir and returns once it holds it.
func startHolder(t *testing.T, dir, user string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=hold", dirEnv+"="+dir, userEnv+"="+user)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	c.expect(t, "locked")
	return c
}

func (c *child) expect(t *testing.T, want string) {
	t.Helper()
	line, err := c.out.ReadString('\n')
	if got := strings.TrimSpace(line); got != want || err != nil {
		t.Fatalf("child said %q (%v), want %q", got, err, want)
	}
}

func TestLockExcludesOtherProcessesAndSaysOnceThatItWaits(t *testing.T) {
	dir := t.TempDir()
	holder := startHolder(t, dir, "alice")

	var calls atomic.Int32
	waitingCalled := make(chan string, 10)
	type result struct {
		unlock func() error
		err    error
	}
	done := make(chan result, 1)
	go func() {
		unlock, err := Lock(context.Background(), dir, childKey("alice"), time.Minute, func(msg string) {
			calls.Add(1)
			waitingCalled <- msg
		})
		done <- result{unlock, err}
	}()

	var msg string
	select {
	case msg = <-waitingCalled:
	case r := <-done:
		t.Fatalf("Lock returned (err %v) without waiting while another process held the lock", r.err)
	}
	if want := LockPath(dir, childKey("alice")); !strings.Contains(msg, want) || !strings.HasPrefix(msg, "waiting for another kubectl oidc process") {
		t.Errorf("waiting message %q, want one naming %s", msg, want)
	}
	select {
	case r := <-done:
		t.Fatalf("Lock returned while another process held the lock: %v", r.err)
	default:
	}
	// Let the holder go; it says "releasing" before it unlocks, so once
	// Lock returns that line must already be in the pipe.
	if err := holder.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	holder.expect(t, "releasing")
	if err := r.unlock(); err != nil {
		t.Fatal(err)
	}
	if err := r.unlock(); err != nil {
		t.Fatalf("second unlock: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("waiting called %d times, want 1", n)
	}
}

func TestLockTimesOutWithAClearErrorAndOneWaitingMessage(t *testing.T) {
	dir := t.TempDir()
	startHolder(t, dir, "alice")
	var calls atomic.Int32
	// Several retry intervals pass before the timeout, so a message per
	// retry would show.
	timeout := 10 * lockRetryDelay
	_, err := Lock(context.Background(), dir, childKey("alice"), timeout, func(string) { calls.Add(1) })
	if err == nil {
		t.Fatal("Lock succeeded while another process held the lock")
	}
	path := LockPath(dir, childKey("alice"))
	for _, want := range []string{path, "still holds", timeout.String(), "retry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("waiting called %d times, want 1", n)
	}
}

func TestLockGivesUpWhenTheContextEnds(t *testing.T) {
	dir := t.TempDir()
	startHolder(t, dir, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Lock(ctx, dir, childKey("alice"), 0, func(string) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestLockIsReleasedWhenTheHolderDies(t *testing.T) {
	dir := t.TempDir()
	holder := startHolder(t, dir, "alice")
	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.cmd.Wait()
	unlock, err := Lock(context.Background(), dir, childKey("alice"), time.Minute, func(string) {
		t.Error("waited for the lock of a dead process")
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = unlock()
}

func TestLockOfAnotherKeyDoesNotWait(t *testing.T) {
	dir := t.TempDir()
	startHolder(t, dir, "alice")
	unlock, err := Lock(context.Background(), dir, childKey("bob"), time.Minute, func(string) {
		t.Error("waited for the lock of another key")
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = unlock()
}

func TestLockExcludesGoroutinesOfOneProcess(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(context.Background(), dir, baseKey(), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Lock(context.Background(), dir, baseKey(), lockRetryDelay, nil)
	if err == nil {
		t.Fatal("a second Lock in the same process succeeded")
	}
}

// Several processes increment a counter file under the lock, the shape of
// 20 kubectl processes refreshing one token: no increment may be lost.
func TestLockSerialisesReadModifyWriteAcrossProcesses(t *testing.T) {
	const children, rounds = 4, 25
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "counter"), []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, children)
	for range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), childEnv+"=count", dirEnv+"="+dir, userEnv+"=alice", roundsEnv+"="+strconv.Itoa(rounds))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child: %v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), strconv.Itoa(children*rounds); got != want {
		t.Fatalf("counter = %s, want %s: increments were lost", got, want)
	}
}

func TestLockReportsAnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Lock(context.Background(), file, baseKey(), time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("err = %v, want one naming %s", err, file)
	}
}
