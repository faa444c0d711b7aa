package proxy

import (
	"io"
	"sync"
	"time"
)

// DelayedWriter buffers writes and flushes them at most delay after the
// first unflushed write, or as soon as size bytes are buffered. The access
// log writes one line per request; this turns thousands of write syscalls a
// second into a few, at the price of lines reaching the log up to delay
// late. The buffer is swapped out under the lock and written outside it, so
// requests finishing during a flush do not wait for the disk. Call Flush
// before exiting.
type DelayedWriter struct {
	mu      sync.Mutex
	buf     []byte
	spare   []byte
	pending bool
	size    int
	delay   time.Duration

	wmu sync.Mutex // serialises writes to w, in order
	w   io.Writer
}

// NewDelayedWriter wraps w with a buffer of size bytes.
func NewDelayedWriter(w io.Writer, size int, delay time.Duration) *DelayedWriter {
	return &DelayedWriter{w: w, size: size, delay: delay, buf: make([]byte, 0, size)}
}

// Write buffers p (slog handlers write whole records, so lines stay whole).
func (d *DelayedWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	d.buf = append(d.buf, p...)
	full := len(d.buf) >= d.size
	if !full && !d.pending {
		d.pending = true
		time.AfterFunc(d.delay, func() { _ = d.Flush() })
	}
	d.mu.Unlock()
	if full {
		if err := d.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes out everything buffered.
func (d *DelayedWriter) Flush() error {
	d.wmu.Lock() // taken first, so buffers are written in the order they were filled
	defer d.wmu.Unlock()
	d.mu.Lock()
	out := d.buf
	d.buf = d.spare[:0]
	if d.buf == nil {
		d.buf = make([]byte, 0, d.size)
	}
	d.spare = nil
	d.pending = false
	d.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = d.w.Write(out)
	}
	d.mu.Lock()
	d.spare = out[:0]
	d.mu.Unlock()
	return err
}
