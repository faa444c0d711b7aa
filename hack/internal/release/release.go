// Package release holds what the release tools (hack/dist, hack/image) share:
// the reproducible build time, running a command, and building one of our
// binaries for a platform.
package release

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// SourceDate is the time written into release files: $SOURCE_DATE_EPOCH, else
// the last commit's time in root, else the Unix epoch (outside a git checkout:
// a fixed time all the same).
func SourceDate(ctx context.Context, root string) (time.Time, error) {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", v, err)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	out, err := Command(ctx, root, nil, "git", "log", "-1", "--format=%ct")
	sec, perr := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil || perr != nil {
		return time.Unix(0, 0).UTC(), nil
	}
	return time.Unix(sec, 0).UTC(), nil
}

// GoCommand is $GO, else go.
func GoCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// Build builds ./cmd/NAME of the module in root for goos/goarch into out:
// CGO off, -trimpath, with ldflags and any further go build flags.
func Build(ctx context.Context, root, name, goos, goarch, ldflags, out string, flags ...string) error {
	return BuildEnv(ctx, root, name, goos, goarch, ldflags, out, nil, flags...)
}

// BuildEnv is Build with more environment for go build (e.g. GOFIPS140).
func BuildEnv(ctx context.Context, root, name, goos, goarch, ldflags, out string, extraEnv []string, flags ...string) error {
	env := append([]string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch}, extraEnv...)
	args := append([]string{"build", "-trimpath", "-ldflags", ldflags}, flags...)
	args = append(args, "-o", out, "./cmd/"+name)
	if _, err := Command(ctx, root, env, GoCommand(), args...); err != nil {
		return fmt.Errorf("build %s for %s/%s: %w", name, goos, goarch, err)
	}
	return nil
}

// Command runs name args in dir with env added, and returns its stdout. A
// failure carries the command's stderr.
func Command(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
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
