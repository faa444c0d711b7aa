package proxy

import (
	"strings"
	"testing"
	"time"
)

func TestDelayedWriterFlushes(t *testing.T) {
	t.Run("on Flush", func(t *testing.T) {
		var out syncBuffer
		d := NewDelayedWriter(&out, 1<<10, time.Hour)
		_, _ = d.Write([]byte("line 1\n"))
		if out.String() != "" {
			t.Fatal("written before a flush")
		}
		if err := d.Flush(); err != nil || out.String() != "line 1\n" {
			t.Fatalf("after Flush: %q %v", out.String(), err)
		}
	})
	t.Run("when the buffer fills", func(t *testing.T) {
		var out syncBuffer
		d := NewDelayedWriter(&out, 16, time.Hour)
		_, _ = d.Write([]byte(strings.Repeat("x", 40)))
		if len(out.String()) < 16 {
			t.Fatalf("a full buffer was not written: %q", out.String())
		}
	})
	t.Run("after the delay", func(t *testing.T) {
		var out syncBuffer
		d := NewDelayedWriter(&out, 1<<10, time.Millisecond)
		_, _ = d.Write([]byte("late line\n"))
		deadline := time.Now().Add(10 * time.Second)
		for out.String() != "late line\n" {
			if time.Now().After(deadline) {
				t.Fatal("never flushed by the timer")
			}
			time.Sleep(time.Millisecond)
		}
	})
}
