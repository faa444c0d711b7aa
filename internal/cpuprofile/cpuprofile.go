// Package cpuprofile writes a CPU profile of a time window of a running
// process, configured by environment variables, for performance work on
// oidc-proxy under load (docs/benchmarks.md). Not used by release builds.
package cpuprofile

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
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

// HeapOnSignal, when $OIDC_PROXY_HEAPPROFILE names a file, writes on each
// SIGUSR1 the live heap (after a GC) to that name plus suffix plus
// ".N.heap", the goroutines' stacks to ".N.goroutine" and a summary of the
// runtime's memory statistics to ".N.memstats" (N counts from 1): what a
// process holds at a chosen moment, such as with thousands of watches open.
func HeapOnSignal(suffix string) {
	file := os.Getenv("OIDC_PROXY_HEAPPROFILE")
	if file == "" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		for n := 1; ; n++ {
			<-sig
			base := fmt.Sprintf("%s%s.%d", file, suffix, n)
			runtime.GC()
			for name, write := range map[string]func(*os.File) error{
				".heap":      func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) },
				".goroutine": func(f *os.File) error { return pprof.Lookup("goroutine").WriteTo(f, 0) },
				".memstats": func(f *os.File) error {
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					_, err := fmt.Fprintf(f, "goroutines %d\nheap in use %d\nstacks in use %d\nsys %d\nheap released %d\nheap idle %d\n",
						runtime.NumGoroutine(), m.HeapInuse, m.StackInuse, m.Sys, m.HeapReleased, m.HeapIdle)
					return err
				},
			} {
				if f, err := os.Create(base + name); err == nil {
					_ = write(f)
					_ = f.Close()
				}
			}
		}
	}()
}
