// Package version holds the build version stamped in by the Makefile.
package version

// Version is set with -ldflags "-X github.com/kube-oidc/kube-oidc/internal/version.Version=...".
var Version = "dev"
