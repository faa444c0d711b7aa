// Package cpuprofile writes a CPU profile of a time window of a running
// process, configured by environment variables, for performance work on
// oidc-proxy under load (docs/benchmarks.md). Not used by release builds.
package cpuprofile

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// FromEnv starts, in the background, a CPU profile written to the file
// named by $OIDC_PROXY_CPUPROFILE plus suffix, covering
// $OIDC_PROXY_CPUPROFILE_FOR (default 10s) from $afterVar (default 5s)
// after the call. It does nothing when $OIDC_PROXY_CPUPROFILE is empty.
func FromEnv(suffix, afterVar string) {
	file := os.Getenv("OIDC_PROXY_CPUPROFILE")
	if file == "" {
		return
	}
	after := durationEnv(afterVar, 5*time.Second)
	window := durationEnv("OIDC_PROXY_CPUPROFILE_FOR", 10*time.Second)
	go func() {
		time.Sleep(after)
		f, err := os.Create(file + suffix)
		if err != nil {
			return
		}
		defer f.Close()
		if pprof.StartCPUProfile(f) != nil {
			return
		}
		time.Sleep(window)
		pprof.StopCPUProfile()
		// The live heap at the end of the window (after a GC), for the
		// garbage collector's share of the cost (docs/benchmarks.md).
		if h, err := os.Create(file + suffix + ".heap"); err == nil {
			runtime.GC()
			_ = pprof.Lookup("heap").WriteTo(h, 0)
			_ = h.Close()
		}
	}()
}

func durationEnv(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
