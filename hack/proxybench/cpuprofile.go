package main

import "github.com/kube-oidc/kube-oidc/internal/cpuprofile"

// startCPUProfile profiles the bare proxy the way oidc-proxy built with
// -tags proxyprof profiles itself: OIDC_PROXY_CPUPROFILE=FILE (written to
// FILE.bare), from OIDC_PROXY_CPUPROFILE_BARE_AFTER (5s) for
// OIDC_PROXY_CPUPROFILE_FOR (10s).
func startCPUProfile() { cpuprofile.FromEnv(".bare", "OIDC_PROXY_CPUPROFILE_BARE_AFTER") }
