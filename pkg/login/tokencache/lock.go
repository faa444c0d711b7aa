package tokencache

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// lockRetryDelay is how often a busy lock is tried again.
const lockRetryDelay = 50 * time.Millisecond

// LockPath returns the lock file of key in dir.
func LockPath(dir string, key Key) string {
	return filepath.Join(dir, key.ID()+lockSuffix)
}

// Lock takes the per-key file lock <dir>/<ID>.lock (github.com/gofrs/flock),
// which the caller holds across read, refresh and save so that concurrent
// kubectl processes cause one refresh and at most one browser window. If the
// lock is busy it calls waiting (may be nil) exactly once with a line for
// the person, then retries until it gets the lock, ctx ends, or timeout
// passes (timeout <= 0: only ctx limits the wait). The lock file stays after
// unlock; the OS releases the lock when a holder dies.
func Lock(ctx context.Context, dir string, key Key, timeout time.Duration, waiting func(string)) (unlock func() error, err error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := LockPath(dir, key)
	fl := flock.New(path, flock.SetPermissions(filePerm))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock token cache %s: %w", path, err)
	}
	if !ok {
		if waiting != nil {
			waiting(fmt.Sprintf("waiting for another kubectl oidc process to finish logging in (lock %s)...", path))
		}
		waitCtx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			waitCtx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		ok, err = fl.TryLockContext(waitCtx, lockRetryDelay)
		if !ok || err != nil {
			_ = fl.Close()
			switch {
			case ctx.Err() != nil:
				return nil, fmt.Errorf("waiting for token cache lock %s: %w", path, ctx.Err())
			case errors.Is(err, context.DeadlineExceeded):
				return nil, fmt.Errorf("another kubectl oidc process still holds the token cache lock %s after %s (it may be waiting for a login in a browser or terminal): finish or stop that process, then retry", path, timeout)
			default:
				return nil, fmt.Errorf("lock token cache %s: %w", path, err)
			}
		}
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			if e := fl.Unlock(); e != nil {
				err = fmt.Errorf("unlock token cache %s: %w", path, e)
			}
		})
		return err
	}, nil
}
