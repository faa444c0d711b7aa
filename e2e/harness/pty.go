package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenPTY opens a pseudo-terminal: pty is the controlling side, tty the
// terminal a child gets as stdin, so that kubectl (interactiveMode
// IfAvailable) and kubectl-oidc see a person at a terminal.
func OpenPTY() (pty, tty *os.File, err error) {
	pty, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fd := int(pty.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		pty.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		pty.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		pty.Close()
		return nil, nil, fmt.Errorf("open terminal: %w", err)
	}
	return pty, tty, nil
}

// RunTTY runs kubectl to completion with a terminal as stdin (what a person
// typing the command has); stdout and stderr are captured as with Run.
// Anything written to the terminal is discarded.
func (k *Kubectl) RunTTY(ctx context.Context, args ...string) KubectlResult {
	pty, tty, err := OpenPTY()
	if err != nil {
		return KubectlResult{Err: err}
	}
	defer pty.Close()
	go func() { _, _ = io.Copy(io.Discard, pty) }()
	cmd, stdout, stderr := k.Command(ctx, args...)
	cmd.Stdin = tty
	err = cmd.Run()
	tty.Close()
	return KubectlResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}
