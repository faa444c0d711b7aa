package login

import (
	"context"
	"testing"
)

// BenchmarkGetCached is get-token's hot path: a valid token in the disk
// cache (validate options, take the lock, read the entry, decode claims).
func BenchmarkGetCached(b *testing.B) {
	f := newFixture(b)
	o := f.passwordOptions()
	ui := UI{Err: &syncBuffer{}}
	if _, err := Get(context.Background(), o, ui); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tok, err := Get(context.Background(), o, ui)
		if err != nil || tok.Source != SourceCache {
			b.Fatalf("Get: %v, source %v", err, tok)
		}
	}
}
