//go:build unix

package kubeconfig

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives the new file the old file's owner and group, so that
// running setup with sudo on someone's kubeconfig does not take it from
// them. Best effort: only root may change the owner.
func keepOwner(tmp *os.File, old fs.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		_ = tmp.Chown(int(st.Uid), int(st.Gid))
	}
}
