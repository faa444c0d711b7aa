package tokencache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

// The go-keyring mock is process-global: these tests do not run in parallel.

func TestKeyringStoresTokensInTheKeyringAndOnlyAnIndexOnDisk(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	dir := t.TempDir()
	var warn bytes.Buffer
	s := NewKeyring("test-service", dir, &warn)
	key := baseKey()

	if _, err := s.Load(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load before Save: err = %v, want ErrNotFound", err)
	}
	if err := s.Save(ctx, key, testEntry(1)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != testEntry(1).RefreshToken || got.IDToken != testEntry(1).IDToken {
		t.Fatalf("Load = %+v", got)
	}
	if _, err := keyring.Get("test-service", s.(*Keyring).account(key.ID())); err != nil {
		t.Fatalf("no keyring item for the key: %v", err)
	}
	left := listDir(t, dir)
	if !sameSet(left, []string{key.ID() + ".keyring"}) {
		t.Fatalf("directory holds %q, want only the index", left)
	}
	index, err := os.ReadFile(filepath.Join(dir, key.ID()+".keyring"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(index, []byte(secretMarker)) {
		t.Fatalf("index file holds a token: %s", index)
	}
	if warn.Len() != 0 {
		t.Fatalf("unexpected warning %q", warn.String())
	}
	if s.Name() != "keyring" {
		t.Fatalf("Name() = %q", s.Name())
	}
}

func TestKeyringFallsBackToDiskWithOneWarning(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"entry too big", keyring.ErrSetDataTooBig},
		{"no keyring service", errors.New("The name org.freedesktop.secrets was not provided by any .service files")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyring.MockInitWithError(tt.err)
			ctx := context.Background()
			dir := t.TempDir()
			var warn bytes.Buffer
			s := NewKeyring("test-service", dir, &warn)
			k1, k2 := baseKey(), baseKey()
			k2.ClientID = "other"

			for i, k := range []Key{k1, k2, k1} {
				if err := s.Save(ctx, k, testEntry(i)); err != nil {
					t.Fatalf("Save %d: %v", i, err)
				}
			}
			got, err := s.Load(ctx, k1)
			if err != nil {
				t.Fatal(err)
			}
			if got.RefreshToken != testEntry(2).RefreshToken {
				t.Fatalf("Load = %q, want the last saved entry", got.RefreshToken)
			}
			if _, err := s.Load(ctx, Key{IssuerURL: "https://unknown"}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Load of an unknown key: err = %v, want ErrNotFound", err)
			}
			lines := strings.Split(strings.TrimSuffix(warn.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "warning: ") || !strings.Contains(lines[0], dir) {
				t.Fatalf("warnings = %q, want one line naming %s", warn.String(), dir)
			}
			if strings.Contains(warn.String(), secretMarker) {
				t.Fatalf("warning shows a token: %q", warn.String())
			}
			assertMode(t, filepath.Join(dir, k1.ID()+".json"), 0o600)

			entries, err := s.DeleteAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Fatalf("DeleteAll returned %d entries, want 2", len(entries))
			}
			if left := listDir(t, dir); len(left) != 0 {
				t.Fatalf("after DeleteAll the directory holds %q", left)
			}
		})
	}
}

// An entry saved to disk while the keyring refused it must not shadow a
// newer entry the keyring took later, and vice versa.
func TestKeyringNewestEntryWinsAcrossFallback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := baseKey()

	keyring.MockInit()
	if err := NewKeyring("svc", dir, nil).Save(ctx, key, testEntry(1)); err != nil {
		t.Fatal(err)
	}
	// The keyring now refuses: the entry goes to disk and is what Load sees.
	keyring.MockInitWithError(keyring.ErrSetDataTooBig)
	if err := NewKeyring("svc", dir, nil).Save(ctx, key, testEntry(2)); err != nil {
		t.Fatal(err)
	}
	if got, err := NewKeyring("svc", dir, nil).Load(ctx, key); err != nil || got.RefreshToken != testEntry(2).RefreshToken {
		t.Fatalf("Load after fallback = %q, %v; want entry 2", got.RefreshToken, err)
	}
	// The keyring works again: its new entry replaces the disk copy.
	keyring.MockInit()
	if err := NewKeyring("svc", dir, nil).Save(ctx, key, testEntry(3)); err != nil {
		t.Fatal(err)
	}
	if got, err := NewKeyring("svc", dir, nil).Load(ctx, key); err != nil || got.RefreshToken != testEntry(3).RefreshToken {
		t.Fatalf("Load after keyring recovered = %q, %v; want entry 3", got.RefreshToken, err)
	}
	if _, err := os.Stat(filepath.Join(dir, key.ID()+".json")); !os.IsNotExist(err) {
		t.Fatalf("stale disk copy left behind: %v", err)
	}
}

