package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zalando/go-keyring"
)

const (
	indexSuffix = ".keyring"
	// probeUser is an account name that is never stored, so probing the
	// keyring for it never unlocks or prompts anything.
	probeUser = "kube-oidc-probe"
)

// Keyring keeps entries in the OS keyring (github.com/zalando/go-keyring)
// under service, account "<Key.ID()>.<hash of the cache directory>", so that
// two cache directories never share an item. A keyring cannot be
// enumerated, so a secret-free index file <dir>/<ID>.keyring records each
// stored item for DeleteAll. Items of earlier versions, named by the key ID
// alone, are moved to the new name by the first Load in the directory whose
// index records them. When the keyring refuses an entry (no keyring service, the
// macOS or Windows size limit) the entry goes to disk in dir instead, and
// one warning line is written to warn for the life of the Keyring.
type Keyring struct {
	service string
	dirHash string // names this directory's items
	disk    *Disk
	warn    io.Writer
	once    sync.Once
}

// NewKeyring returns the keyring storage with its index and disk fallback
// in dir. warn may be nil.
func NewKeyring(service, dir string, warn io.Writer) Storage {
	if warn == nil {
		warn = io.Discard
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = filepath.Clean(dir)
	}
	sum := sha256.Sum256([]byte(abs))
	return &Keyring{service: service, dirHash: hex.EncodeToString(sum[:8]), disk: &Disk{dir: dir}, warn: warn}
}

// account is the keyring account of key ID id in this directory.
func (k *Keyring) account(id string) string { return id + "." + k.dirHash }

// readIndex returns the index record of id in this directory; ok is false
// when there is none (or it is unreadable).
func (k *Keyring) readIndex(id string) (indexRecord, bool) {
	data, err := os.ReadFile(k.indexPath(id))
	if err != nil {
		return indexRecord{}, false
	}
	var r indexRecord
	if json.Unmarshal(data, &r) != nil || r.KeyID != id {
		return indexRecord{}, false
	}
	return r, true
}

// legacyItem reports whether this directory's index records an item of an
// earlier version, named by the bare key ID.
func (k *Keyring) legacyItem(id string) bool {
	r, ok := k.readIndex(id)
	return ok && r.Account == ""
}

// migrate moves the legacy item of id, if this directory indexed one, to
// its new name and returns its entry; ErrNotFound when there is none.
func (k *Keyring) migrate(id string) (Entry, error) {
	if !k.legacyItem(id) {
		return Entry{}, ErrNotFound
	}
	data, err := keyring.Get(k.service, id)
	if err != nil {
		return Entry{}, ErrNotFound
	}
	e, err := decodeRecord([]byte(data), id)
	if err != nil {
		return Entry{}, corrupt(fmt.Sprintf("keyring item %s/%s", k.service, id), err)
	}
	if err := keyring.Set(k.service, k.account(id), data); err != nil {
		return e, nil // still readable under the old name; moved on a later Load
	}
	if err := k.writeIndex(id, e); err != nil {
		return e, nil
	}
	_ = keyring.Delete(k.service, id)
	return e, nil
}

// Name implements Storage.
func (k *Keyring) Name() string { return KindKeyring }

// warnFallback writes the single warning line. err comes from the keyring
// and never holds the secret.
func (k *Keyring) warnFallback(err error) {
	k.once.Do(func() {
		fmt.Fprintf(k.warn, "warning: OS keyring unusable for the token cache (%v); using files in %s instead\n", err, k.disk.dir)
	})
}

func (k *Keyring) indexPath(id string) string {
	return filepath.Join(k.disk.dir, id+indexSuffix)
}

// Load implements Storage. The disk fallback is read first: Save removes it
// whenever the keyring takes an entry, so a file there is the newest copy,
// and a miss there costs one stat.
func (k *Keyring) Load(ctx context.Context, key Key) (Entry, error) {
	id := key.ID()
	e, err := k.disk.load(k.disk.path(id), id)
	if !errors.Is(err, ErrNotFound) {
		return e, err
	}
	data, err := keyring.Get(k.service, k.account(id))
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return k.migrate(id)
	case err != nil:
		k.warnFallback(err)
		return Entry{}, ErrNotFound
	}
	e, err = decodeRecord([]byte(data), id)
	if err != nil {
		return Entry{}, corrupt(fmt.Sprintf("keyring item %s/%s", k.service, k.account(id)), err)
	}
	return e, nil
}

