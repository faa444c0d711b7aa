//go:build proxyprof

// Built only with -tags proxyprof (docs/benchmarks.md): a CPU profile of the
// running proxy for performance work, never in a release binary.

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

// With OIDC_PROXY_CPUPROFILE=FILE the process writes FILE.PID, a CPU
// profile of the window from OIDC_PROXY_CPUPROFILE_AFTER (default 5s) after
// start, for OIDC_PROXY_CPUPROFILE_FOR (default 10s).
func init() {
	file := os.Getenv("OIDC_PROXY_CPUPROFILE")
	if file == "" {
		return
	}
	after, err := time.ParseDuration(os.Getenv("OIDC_PROXY_CPUPROFILE_AFTER"))
	if err != nil {
		after = 5 * time.Second
	}
	window, err := time.ParseDuration(os.Getenv("OIDC_PROXY_CPUPROFILE_FOR"))
	if err != nil {
		window = 10 * time.Second
	}
	go func() {
		time.Sleep(after)
		f, err := os.Create(fmt.Sprintf("%s.%d", file, os.Getpid()))
		if err != nil {
			return
		}
		defer f.Close()
		if pprof.StartCPUProfile(f) != nil {
			return
		}
		time.Sleep(window)
		pprof.StopCPUProfile()
	}()
}