func TestKeyringLoadOfADamagedItemIsErrCorrupt(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	key := baseKey()
	other := baseKey()
	other.Username = "mallory"
	othersRecord, err := encodeRecord(other.ID(), testEntry(9))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value string
	}{
		{"garbage", secretMarker + "garbage"},
		{"truncated", `{"version":1,"idToken":"` + secretMarker},
		{"another key's entry", string(othersRecord)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewKeyring("svc", t.TempDir(), nil)
			if err := keyring.Set("svc", s.(*Keyring).account(key.ID()), tt.value); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx, key)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load err = %v, want ErrCorrupt", err)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestKeyringLoadWhenTheKeyringFailsIsAMissWithOneWarning(t *testing.T) {
	keyring.MockInitWithError(errors.New("keyring locked"))
	var warn bytes.Buffer
	s := NewKeyring("svc", t.TempDir(), &warn)
	for range 3 {
		if _, err := s.Load(context.Background(), baseKey()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load err = %v, want ErrNotFound", err)
		}
	}
	if n := strings.Count(warn.String(), "\n"); n != 1 || !strings.Contains(warn.String(), "keyring locked") {
		t.Fatalf("warnings = %q, want one line with the keyring's error", warn.String())
	}
}

func TestKeyringDelete(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	dir := t.TempDir()
	s := NewKeyring("svc", dir, nil)
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
	if _, err := keyring.Get("svc", s.(*Keyring).account(baseKey().ID())); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("keyring item left: %v", err)
	}
	if left := listDir(t, dir); len(left) != 0 {
		t.Fatalf("directory holds %q", left)
	}

	// With an indexed item, a keyring that cannot delete is an error: the
	// token would otherwise stay behind unnoticed.
	if err := s.Save(ctx, baseKey(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
	keyring.MockInitWithError(errors.New("keyring locked"))
	if err := s.Delete(ctx, baseKey()); err == nil || !strings.Contains(err.Error(), "keyring locked") {
		t.Fatalf("Delete with a failing keyring: err = %v", err)
	}
}

func TestKeyringDeleteAll(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	dir := t.TempDir()
	s := NewKeyring("svc", dir, nil)
	k1, k2 := baseKey(), baseKey()
	k2.GrantType = "password"
	for i, k := range []Key{k1, k2} {
		if err := s.Save(ctx, k, testEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := s.DeleteAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("DeleteAll returned %d entries, want 2", len(entries))
	}
	for _, k := range []Key{k1, k2} {
		if _, err := keyring.Get("svc", s.(*Keyring).account(k.ID())); !errors.Is(err, keyring.ErrNotFound) {
			t.Fatalf("keyring item left: %v", err)
		}
	}
	if left := listDir(t, dir); len(left) != 0 {
		t.Fatalf("directory holds %q", left)
	}
}

func TestNewChoosesTheStorage(t *testing.T) {
	tests := []struct {
		name, kind string
		keyring    error // nil: a working keyring
		want       string
	}{
		{"auto with a keyring", "auto", nil, "keyring"},
		{"empty means auto", "", nil, "keyring"},
		{"auto without a keyring", "auto", errors.New("no dbus"), "disk"},
		{"keyring", "keyring", nil, "keyring"},
		{"keyring even when absent (falls back per entry)", "keyring", errors.New("no dbus"), "keyring"},
		{"disk", "disk", nil, "disk"},
		{"none", "none", nil, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.keyring == nil {
				keyring.MockInit()
			} else {
				keyring.MockInitWithError(tt.keyring)
			}
			var warn bytes.Buffer
			s, err := New(context.Background(), tt.kind, t.TempDir(), &warn)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != tt.want {
				t.Fatalf("New(%q).Name() = %q, want %q", tt.kind, s.Name(), tt.want)
			}
			if warn.Len() != 0 {
				t.Fatalf("New warned %q", warn.String())
			}
		})
	}
}

func TestNewRejectsAnUnknownKind(t *testing.T) {
	_, err := New(context.Background(), "file", t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), `"file"`) || !strings.Contains(err.Error(), "auto, keyring, disk, none") {
		t.Fatalf("err = %v, want one naming the value and the choices", err)
	}
}

