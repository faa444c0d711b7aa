package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

// watchEvents encodes configmap events the way kube-apiserver's watch
// handler does: the object with the media type's serializer, the
// metav1.WatchEvent with its stream serializer through its framer. It
// returns each event's bytes on the wire.
func watchEvents(t *testing.T, mediaType string, n int) (contentType string, events [][]byte) {
	data := make([]string, n)
	for i := range data {
		data[i] = strings.Repeat("line\nwith \"quotes\" and \x00\n", 1+i*200)
	}
	return encodeWatchEvents(t, mediaType, data)
}

// encodeWatchEvents is watchEvents with one configmap per data value.
func encodeWatchEvents(t testing.TB, mediaType string, data []string) (contentType string, events [][]byte) {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
	if !ok || info.StreamSerializer == nil {
		t.Fatalf("no stream serializer for %s", mediaType)
	}
	enc := scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
	for i, d := range data {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default", ResourceVersion: strconv.Itoa(i + 1)},
			Data: map[string]string{"k": d}}
		raw, err := runtime.Encode(enc, cm)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		se := streaming.NewEncoder(info.StreamSerializer.Framer.NewFrameWriter(&buf), info.StreamSerializer.Serializer)
		if err := se.Encode(&metav1.WatchEvent{Type: "ADDED", Object: runtime.RawExtension{Raw: raw}}); err != nil {
			t.Fatal(err)
		}
		events = append(events, buf.Bytes())
	}
	contentType = mediaType
	if mediaType == runtime.ContentTypeProtobuf {
		contentType += ";stream=watch"
	}
	return contentType, events
}

// TestWatchFramesEndWhereEventsEnd holds the framings against
// apimachinery's own watch encoding, fed a byte at a time and in one
// piece: the stream is at a boundary exactly at the end of each event.
func TestWatchFramesEndWhereEventsEnd(t *testing.T) {
	for _, mt := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
		t.Run(mt, func(t *testing.T) {
			ct, events := watchEvents(t, mt, 3)
			f := watchFramingOf(ct)
			if f == nil {
				t.Fatalf("no framing for %q", ct)
			}
			for i, ev := range events {
				for j := range ev {
					if got, want := f.advance(ev[j:j+1]), j == len(ev)-1; got != want {
						t.Fatalf("event %d byte %d of %d: boundary %v, want %v", i, j, len(ev), got, want)
					}
				}
			}
			g := watchFramingOf(ct)
			if !g.advance(bytes.Join(events, nil)) {
				t.Fatal("three whole events: not at a boundary")
			}
		})
	}
	for _, ct := range []string{"text/plain", "application/vnd.kubernetes.protobuf", "application/cbor-seq", "application/yaml", ";;"} {
		if watchFramingOf(ct) != nil {
			t.Errorf("framing for %q, want none", ct)
		}
	}
}

// FuzzWatchFrames holds the framings against apimachinery's watch
// encoders on event contents and read sizes the fuzzer picks: a stream of
// real encoded events, JSON or protobuf, is fed in chunks whose lengths
// come from cuts, and the framing must report a boundary after a chunk
// exactly when the bytes so far end with a whole event.
func FuzzWatchFrames(f *testing.F) {
	f.Add(false, "a\nb", "", []byte{1, 2, 3})
	f.Add(true, "a\nb", "", []byte{1, 2, 3})
	f.Add(false, "{\"k\":\"v\"}\n", "\u2028\x00\n\n", []byte{0, 255, 7, 200})
	f.Add(true, strings.Repeat("x", 300), "y", []byte{3, 4, 5, 6})
	f.Add(true, "", "\xff\xfe", []byte{0})
	f.Fuzz(func(t *testing.T, protobuf bool, first, second string, cuts []byte) {
		mt := runtime.ContentTypeJSON
		if protobuf {
			mt = runtime.ContentTypeProtobuf
		}
		ct, events := encodeWatchEvents(t, mt, []string{first, second, first + second})
		ends := map[int]bool{}
		var stream []byte
		for _, ev := range events {
			stream = append(stream, ev...)
			ends[len(stream)] = true
		}
		frames := watchFramingOf(ct)
		for pos, i := 0, 0; pos < len(stream); i++ {
			n := 1
			if len(cuts) > 0 {
				n = 1 + int(cuts[i%len(cuts)])
			}
			n = min(n, len(stream)-pos)
			got := frames.advance(stream[pos : pos+n])
			pos += n
			if got != ends[pos] {
				t.Fatalf("%s: after %d of %d bytes: boundary %v, want %v", mt, pos, len(stream), got, ends[pos])
			}
		}
	})
}

// TestDrainEndsWatchesAtEventBoundaries: once the drain starts, a watch
// between events ends at once and one in the middle of an event ends
// after it, both with the normal end of the response (no error on the
// client, the upstream request closed); a stream that is not a watch
// goes on.
func TestDrainEndsWatchesAtEventBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mediaType string
		path      string
		midEvent  bool
		ends      bool
	}{
		{"json watch between events", runtime.ContentTypeJSON, "/api/v1/namespaces/default/configmaps?watch=true", false, true},
		{"json watch in an event", runtime.ContentTypeJSON, "/api/v1/namespaces/default/configmaps?watch=true", true, true},
		{"protobuf watch between events", runtime.ContentTypeProtobuf, "/api/v1/watch/namespaces/default/configmaps", false, true},
		{"protobuf watch in an event", runtime.ContentTypeProtobuf, "/api/v1/namespaces/default/configmaps?watch=1", true, true},
		{"logs -f", runtime.ContentTypeJSON, "/api/v1/namespaces/default/pods/p/log?follow=true", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, events := watchEvents(t, tc.mediaType, 3)
			rest := make(chan struct{})
			upstreamDone := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				defer close(upstreamDone)
				w.Header().Set("Content-Type", ct)
				first := append([]byte(nil), events[0]...)
				if tc.midEvent {
					first = append(first, events[1][:len(events[1])/2]...)
				}
				_, _ = w.Write(first)
				w.(http.Flusher).Flush()
				select {
				case <-rest:
				case <-r.Context().Done():
					return
				}
				if tc.midEvent {
					_, _ = w.Write(events[1][len(events[1])/2:])
					w.(http.Flusher).Flush()
				}
				if !tc.ends { // the rest of the stream, then its own end
					_, _ = w.Write(bytes.Join(events[1:], nil))
					return
				}
				<-r.Context().Done() // a watch with nothing more to send
			})
			upstreamT, err := upstream.New(up.RESTConfig(proxyCredential), testTimeouts)
			if err != nil {
				t.Fatal(err)
			}
			drain, startDrain := context.WithCancel(context.Background())
			defer startDrain()
			srv := httptest.NewServer(NewHandler(Config{Authenticator: newFakeAuth(), Upstream: upstreamT,
				Log: slog.New(slog.DiscardHandler), Drain: drain}))
			defer srv.Close()

			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			sent := len(events[0])
			if tc.midEvent {
				sent += len(events[1]) / 2
			}
			got := make([]byte, sent)
			if _, err := io.ReadFull(res.Body, got); err != nil {
				t.Fatalf("the first bytes: %v", err)
			}
			startDrain()
			close(rest)
			tail, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("the stream ended with %v, want its normal end", err)
			}
			got = append(got, tail...)
			want := events[0]
			switch {
			case !tc.ends:
				want = bytes.Join(events, nil)
			case tc.midEvent:
				want = bytes.Join(events[:2], nil)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the client read %d bytes, want %d (the whole events sent before the end)", len(got), len(want))
			}
			<-upstreamDone // the upstream request ended too
		})
	}
}
