// Command image builds the oidc-proxy container image without Docker, with
// go-containerregistry: a static binary (CGO off, -trimpath, version
// stamped) per platform, a CA bundle, the nonroot user 65532, the Dockerfile's
// entrypoint, ports and OCI labels, written as an OCI image layout in one tar
// file that `ctr image import`, `skopeo copy oci-archive:` and `crane push`
// take. The same commit gives the same bytes and digest: every time is
// $SOURCE_DATE_EPOCH or the last commit's, entries are sorted, owners fixed.
// Run it with `make image`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kube-oidc/kube-oidc/hack/internal/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	version := fs.String("version", "dev", "version stamped into the binary and the default tag")
	ldflags := fs.String("ldflags", "", "go build -ldflags (make passes the version stamp)")
	out := fs.String("out", "dist/oidc-proxy-image.tar", "the OCI layout tar file to write")
	repository := fs.String("repository", "ghcr.io/kube-oidc/oidc-proxy", "image repository the tags are named in")
	tags := fs.String("tags", "", "comma-separated tags (default: -version)")
	platforms := fs.String("platforms", "linux/"+runtime.GOARCH, "comma-separated os/arch list")
	caFile := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to put at /etc/ssl/certs/ca-certificates.crt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		return fmt.Errorf("CA bundle: %w (install ca-certificates or pass -ca-bundle)", err)
	}
	created, err := release.SourceDate(ctx, root)
	if err != nil {
		return err
	}
	s := spec{Repository: *repository, CABundle: ca, Created: created, Binaries: map[string]string{}}
	s.Tags = splitList(*tags)
	if len(s.Tags) == 0 {
		s.Tags = []string{*version}
	}
	revision, _ := release.Command(ctx, root, nil, "git", "rev-parse", "HEAD")
	revision = strings.TrimSpace(revision)
	s.Labels = map[string]string{
		"org.opencontainers.image.title":       "oidc-proxy",
		"org.opencontainers.image.description": "OIDC authenticating, impersonating proxy in front of kube-apiserver",
		"org.opencontainers.image.source":      "https://github.com/kube-oidc/kube-oidc",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     *version,
		"org.opencontainers.image.revision":    revision,
	}
	build, err := os.MkdirTemp("", "oidc-proxy-image-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)
	for _, p := range splitList(*platforms) {
		goos, arch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", p)
		}
		bin := filepath.Join(build, goos+"_"+arch, "oidc-proxy")
		if err := release.Build(ctx, root, "oidc-proxy", goos, arch, *ldflags, bin, "-buildvcs=false"); err != nil {
			return err
		}
		s.Binaries[p] = bin
	}
	digest, err := write(s, *out)
	if err != nil {
		return err
	}
	for _, t := range s.Tags {
		fmt.Printf("%s:%s@%s\n", s.Repository, t, digest)
	}
	fmt.Printf("wrote %s\n", *out)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := release.Command(ctx, ".", nil, "git", "rev-parse", "--show-toplevel")
	if err != nil {
		wd, werr := os.Getwd()
		if werr != nil {
			return "", werr
		}
		return wd, nil
	}
	return strings.TrimSpace(out), nil
}
