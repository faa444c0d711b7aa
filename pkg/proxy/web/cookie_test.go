package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSealerRefusesWhatItDidNotSeal(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	s, err := newSealer("a-client-secret-of-some-length", clock)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSealer("another-client-secret-entirely", clock)
	sealed, err := s.seal(sessionCookie, map[string]string{"u": "alice"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := s.open(sessionCookie, sealed, &v); err != nil || v["u"] != "alice" {
		t.Fatalf("open: %v %v", v, err)
	}
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	tests := map[string]func() error{
		"tampered":            func() error { return s.open(sessionCookie, string(flipped), &v) },
		"other cookie's name": func() error { return s.open(loginCookie, sealed, &v) },
		"other key":           func() error { return other.open(sessionCookie, sealed, &v) },
		"not base64":          func() error { return s.open(sessionCookie, "!!", &v) },
		"too short":           func() error { return s.open(sessionCookie, "AAAA", &v) },
		"too large":           func() error { return s.open(sessionCookie, strings.Repeat("A", maxSealed+1), &v) },
		"expired": func() error {
			later, _ := newSealer("a-client-secret-of-some-length", func() time.Time { return now.Add(time.Minute) })
			return later.open(sessionCookie, sealed, &v)
		},
	}
	for name, open := range tests {
		if open() == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestChunkedCookiesRoundTrip(t *testing.T) {
	value := strings.Repeat("abcdefghij", 1000) // 10000 bytes: 3 cookies
	w := httptest.NewRecorder()
	// The request carries 5 chunks of an earlier, longer value.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := range 5 {
		r.AddCookie(&http.Cookie{Name: chunkName(sessionCookie, i), Value: "old"})
	}
	if err := setChunked(w, r, sessionCookie, value, 60); err != nil {
		t.Fatal(err)
	}
	next := httptest.NewRequest(http.MethodGet, "/", nil)
	expired := 0
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			expired++
			continue
		}
		next.AddCookie(c)
	}
	if expired != 2 {
		t.Errorf("%d stale chunks expired, want 2", expired)
	}
	if got := readChunked(next, sessionCookie); got != value {
		t.Fatalf("read back %d bytes, want %d", len(got), len(value))
	}
	if err := setChunked(httptest.NewRecorder(), r, sessionCookie, strings.Repeat("x", maxSealed+1), 60); err == nil {
		t.Fatal("a value over the cookie budget was set")
	}
}
