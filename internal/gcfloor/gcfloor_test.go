package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		live, floor uint64
		want        int
	}{
		{"no floor", 6 * mib, 0, 100},
		{"small live heap gets the floor as runway", 6 * mib, 32 * mib, 533},
		{"live heap at the floor: Go's default", 32 * mib, 32 * mib, 100},
		{"live heap above the floor: Go's default", 500 * mib, 32 * mib, 100},
		{"before the first collection: the runtime's minimum goal is the floor", 0, 32 * mib, 800},
		{"tiny live heap: capped by the runtime's scaled minimum goal", 1 * mib, 32 * mib, 825},
		{"floor smaller than the runtime minimum", 1 * mib, 2 * mib, 100},
		{"huge floor does not overflow", 6 * mib, 1 << 63, int(MaxFloor * 100 / (6 * mib))},
		{"huge live heap does not overflow", 1 << 63, 32 * mib, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.floor); got != tc.want {
				t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.floor, got, tc.want)
			}
		})
	}
}

// retained keeps a live heap of a known size across collections.
var retained [][]*int

func TestTunerFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC()
	tu := Start(32 * mib)
	defer tu.Stop()

	// Each collection runs the tuner once it has been armed; two forced
	// cycles are enough for it to see the heap of the previous one.
	runtime.GC()
	runtime.GC()
	small := tu.Percent()
	if small <= 100 {
		t.Fatalf("with a small live heap GOGC = %d, want above 100", small)
	}

	// Grow the live heap past the floor: the tuner falls back to 100.
	for range 48 {
		retained = append(retained, make([]*int, mib/8))
	}
	for i := 0; i < 100 && tu.Percent() != 100; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := tu.Percent(); got != 100 {
		t.Errorf("with a 48 MiB live heap and a 32 MiB floor GOGC = %d, want 100", got)
	}
	retained = nil

	tu.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Stop GOGC = %d, want 100", got)
	}
}
