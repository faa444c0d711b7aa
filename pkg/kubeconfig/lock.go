package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// lock takes kubectl's lock on a kubeconfig: the file PATH.lock created
// exclusively (clientcmd's ModifyConfig does the same), so setup and convert
// never interleave with `kubectl config set-*`. The returned function
// removes it.
func lock(path string) (func(), error) {
	name := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create kubeconfig directory: %w", err)
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("kubeconfig %s is locked by another kubectl (%s exists); retry, or remove the lock file if no kubectl is running", path, name)
	}
	if err != nil {
		return nil, fmt.Errorf("lock kubeconfig: %w", err)
	}
	f.Close()
	return func() { os.Remove(name) }, nil
}
