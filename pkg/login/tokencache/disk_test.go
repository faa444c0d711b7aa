package tokencache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Token values carry this marker so tests can prove no error shows them.
const secretMarker = "s3cr3t"

func testEntry(n int) Entry {
	return Entry{
		IDToken:      fmt.Sprintf("id-%s-%d", secretMarker, n),
		AccessToken:  fmt.Sprintf("access-%s-%d", secretMarker, n),
		RefreshToken: fmt.Sprintf("refresh-%s-%d", secretMarker, n),
		TokenType:    "Bearer",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		IssuerURL:    "https://issuer.example.com",
		ClientID:     "kubernetes",
		Audiences:    []string{"cluster-a", "cluster-b"},
		Resources:    []string{"https://a.example.com", "https://b.example.com"},
	}
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secretMarker) {
		t.Fatalf("error shows a token: %v", err)
	}
}

func TestDiskSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache", "oidc")
	s := NewDisk(dir)
	key := baseKey()

	if _, err := s.Load(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load before Save: err = %v, want ErrNotFound", err)
	}
	want := testEntry(1)
	if err := s.Save(ctx, key, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expiry.Equal(want.Expiry) {
		t.Errorf("Expiry = %v, want %v", got.Expiry, want.Expiry)
	}
	got.Expiry = want.Expiry
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v, want %+v", got, want)
	}

	// A rotated refresh token replaces the old entry.
	rotated := testEntry(2)
	if err := s.Save(ctx, key, rotated); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, key); got.RefreshToken != rotated.RefreshToken {
		t.Errorf("after second Save, RefreshToken = %q, want %q", got.RefreshToken, rotated.RefreshToken)
	}
	if s.Name() != "disk" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestDiskFileAndDirectoryModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	ctx := context.Background()
	root := t.TempDir()
	tests := []struct {
		name    string
		prepare func(dir string)
	}{
		{"new directory", func(string) {}},
		{"existing directory open to others is tightened", func(dir string) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(root, fmt.Sprint(i), "oidc")
			tt.prepare(dir)
			if err := NewDisk(dir).Save(ctx, baseKey(), testEntry(1)); err != nil {
				t.Fatal(err)
			}
			assertMode(t, dir, 0o700)
			assertMode(t, filepath.Join(dir, baseKey().ID()+".json"), 0o600)
		})
	}
}

func TestDiskLoadTightensAFileOpenToOthers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := NewDisk(dir)
	if err := s.Save(ctx, baseKey(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, baseKey().ID()+".json")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, baseKey()); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

func TestDiskSaveReportsAnUnusableDirectory(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"path is a file", file, "--token-cache-dir"},
		{"parent is a file", filepath.Join(file, "oidc"), "--token-cache-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewDisk(tt.dir).Save(ctx, baseKey(), testEntry(1))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save err = %v, want one mentioning %q", err, tt.want)
			}
			assertNoSecret(t, err)
			if _, err := NewDisk(tt.dir).Load(ctx, baseKey()); err == nil {
				t.Fatal("Load succeeded from an unusable directory")
			}
		})
	}
}

func TestDiskSaveRefusesAnEntryWithoutTokens(t *testing.T) {
	err := NewDisk(t.TempDir()).Save(context.Background(), baseKey(), Entry{IssuerURL: "https://i"})
	if err == nil {
		t.Fatal("Save of an entry without tokens succeeded")
	}
}

func TestDiskLoadOfADamagedFileIsErrCorrupt(t *testing.T) {
	ctx := context.Background()
	key := baseKey()
	id := key.ID()
	valid, err := encodeRecord(id, testEntry(1))
	if err != nil {
		t.Fatal(err)
	}
	otherKey := key
	otherKey.Username = "mallory"
	otherKeys, err := encodeRecord(otherKey.ID(), testEntry(2))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		write  func(path string) error
		reason string
	}{
		{"zero length", func(p string) error { return os.WriteFile(p, nil, 0o600) }, "empty"},
		{"truncated", func(p string) error { return os.WriteFile(p, valid[:len(valid)/2], 0o600) }, "truncated"},
		{"cut after the first byte", func(p string) error { return os.WriteFile(p, valid[:1], 0o600) }, "truncated"},
		{"not JSON", func(p string) error { return os.WriteFile(p, []byte(secretMarker+" not json"), 0o600) }, "invalid JSON"},
		{"binary garbage", func(p string) error { return os.WriteFile(p, []byte{0, 1, 2, 0xff, 0xfe}, 0o600) }, "invalid JSON"},
		{"JSON array", func(p string) error { return os.WriteFile(p, []byte(`["`+secretMarker+`"]`), 0o600) }, "wrong type"},
		{"field of the wrong type", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":1,"keyID":"`+id+`","idToken":["`+secretMarker+`"]}`), 0o600)
		}, `"idToken" has the wrong type`},
		{"JSON null", func(p string) error { return os.WriteFile(p, []byte("null"), 0o600) }, "version 0"},
		{"unknown format version", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":2,"keyID":"`+id+`","idToken":"`+secretMarker+`"}`), 0o600)
		}, "version 2"},
		{"no tokens", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":1,"keyID":"`+id+`"}`), 0o600)
		}, "no token"},
		{"entry of another key copied over", func(p string) error { return os.WriteFile(p, otherKeys, 0o600) }, "different key"},
		{"entry without key ID", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":1,"idToken":"`+secretMarker+`"}`), 0o600)
		}, "different key"},
		{"too large", func(p string) error {
			return os.WriteFile(p, []byte(strings.Repeat(" ", maxRecordSize+1)), 0o600)
		}, "larger than"},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o700) }, "not a regular file"},
		{"a FIFO", func(p string) error {
			if runtime.GOOS == "windows" {
				t.Skip("no FIFOs")
			}
			return syscall.Mkfifo(p, 0o600)
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, id+".json")
			if err := tt.write(path); err != nil {
				t.Fatal(err)
			}
			_, err := NewDisk(dir).Load(ctx, key)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load err = %q, want it to name %s and say %q", err, path, tt.reason)
			}
			assertNoSecret(t, err)

			// A new login overwrites the damaged entry.
			if tt.name == "a directory" {
				return
			}
			if err := NewDisk(dir).Save(ctx, key, testEntry(3)); err != nil {
				t.Fatal(err)
			}
			if _, err := NewDisk(dir).Load(ctx, key); err != nil {
				t.Fatalf("Load after Save over damaged entry: %v", err)
			}
		})
	}
}

