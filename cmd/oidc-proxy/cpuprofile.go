//go:build proxyprof

// Built only with -tags proxyprof (docs/benchmarks.md): a CPU profile of the
// running proxy for performance work, never in a release binary.

package main

import (
	"fmt"
	"os"

	"github.com/kube-oidc/kube-oidc/internal/cpuprofile"
)

// With OIDC_PROXY_CPUPROFILE=FILE the process writes FILE.PID, a CPU
// profile from OIDC_PROXY_CPUPROFILE_AFTER (5s) after start, for
// OIDC_PROXY_CPUPROFILE_FOR (10s). With OIDC_PROXY_HEAPPROFILE=FILE, each
// SIGUSR1 writes the heap, goroutines and memory statistics to FILE.PID.N.*.
func init() {
	cpuprofile.FromEnv(fmt.Sprintf(".%d", os.Getpid()), "OIDC_PROXY_CPUPROFILE_AFTER")
	cpuprofile.HeapOnSignal(fmt.Sprintf(".%d", os.Getpid()))
}
