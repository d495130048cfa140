package layout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// lockFile is the name of the file flock'ed for the lifetime of a Store.
const lockFile = ".lock"

// lock takes a non-blocking exclusive flock on dir/.lock. flock locks belong to
// the open file, so a second Open in the same process is refused too, and the
// kernel drops the lock when the holder dies (kill -9 included).
func lock(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("layout: open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("layout: data directory %s is in use by another pkgserver process (lock %s held): %w", dir, path, errdef.ErrLocked)
		}
		return nil, fmt.Errorf("layout: lock %s: %w", path, err)
	}
	return f, nil
}