func TestDiskNeverReadsTheEntryOfAnotherKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewDisk(dir)
	alice, bob := baseKey(), baseKey()
	bob.Username = "bob"
	if err := s.Save(ctx, alice, testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, bob); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load(bob) err = %v, want ErrNotFound", err)
	}
	// Even a file renamed to bob's name is refused.
	if err := os.Rename(filepath.Join(dir, alice.ID()+".json"), filepath.Join(dir, bob.ID()+".json")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, bob); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load(bob) of alice's renamed file: err = %v, want ErrCorrupt", err)
	}
}

func TestDiskDelete(t *testing.T) {
	ctx := context.Background()
	s := NewDisk(t.TempDir())
	if err := s.Delete(ctx, baseKey()); err != nil {
		t.Fatalf("Delete of an absent entry: %v", err)
	}
	if err := s.Save(ctx, baseKey(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, baseKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, baseKey()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after Delete: err = %v, want ErrNotFound", err)
	}
	if err := NewDisk(filepath.Join(t.TempDir(), "missing")).Delete(ctx, baseKey()); err != nil {
		t.Fatalf("Delete in a missing directory: %v", err)
	}
}

func TestDiskDeleteAllReturnsAndRemovesEveryEntry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewDisk(dir)
	k1, k2 := baseKey(), baseKey()
	k2.ClientID = "other"
	if err := s.Save(ctx, k1, testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, k2, testEntry(2)); err != nil {
		t.Fatal(err)
	}
	unlock, err := Lock(ctx, dir, k1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	corruptID := strings.Repeat("a", 64)
	leftovers := map[string][]byte{
		corruptID + ".json":                     []byte("{"),                   // damaged: removed, not returned
		"." + k1.ID() + ".json.tmp-123":         []byte(secretMarker),          // interrupted save: removed
		"notes.txt":                             []byte("keep me"),             // not ours: kept
		"short.json":                            []byte(`{"version":1}`),       // not a key ID: kept
		strings.Repeat("b", 64) + ".keyring":    []byte(`{"version":1}`),       // keyring index: the keyring's business
		strings.Repeat("c", 64) + ".json.extra": []byte(`{"version":1,"a":1}`), // not ours: kept
	}
	for name, data := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	entries, err := s.DeleteAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var refresh []string
	for _, e := range entries {
		refresh = append(refresh, e.RefreshToken)
	}
	if len(entries) != 2 || !containsAll(refresh, testEntry(1).RefreshToken, testEntry(2).RefreshToken) {
		t.Fatalf("DeleteAll returned refresh tokens %q, want both saved ones", refresh)
	}
	left := listDir(t, dir)
	want := []string{"notes.txt", "short.json", strings.Repeat("b", 64) + ".keyring", strings.Repeat("c", 64) + ".json.extra", k1.ID() + ".lock"}
	if !sameSet(left, want) {
		t.Fatalf("after DeleteAll the directory holds %q, want %q", left, want)
	}
	if entries, err := NewDisk(filepath.Join(dir, "missing")).DeleteAll(ctx); err != nil || len(entries) != 0 {
		t.Fatalf("DeleteAll of a missing directory = %v, %v", entries, err)
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && containsAll(a, b...)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// Writers of the same key race with readers: a reader sees a whole entry of
// one writer or the other, never a half file, and the directory is left
// with exactly one entry file (no temp files).
func TestDiskConcurrentSavesNeverExposeAHalfFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := baseKey()
	// Large tokens make a torn write likely if writes were not atomic.
	big := func(n int) Entry {
		e := testEntry(n)
		e.IDToken = strings.Repeat(fmt.Sprint(n), 64<<10)
		return e
	}
	if err := NewDisk(dir).Save(ctx, key, big(0)); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 4, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	for w := 1; w <= writers; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range rounds {
				if err := NewDisk(dir).Save(ctx, key, big(w)); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				e, err := NewDisk(dir).Load(ctx, key)
				if err != nil {
					errs <- err
					continue
				}
				if c := e.IDToken[:1]; e.IDToken != strings.Repeat(c, 64<<10) {
					errs <- fmt.Errorf("torn entry")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if left := listDir(t, dir); len(left) != 1 {
		t.Fatalf("directory holds %q, want only the entry", left)
	}
}

func TestNoneCachesNothing(t *testing.T) {
	ctx := context.Background()
	s := NewNone()
	if err := s.Save(ctx, baseKey(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, baseKey()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, baseKey()); err != nil {
		t.Fatal(err)
	}
	if e, err := s.DeleteAll(ctx); err != nil || len(e) != 0 {
		t.Fatalf("DeleteAll = %v, %v", e, err)
	}
	if s.Name() != "none" {
		t.Fatalf("Name() = %q", s.Name())
	}
}