// Save implements Storage.
func (k *Keyring) Save(ctx context.Context, key Key, e Entry) error {
	id := key.ID()
	data, err := encodeRecord(id, e)
	if err != nil {
		return err
	}
	if err := ensureDir(k.disk.dir); err != nil {
		return err
	}
	// The index goes first so that DeleteAll finds every item that may
	// exist, even after a crash between the two writes.
	_, statErr := os.Stat(k.indexPath(id))
	hadItem := statErr == nil
	legacy := k.legacyItem(id)
	if err := k.writeIndex(id, e); err != nil {
		return err
	}
	if legacy {
		// The new entry replaces the item of an earlier version.
		_ = keyring.Delete(k.service, id)
	}
	if err := keyring.Set(k.service, k.account(id), string(data)); err != nil {
		k.warnFallback(err)
		if err := k.disk.Save(ctx, key, e); err != nil {
			return err
		}
		// Nothing of this key is in the keyring unless an earlier Save put
		// it there; drop that stale copy, and keep its index while unsure.
		if !hadItem {
			return removeIfExists(k.indexPath(id))
		}
		if err := keyring.Delete(k.service, k.account(id)); err == nil || errors.Is(err, keyring.ErrNotFound) {
			return removeIfExists(k.indexPath(id))
		}
		return nil
	}
	// The keyring now holds the newest entry; an older disk copy must go,
	// or Load would return it.
	return k.disk.Delete(ctx, key)
}

type indexRecord struct {
	Version int    `json:"version"`
	KeyID   string `json:"keyID"`
	Service string `json:"service"`
	// Account is the item's keyring account; empty in the index of an
	// item of an earlier version, named by KeyID.
	Account   string `json:"account,omitempty"`
	IssuerURL string `json:"issuerURL,omitempty"`
	ClientID  string `json:"clientID,omitempty"`
}

func (k *Keyring) writeIndex(id string, e Entry) error {
	data, err := json.Marshal(indexRecord{Version: recordVersion, KeyID: id, Service: k.service, Account: k.account(id), IssuerURL: e.IssuerURL, ClientID: e.ClientID})
	if err != nil {
		return fmt.Errorf("token cache index: %w", err)
	}
	if err := writeFileAtomic(k.disk.dir, id+indexSuffix, data); err != nil {
		return fmt.Errorf("token cache index: %w", err)
	}
	return nil
}

// Delete implements Storage.
func (k *Keyring) Delete(ctx context.Context, key Key) error {
	id := key.ID()
	if err := k.disk.Delete(ctx, key); err != nil {
		return err
	}
	return k.deleteItem(id)
}

// deleteItem removes the keyring item and its index. A keyring error
// matters only when the index says an item was stored.
func (k *Keyring) deleteItem(id string) error {
	_, indexed := k.readIndex(id)
	if k.legacyItem(id) {
		if err := keyring.Delete(k.service, id); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return fmt.Errorf("remove token from the OS keyring: %w", err)
		}
	}
	err := keyring.Delete(k.service, k.account(id))
	if err != nil && !errors.Is(err, keyring.ErrNotFound) && indexed {
		return fmt.Errorf("remove token from the OS keyring: %w", err)
	}
	return removeIfExists(k.indexPath(id))
}

// DeleteAll implements Storage: disk fallback files, then every indexed
// keyring item.
func (k *Keyring) DeleteAll(ctx context.Context) ([]Entry, error) {
	entries, err := k.disk.DeleteAll(ctx)
	errs := []error{err}
	dirents, err := os.ReadDir(k.disk.dir)
	if err != nil && !os.IsNotExist(err) {
		errs = append(errs, fmt.Errorf("list token cache directory: %w", err))
	}
	for _, de := range dirents {
		id, ok := strings.CutSuffix(de.Name(), indexSuffix)
		if !ok || !isKeyID(id) {
			continue
		}
		account := k.account(id)
		if k.legacyItem(id) {
			account = id
		}
		if data, err := keyring.Get(k.service, account); err == nil {
			if e, err := decodeRecord([]byte(data), id); err == nil {
				entries = append(entries, e)
			}
		}
		errs = append(errs, k.deleteItem(id))
	}
	return entries, errors.Join(errs...)
}

// probeKeyring reports whether the OS keyring answers: a lookup of an
// account that never exists must say "not found" within probeTimeout.
func probeKeyring(ctx context.Context, service string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := keyring.Get(service, probeUser)
		done <- err
	}()
	select {
	case err := <-done:
		return err == nil || errors.Is(err, keyring.ErrNotFound)
	case <-ctx.Done():
		return false // the goroutine ends with the keyring call; the channel is buffered
	}
}
