package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// buildAll runs `go build` for every target, c.jobs at a time, into
// dir/OS_ARCH/BINARY, then then(target) in the same slot (packing overlaps
// the other builds). The first failure cancels the rest.
func buildAll(ctx context.Context, c config, dir string, targets []Target, then func(Target) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := max(c.jobs, 1)
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			out, err := filepath.Abs(filepath.Join(dir, t.OS+"_"+t.Arch, t.Binary))
			if err != nil {
				cancel(err)
				return
			}
			env := []string{"CGO_ENABLED=0", "GOOS=" + t.OS, "GOARCH=" + t.Arch}
			args := []string{"build", "-trimpath", "-ldflags", c.ldflags, "-o", out, "./cmd/" + t.Name}
			if _, err := command(ctx, c.root, env, goCommand(), args...); err != nil {
				cancel(fmt.Errorf("build %s for %s/%s: %w", t.Name, t.OS, t.Arch, err))
				return
			}
			if err := then(t); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// command runs name args in dir with env added, and returns its stdout. A
// failure carries the command's stderr.
func command(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
