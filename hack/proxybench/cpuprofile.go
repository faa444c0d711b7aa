package main

import (
	"os"
	"runtime/pprof"
	"time"
)

// startCPUProfile profiles the bare proxy the way oidc-proxy built with
// -tags proxyprof profiles itself: OIDC_PROXY_CPUPROFILE=FILE (written to
// FILE.bare), from OIDC_PROXY_CPUPROFILE_BARE_AFTER (5s) for
// OIDC_PROXY_CPUPROFILE_FOR (10s).
func startCPUProfile() {
	file := os.Getenv("OIDC_PROXY_CPUPROFILE")
	if file == "" {
		return
	}
	after, err := time.ParseDuration(os.Getenv("OIDC_PROXY_CPUPROFILE_BARE_AFTER"))
	if err != nil {
		after = 5 * time.Second
	}
	window, err := time.ParseDuration(os.Getenv("OIDC_PROXY_CPUPROFILE_FOR"))
	if err != nil {
		window = 10 * time.Second
	}
	go func() {
		time.Sleep(after)
		f, err := os.Create(file + ".bare")
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
