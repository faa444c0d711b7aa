//go:build kubeconfig_sibling

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// kubeconfigCommands are the commands that read or write kubeconfigs
// (whoami, setup, convert). This build runs kubectl-oidc-kubeconfig for
// them, with the same arguments and standard streams: their code links
// client-go's kubeconfig loader and REST client, whose package
// initialisation would otherwise run before every get-token (see
// docs/benchmarks.md).
func kubeconfigCommands(a *app) []*cobra.Command {
	var cmds []*cobra.Command
	for _, name := range []string{"whoami", "setup", "convert"} {
		cmd := &cobra.Command{
			Use:                name,
			Short:              kubeconfigShort[name],
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.runSibling(cmd, append([]string{name}, args...))
			},
			ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return a.siblingCompletions(cmd, append([]string{name}, args...), toComplete)
			},
		}
		cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
			if err := a.runSibling(cmd, []string{name, "--help"}); err != nil && !errors.As(err, new(exitCode)) {
				fmt.Fprintf(a.Err, "kubectl-oidc: %v\n", err)
			}
		})
		cmds = append(cmds, cmd)
	}
	return cmds
}

// siblingCompletions asks kubectl-oidc-kubeconfig for the shell
// completions of args and toComplete (cobra's hidden __complete command:
// one completion a line, then ":DIRECTIVE").
func (a *app) siblingCompletions(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	path, err := siblingPath()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	c := exec.CommandContext(cmd.Context(), path, append(append([]string{cobra.ShellCompRequestCmd}, args...), toComplete)...)
	out, err := c.Output()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	last := lines[len(lines)-1]
	directive, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return lines[:len(lines)-1], cobra.ShellCompDirective(directive)
}

// runSibling runs kubectl-oidc-kubeconfig with args and the process's
// standard streams; its exit status becomes an exitCode.
func (a *app) runSibling(cmd *cobra.Command, args []string) error {
	path, err := siblingPath()
	if err != nil {
		return fmt.Errorf("%s: find %s: %w", cmd.Name(), siblingName, err)
	}
	c := exec.CommandContext(cmd.Context(), path, args...)
	c.Stdin, c.Stdout, c.Stderr = a.In, a.Out, a.Err
	c.Cancel = func() error {
		// Interrupted: let it stop as it would on Ctrl-C.
		if err := c.Process.Signal(os.Interrupt); err != nil {
			return c.Process.Kill()
		}
		return nil
	}
	c.WaitDelay = 10 * time.Second
	err = c.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitCode(exitErr.ExitCode())
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s runs %s, which is not next to kubectl-oidc (%s): reinstall kubectl-oidc from a release archive or with krew, which ship both", cmd.Name(), siblingName, path)
	case err != nil:
		return fmt.Errorf("%s: run %s: %w", cmd.Name(), siblingName, err)
	}
	return nil
}

// siblingPath is kubectl-oidc-kubeconfig in the directory of the running
// executable, symbolic links resolved (krew links kubectl-oidc into its bin
// directory and unpacks the archive elsewhere).
func siblingPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	name := siblingName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(filepath.Dir(exe), name), nil
}
