package main

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGCHeapFloor(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tests := []struct {
		name      string
		floor     string
		gogc      string
		wantTuned bool
		wantLog   string
	}{
		{"default floor tunes GOGC", "32Mi", "", true, `"floorBytes":33554432`},
		{"0 disables it", "0", "", false, ""},
		{"GOGC in the environment wins", "32Mi", "200", false, "GOGC is set in the environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", tt.gogc)
			debug.SetGCPercent(100)
			o := newGCOptions()
			if err := (quantityValue{&o.floor}).Set(tt.floor); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			stop := o.start(slog.New(slog.NewJSONHandler(&logs, nil)))
			got := debug.SetGCPercent(100)
			debug.SetGCPercent(got)
			stop()
			if tuned := got > 100; tuned != tt.wantTuned {
				t.Errorf("GOGC while running = %d, tuned %v, want tuned %v", got, tuned, tt.wantTuned)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", logs.String(), tt.wantLog)
			}
			if after := debug.SetGCPercent(100); after != 100 {
				t.Errorf("GOGC after stop = %d, want 100", after)
			}
		})
	}
}
