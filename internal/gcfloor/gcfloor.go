// Package gcfloor gives the Go garbage collector a minimum heap runway:
// after every collection, GOGC is set so that the next one starts no
// earlier than floor bytes of allocation after the live heap, and never
// below Go's default of 100.
//
// Why oidc-proxy wants it: its live heap is small but pointer-dense (~6 MB
// of Kubernetes API schemes, CEL declarations and protobuf descriptors
// that every cycle marks), and each proxied request allocates ~11 KB, so
// with GOGC=100 the collector runs every ~6 MB of allocation: ~35 cycles
// per second at 22k requests per second, ~4.5 µs of CPU per request
// (docs/benchmarks.md). With a 32 MiB floor it runs about a sixth as often.
// Once the live heap is larger than the floor the setting is Go's default,
// so the floor costs at most floor bytes of extra memory.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// MaxFloor is the largest floor Percent honours (1 TiB); larger ones are
// treated as this.
const MaxFloor = 1 << 40

// heapMinimum is the Go runtime's minimum heap goal at GOGC=100 (4 MiB);
// the runtime scales it with GOGC.
const heapMinimum = 4 << 20

// Percent is the GOGC that gives a heap of live bytes at least floor bytes
// of runway before the next collection: max(100, floor*100/live). Because
// the runtime scales its 4 MiB minimum heap goal with GOGC, the result is
// capped so that the minimum stays within live+floor (a tiny live heap,
// as before the first collection, does not get a huge goal).
func Percent(live, floor uint64) int {
	if floor == 0 {
		return 100
	}
	floor = min(floor, MaxFloor) // no overflow below
	live = min(live, 1<<56)
	limit := (live + floor) * 100 / heapMinimum
	p := limit
	if live > 0 {
		p = min(floor*100/live, limit)
	}
	return int(max(p, 100))
}

// Tuner re-tunes GOGC after every garbage collection until Stop.
type Tuner struct {
	floor  uint64
	mu     sync.Mutex
	stop   bool
	last   int
	sample []metrics.Sample
}

// Start sets GOGC for the current live heap and keeps it tuned after each
// collection. The caller decides whether to start it at all (oidc-proxy
// does not when GOGC is set in the environment).
func Start(floor uint64) *Tuner {
	t := &Tuner{floor: floor, last: -1, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	t.arm()
	return t
}

// Stop ends the tuning and restores GOGC to 100.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop {
		return
	}
	t.stop = true
	debug.SetGCPercent(100)
}

// Percent is the GOGC the tuner set last.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// sentinel is allocated for each cycle and dropped at once; its cleanup
// runs after the collection that finds it unreachable. It holds a pointer
// so it is never batched with other small objects by the tiny allocator.
type sentinel struct {
	_ *byte
	_ [16]byte
}

func (t *Tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *Tuner) {
		if t.tune() {
			t.arm()
		}
	}, t)
}

// tune sets GOGC for the live heap of the last collection; false once
// stopped.
func (t *Tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop {
		return false
	}
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if p := Percent(live, t.floor); p != t.last {
		debug.SetGCPercent(p)
		t.last = p
	}
	return true
}
