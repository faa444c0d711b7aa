package main

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/kube-oidc/kube-oidc/hack/internal/release"
)

// buildAll runs `go build` for every target (each of its Builds), c.jobs
// at a time, into dir/NAME[-fips]_OS_ARCH/FILE, then then(target) in the same slot (packing overlaps
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
			for _, b := range t.Builds() {
				out, err := filepath.Abs(filepath.Join(dir, t.buildDir(), b.File))
				if err != nil {
					cancel(err)
					return
				}
				if err := release.BuildEnv(ctx, c.root, t.Name, t.OS, t.Arch, c.ldflags, out, b.Env, b.Flags...); err != nil {
					cancel(err)
					return
				}
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
