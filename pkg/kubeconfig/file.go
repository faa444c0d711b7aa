// Package kubeconfig reads, merges and writes kubeconfig files with
// client-go's clientcmd for `kubectl oidc setup` and `kubectl oidc convert`.
package kubeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// newFileMode is the mode of a kubeconfig this package creates: it may hold
// a client secret, so only its owner reads it (kubectl uses the same).
const newFileMode fs.FileMode = 0o600

// File is one kubeconfig file as loaded from disk.
type File struct {
	// Path is the file as named by the person; RealPath is the file written
	// (symbolic links resolved, so a linked kubeconfig stays linked).
	Path     string
	RealPath string
	// Config is the parsed content; an absent or empty file gives an empty Config.
	Config *clientcmdapi.Config
	// Exists is false when the file is not there yet.
	Exists bool
	// Mode is the file's permission bits, kept on write.
	Mode fs.FileMode
	// raw is the file's bytes as read, to detect an unchanged result.
	raw []byte
	// info is the file's stat at Read, for its owner.
	info fs.FileInfo
}

// Target returns the file kubectl would write to: explicit (--kubeconfig)
// when given, else the first existing file of KUBECONFIG (the first listed
// when none exists), else ~/.kube/config. It uses clientcmd's own rules.
func Target(explicit string) (string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = explicit
	p := rules.GetDefaultFilename()
	if p == "" {
		return "", errors.New("no kubeconfig path: set --kubeconfig or KUBECONFIG")
	}
	return p, nil
}

// Files returns every kubeconfig file kubectl would read: the explicit one
// alone, else every file of KUBECONFIG, else ~/.kube/config.
func Files(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return rules.GetLoadingPrecedence()
}

// Read loads path. A missing or empty file is an empty config; an
// unreadable or malformed one is an error naming the file.
func Read(path string) (*File, error) {
	f := &File{Path: path, RealPath: path, Mode: newFileMode}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		f.RealPath = real
	}
	data, err := os.ReadFile(f.RealPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.Config = clientcmdapi.NewConfig()
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	st, err := os.Stat(f.RealPath)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("kubeconfig %s is not a regular file", path)
	}
	f.Exists = true
	f.Mode = st.Mode().Perm()
	f.info = st
	f.raw = data
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s is not a valid kubeconfig (nothing was changed): %w", path, err)
	}
	// A file without some section decodes to nil maps; Merge writes into them.
	if cfg.Clusters == nil {
		cfg.Clusters = map[string]*clientcmdapi.Cluster{}
	}
	if cfg.AuthInfos == nil {
		cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{}
	}
	if cfg.Contexts == nil {
		cfg.Contexts = map[string]*clientcmdapi.Context{}
	}
	if cfg.Extensions == nil {
		cfg.Extensions = map[string]runtime.Object{}
	}
	for _, c := range cfg.Clusters {
		c.LocationOfOrigin = path
	}
	for _, a := range cfg.AuthInfos {
		a.LocationOfOrigin = path
	}
	for _, c := range cfg.Contexts {
		c.LocationOfOrigin = path
	}
	f.Config = cfg
	return f, nil
}

// Encode returns the YAML that Write would put in the file.
func (f *File) Encode() ([]byte, error) {
	data, err := clientcmd.Write(*f.Config)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return data, nil
}

// Write stores the config atomically: a temporary file in the same
// directory, synced, given the original mode, then renamed over the file.
// A read-only file is refused (renaming over it would succeed on Unix, but
// the person marked it read-only). It reports false when the content was
// already what would be written, and then touches nothing.
func (f *File) Write() (bool, error) {
	data, err := f.Encode()
	if err != nil {
		return false, err
	}
	if f.Exists && bytes.Equal(data, f.raw) {
		return false, nil
	}
	if f.Exists && f.Mode&0o200 == 0 {
		return false, fmt.Errorf("kubeconfig %s is read-only (mode %04o); make it writable or choose another file with --kubeconfig", f.Path, f.Mode)
	}
	dir := filepath.Dir(f.RealPath)
	if !f.Exists {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("create kubeconfig directory: %w", err)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.RealPath)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("write kubeconfig %s: %w", f.Path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once renamed
	if f.info != nil {
		keepOwner(tmp, f.info)
	}
	if err := tmp.Chmod(f.Mode); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write kubeconfig %s: %w", f.Path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write kubeconfig %s: %w", f.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write kubeconfig %s: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write kubeconfig %s: %w", f.Path, err)
	}
	if err := os.Rename(tmpName, f.RealPath); err != nil {
		return false, fmt.Errorf("write kubeconfig %s: %w", f.Path, err)
	}
	f.raw = data
	f.Exists = true
	return true, nil
}
