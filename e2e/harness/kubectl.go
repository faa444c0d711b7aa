package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Kubectl runs the machine's kubectl (or the one e2e-bins built) with a
// kubeconfig, a private HOME, and our binaries' directory first on PATH, so
// that `kubectl oidc ...` finds kubectl-oidc as a plugin.
type Kubectl struct {
	Bin        string
	Kubeconfig string
	Home       string
	Env        []string
}

// NewKubectl prepares kubectl for a kubeconfig; kubectl-oidc's directory goes
// first on PATH.
func NewKubectl(t testing.TB, kubeconfig string) *Kubectl {
	t.Helper()
	k := NewPlainKubectl(t, kubeconfig)
	plugin := OurBinary(t, KubectlOIDC)
	k.Env = append(k.Env, "PATH="+filepath.Dir(plugin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return k
}

// NewPlainKubectl prepares kubectl for a kubeconfig that needs no plugin.
func NewPlainKubectl(t testing.TB, kubeconfig string) *Kubectl {
	t.Helper()
	bin := RequireBinary(t, KubectlBin)
	home := t.TempDir()
	return &Kubectl{
		Bin:        bin,
		Kubeconfig: kubeconfig,
		Home:       home,
		Env: []string{
			"HOME=" + home,
			"KUBECONFIG=" + kubeconfig,
		},
	}
}

// KubectlResult is what a kubectl process printed and how it ended.
type KubectlResult struct {
	Stdout, Stderr string
	Err            error
}

func (r KubectlResult) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.Err, strings.TrimSpace(r.Stdout), strings.TrimSpace(r.Stderr))
}

// Command is a kubectl command ready to start (for concurrent runs).
func (k *Kubectl) Command(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, k.Bin, args...)
	cmd.Env = append(os.Environ(), k.Env...)
	cmd.Dir = k.Home
	// kubectl runs plugins (kubectl-oidc, which may start a browser
	// command): end the whole process group when ctx ends, and do not wait
	// for a straggler holding stdout/stderr open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	return cmd, &stdout, &stderr
}

// Run runs kubectl to completion.
func (k *Kubectl) Run(ctx context.Context, args ...string) KubectlResult {
	cmd, stdout, stderr := k.Command(ctx, args...)
	err := cmd.Run()
	return KubectlResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}
