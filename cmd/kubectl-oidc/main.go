// Command kubectl-oidc is the kubectl plugin of kube-oidc: `kubectl oidc
// get-token` (the exec credential plugin), login, logout, whoami, setup and
// convert. This package only parses flags and wires pkg/login,
// pkg/kubeconfig and pkg/discovery together.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
