package proxy

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// DelayedWriter buffers writes and flushes them at most delay after the
// first unflushed write (or when the buffer fills). The access log writes one
// line per request; this turns thousands of write syscalls a second into a
// few, at the price of lines reaching the log up to delay late. Call Flush
// before exiting.
type DelayedWriter struct {
	mu      sync.Mutex
	w       *bufio.Writer
	delay   time.Duration
	pending bool
}

// NewDelayedWriter wraps w with a buffer of size bytes.
func NewDelayedWriter(w io.Writer, size int, delay time.Duration) *DelayedWriter {
	return &DelayedWriter{w: bufio.NewWriterSize(w, size), delay: delay}
}

// Write buffers p (slog handlers write whole records, so lines stay whole).
func (d *DelayedWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.w.Write(p)
	if !d.pending && d.w.Buffered() > 0 {
		d.pending = true
		time.AfterFunc(d.delay, func() { _ = d.Flush() })
	}
	return n, err
}

// Flush writes out everything buffered.
func (d *DelayedWriter) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = false
	return d.w.Flush()
}
