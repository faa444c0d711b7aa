package tokencache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

const (
	entrySuffix = ".json"
	lockSuffix  = ".lock"
	tmpMarker   = ".tmp-"
	dirPerm     = 0o700
	filePerm    = 0o600
)

// Disk keeps one JSON file per key, <dir>/<Key.ID()>.json, mode 0600 in a
// 0700 directory, replaced atomically (temp file in the same directory,
// fsync, rename), so a reader sees either the old or the new entry and two
// writers of the same key leave the last one's entry.
type Disk struct {
	dir string
}

// NewDisk returns the disk storage rooted at dir.
func NewDisk(dir string) Storage { return &Disk{dir: dir} }

// Name implements Storage.
func (d *Disk) Name() string { return KindDisk }

func (d *Disk) path(id string) string { return filepath.Join(d.dir, id+entrySuffix) }

// Load implements Storage.
func (d *Disk) Load(_ context.Context, key Key) (Entry, error) {
	id := key.ID()
	return d.load(d.path(id), id)
}

func (d *Disk) load(path, id string) (Entry, error) {
	data, err := readCacheFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, corrupt(path, err)
	}
	e, err := decodeRecord(data, id)
	if err != nil {
		return Entry{}, corrupt(path, err)
	}
	return e, nil
}

// readCacheFile reads a cache file of bounded size and, where file modes
// mean something, takes group and other access away from it.
func readCacheFile(path string) ([]byte, error) {
	// Stat before Open: opening a FIFO someone put there would block.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxRecordSize {
		return nil, fmt.Errorf("larger than %d bytes", maxRecordSize)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		_ = f.Chmod(filePerm) // best effort; Save reports a directory it cannot secure
	}
	data := make([]byte, st.Size()+1)
	n, err := io.ReadFull(f, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n > int(st.Size()) {
		return nil, errors.New("file grew while being read")
	}
	return data[:n], nil
}

// Save implements Storage.
func (d *Disk) Save(_ context.Context, key Key, e Entry) error {
	id := key.ID()
	data, err := encodeRecord(id, e)
	if err != nil {
		return err
	}
	if err := ensureDir(d.dir); err != nil {
		return err
	}
	if err := writeFileAtomic(d.dir, id+entrySuffix, data); err != nil {
		return fmt.Errorf("save token cache: %w", err)
	}
	return nil
}

// Delete implements Storage.
func (d *Disk) Delete(_ context.Context, key Key) error {
	return removeIfExists(d.path(key.ID()))
}

// DeleteAll implements Storage. It also removes temporary files left by
// interrupted saves (they may hold tokens). Lock files stay: removing a lock
// file another process holds would let a third process lock a new file.
func (d *Disk) DeleteAll(context.Context) ([]Entry, error) {
	names, err := d.list()
	if err != nil {
		return nil, err
	}
	var entries []Entry
	var errs []error
	for _, name := range names {
		path := filepath.Join(d.dir, name)
		if id, ok := strings.CutSuffix(name, entrySuffix); ok && isKeyID(id) {
			if e, err := d.load(path, id); err == nil {
				entries = append(entries, e)
			}
		}
		if err := removeIfExists(path); err != nil {
			errs = append(errs, err)
		}
	}
	return entries, errors.Join(errs...)
}

// list returns the names of entry files and leftover temp files in the
// directory, and nothing else that may live there.
func (d *Disk) list() ([]string, error) {
	dirents, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list token cache directory: %w", err)
	}
	var names []string
	for _, de := range dirents {
		name := de.Name()
		if id, ok := strings.CutSuffix(name, entrySuffix); ok && isKeyID(id) {
			names = append(names, name)
			continue
		}
		if strings.HasPrefix(name, ".") && strings.Contains(name, entrySuffix+tmpMarker) {
			names = append(names, name)
		}
	}
	return names, nil
}

// ensureDir creates dir with mode 0700, or tightens an existing one that
// others can access, and explains what to do when it cannot.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("create token cache directory: %w; choose another with --token-cache-dir", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("token cache directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("token cache directory %s is not a directory; remove it or choose another with --token-cache-dir", dir)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, dirPerm); err != nil {
			return fmt.Errorf("token cache directory %s has mode %#o, open to other users, and cannot be restricted: %w; run `chmod 700 %s` or choose another with --token-cache-dir", dir, perm, err, dir)
		}
	}
	return nil
}

// writeFileAtomic replaces dir/name with data: temp file in the same
// directory (mode 0600), fsync, rename, then fsync of the directory.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+tmpMarker+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if runtime.GOOS != "windows" {
		if err := f.Chmod(filePerm); err != nil {
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable; best effort, not every OS allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove token cache entry: %w", err)
	}
	return nil
}
