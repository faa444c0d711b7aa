package proxy

import (
	"context"
	"encoding/binary"
	"io"
	"mime"
	"net/http"
	"sync"

	"k8s.io/apiserver/pkg/endpoints/request"
)

// endWatchesOnDrain wraps the body of every watch response whose event
// framing it knows (JSON: one object per line; protobuf: length-prefixed)
// so that once drain is done the stream ends cleanly at the next event
// boundary: the client reads a complete last event and then the normal end
// of the response (the chunked terminator, END_STREAM), as when
// kube-apiserver ends a watch, and re-watches from its last resourceVersion
// through another replica. Without it a watch would hold the drain until
// --shutdown-timeout and then be cut mid-stream. Other streams (logs -f,
// an unknown or compressed encoding) are left alone. A nil drain ends
// nothing.
func endWatchesOnDrain(drain context.Context) func(*http.Response) {
	if drain == nil {
		return func(*http.Response) {}
	}
	return func(res *http.Response) {
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "" {
			return
		}
		info, ok := request.RequestInfoFrom(res.Request.Context())
		if !ok || info.Verb != "watch" {
			return
		}
		frames := watchFramingOf(res.Header.Get("Content-Type"))
		if frames == nil {
			return
		}
		b := &endingBody{body: res.Body, frames: frames, boundary: true}
		b.stopAfter = context.AfterFunc(drain, b.end)
		res.Body = b
	}
}

// eventFrames follows a watch stream's framing.
type eventFrames interface {
	// advance consumes the next bytes of the stream and reports whether
	// the stream now ends exactly at the end of an event.
	advance(p []byte) bool
}

// watchFramingOf returns the framing kube-apiserver's watch encoder uses
// for a response Content-Type, nil for one it does not know.
func watchFramingOf(contentType string) eventFrames {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil
	}
	switch {
	case mt == "application/json":
		return new(lineFrames)
	case mt == "application/vnd.kubernetes.protobuf" && params["stream"] == "watch":
		return new(lengthFrames)
	}
	return nil
}

// lineFrames: JSON watch events are objects each followed by a newline;
// JSON escapes every newline inside strings.
type lineFrames struct{ atEnd bool }

func (f *lineFrames) advance(p []byte) bool {
	if len(p) > 0 {
		f.atEnd = p[len(p)-1] == '\n'
	}
	return f.atEnd
}

// lengthFrames: protobuf watch events are each prefixed by their length,
// 4 bytes big-endian.
type lengthFrames struct {
	header  [4]byte
	have    int    // header bytes read of the current frame
	pending uint32 // body bytes still to come
}

func (f *lengthFrames) advance(p []byte) bool {
	for len(p) > 0 {
		if f.pending > 0 {
			n := uint32(len(p))
			if n > f.pending {
				n = f.pending
			}
			f.pending -= n
			p = p[n:]
			continue
		}
		n := copy(f.header[f.have:], p)
		f.have += n
		p = p[n:]
		if f.have == len(f.header) {
			f.pending, f.have = binary.BigEndian.Uint32(f.header[:]), 0
		}
	}
	return f.have == 0 && f.pending == 0
}

// endingBody is a watch response body that ends (io.EOF) at the first
// event boundary after end is called. When end finds the stream between
// events it closes the upstream body at once, which also wakes a Read
// that waits for the next event; in the middle of an event it lets the
// event finish first.
type endingBody struct {
	body      io.ReadCloser
	stopAfter func() bool

	mu       sync.Mutex
	frames   eventFrames
	boundary bool // the bytes returned so far end with a complete event
	ending   bool
	closed   bool
}

func (b *endingBody) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ending = true
	if b.boundary {
		b.closeLocked()
	}
}

func (b *endingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.ending && b.boundary {
		b.closeLocked()
		b.mu.Unlock()
		return 0, io.EOF
	}
	b.mu.Unlock()

	n, err := b.body.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.boundary = b.frames.advance(p[:n])
	if b.ending && b.boundary {
		// Closed by end, or complete events read since: what was read
		// is whole, and the stream ends here.
		b.closeLocked()
		return n, io.EOF
	}
	return n, err
}

func (b *endingBody) Close() error {
	b.stopAfter()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

func (b *endingBody) closeLocked() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.body.Close()
}
