package tokencache

import (
	"context"
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
// under service, account Key.ID(). A keyring cannot be enumerated, so a
// secret-free index file <dir>/<ID>.keyring records each stored key for
// DeleteAll. When the keyring refuses an entry (no keyring service, the
// macOS or Windows size limit) the entry goes to disk in dir instead, and
// one warning line is written to warn for the life of the Keyring.
type Keyring struct {
	service string
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
	return &Keyring{service: service, disk: &Disk{dir: dir}, warn: warn}
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
	data, err := keyring.Get(k.service, id)
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return Entry{}, ErrNotFound
	case err != nil:
		k.warnFallback(err)
		return Entry{}, ErrNotFound
	}
	e, err = decodeRecord([]byte(data), id)
	if err != nil {
		return Entry{}, corrupt(fmt.Sprintf("keyring item %s/%s", k.service, id), err)
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
	if err := k.writeIndex(id, e); err != nil {
		return err
	}
	if err := keyring.Set(k.service, id, string(data)); err != nil {
		k.warnFallback(err)
		if err := k.disk.Save(ctx, key, e); err != nil {
			return err
		}
		// Nothing of this key is in the keyring unless an earlier Save put
		// it there; drop that stale copy, and keep its index while unsure.
		if !hadItem {
			return removeIfExists(k.indexPath(id))
		}
		if err := keyring.Delete(k.service, id); err == nil || errors.Is(err, keyring.ErrNotFound) {
			return removeIfExists(k.indexPath(id))
		}
		return nil
	}
	// The keyring now holds the newest entry; an older disk copy must go,
	// or Load would return it.
	return k.disk.Delete(ctx, key)
}

type indexRecord struct {
	Version   int    `json:"version"`
	KeyID     string `json:"keyID"`
	Service   string `json:"service"`
	IssuerURL string `json:"issuerURL,omitempty"`
	ClientID  string `json:"clientID,omitempty"`
}

func (k *Keyring) writeIndex(id string, e Entry) error {
	data, err := json.Marshal(indexRecord{Version: recordVersion, KeyID: id, Service: k.service, IssuerURL: e.IssuerURL, ClientID: e.ClientID})
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
	err := keyring.Delete(k.service, id)
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		if _, statErr := os.Stat(k.indexPath(id)); statErr == nil {
			return fmt.Errorf("remove token from the OS keyring: %w", err)
		}
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
		if data, err := keyring.Get(k.service, id); err == nil {
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
