package layout

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix marks files that are not yet renamed into place; Open removes them.
const tmpPrefix = ".tmp-"

// writeFileAtomic replaces path with data so that a reader (or a restart after
// kill -9 or power loss) sees either the old file or the new one, never a torn one:
// temp file in the same directory, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeTemps deletes the leftovers of writes interrupted by a crash: every
// temp file under root. Finished files are only ever created by rename, so
// nothing else can be partial.
func removeTemps(root string) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("layout: clean temp files: %w", err)
	}
	return nil
}
