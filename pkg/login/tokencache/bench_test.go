package tokencache

import (
	"context"
	"strings"
	"testing"
	"time"
)

// realisticEntry has token sizes seen from common providers: a ~1 KiB ID
// token with groups, a ~1 KiB access token and a short refresh token.
func realisticEntry() Entry {
	return Entry{
		IDToken:      "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + strings.Repeat("x", 900) + "." + strings.Repeat("s", 342),
		AccessToken:  "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + strings.Repeat("y", 700) + "." + strings.Repeat("s", 342),
		RefreshToken: strings.Repeat("r", 120),
		TokenType:    "Bearer",
		Expiry:       time.Now().Add(time.Hour),
		IssuerURL:    "https://issuer.example.com",
		ClientID:     "kubernetes",
	}
}

// BenchmarkDiskLoad is the cache-hit path of get-token: key ID, read and
// decode of one entry file.
func BenchmarkDiskLoad(b *testing.B) {
	ctx := context.Background()
	s := NewDisk(b.TempDir())
	key := baseKey()
	if err := s.Save(ctx, key, realisticEntry()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiskLoadMiss is the first run: no entry file.
func BenchmarkDiskLoadMiss(b *testing.B) {
	ctx := context.Background()
	s := NewDisk(b.TempDir())
	key := baseKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, key); err != ErrNotFound {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockUnlock is the uncontended per-key lock every get-token takes.
func BenchmarkLockUnlock(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	key := baseKey()
	b.ReportAllocs()
	for b.Loop() {
		unlock, err := Lock(ctx, dir, key, time.Second, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := unlock(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyID is the cost of deriving the key from the flags.
func BenchmarkKeyID(b *testing.B) {
	key := baseKey()
	b.ReportAllocs()
	for b.Loop() {
		_ = key.ID()
	}
}