func TestNewWithoutDirUsesTheDefault(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("KUBECACHEDIR", cache)
	keyring.MockInit()
	s, err := New(context.Background(), "disk", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(context.Background(), baseKey(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "oidc", baseKey().ID()+".json")); err != nil {
		t.Fatalf("entry not in $KUBECACHEDIR/oidc: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name, kubecachedir, want string
	}{
		{"home", "", filepath.Join(home, ".kube", "cache", "oidc")},
		{"KUBECACHEDIR", "/var/cache/kube", filepath.Join("/var/cache/kube", "oidc")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("USERPROFILE", home)
			t.Setenv("KUBECACHEDIR", tt.kubecachedir)
			got, err := DefaultDir()
			if err != nil || got != tt.want {
				t.Fatalf("DefaultDir() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestKeyringItemsOfTwoCacheDirectoriesAreSeparate(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	a := NewKeyring("svc", t.TempDir(), nil)
	b := NewKeyring("svc", t.TempDir(), nil)
	key := baseKey()
	if err := a.Save(ctx, key, testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the other directory sees the entry: err = %v", err)
	}
	if err := b.Save(ctx, key, testEntry(2)); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Load(ctx, key); err != nil || got.RefreshToken != testEntry(1).RefreshToken {
		t.Fatalf("first directory's entry after the second saved: %+v, %v", got, err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx, key); err != nil {
		t.Fatalf("deleting in one directory removed the other's entry: %v", err)
	}
}

func TestKeyringMigratesAnItemNamedWithoutTheDirectory(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	dir := t.TempDir()
	key := baseKey()
	id := key.ID()
	// What earlier versions wrote: the item under the bare key ID, and an
	// index without the item's name.
	data, err := encodeRecord(id, testEntry(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Set("svc", id, string(data)); err != nil {
		t.Fatal(err)
	}
	legacyIndex := `{"version":1,"keyID":"` + id + `","service":"svc"}`
	if err := os.WriteFile(filepath.Join(dir, id+".keyring"), []byte(legacyIndex), 0o600); err != nil {
		t.Fatal(err)
	}

	// A directory that never indexed the item does not take it.
	if _, err := NewKeyring("svc", t.TempDir(), nil).Load(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unrelated directory: err = %v, want ErrNotFound", err)
	}
	s := NewKeyring("svc", dir, nil)
	got, err := s.Load(ctx, key)
	if err != nil || got.RefreshToken != testEntry(1).RefreshToken {
		t.Fatalf("Load of the old item: %+v, %v", got, err)
	}
	if _, err := keyring.Get("svc", id); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("old item left behind: %v", err)
	}
	if _, err := keyring.Get("svc", s.(*Keyring).account(id)); err != nil {
		t.Fatalf("no item under the new name: %v", err)
	}
	if got, err := s.Load(ctx, key); err != nil || got.RefreshToken != testEntry(1).RefreshToken {
		t.Fatalf("Load after migration: %+v, %v", got, err)
	}
	if _, err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Get("svc", s.(*Keyring).account(id)); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("DeleteAll left the migrated item: %v", err)
	}
}
