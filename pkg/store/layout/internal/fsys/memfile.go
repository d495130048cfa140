package fsys

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"time"
)

func (n *node) info(name string) fs.FileInfo {
	fi := fileInfo{name: name, size: int64(len(n.data)), mtime: n.mtime, mode: 0o644}
	if n.dir {
		fi.mode = fs.ModeDir | 0o755
	}
	return fi
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return fi.mtime }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

// memFile is an open file or directory of a Mem.
type memFile struct {
	m      *Mem
	n      *node
	name   string
	pos    int64
	write  bool
	closed bool
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.m.begin(false); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	if f.closed || f.n.dir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	if err := f.m.begin(false); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += int64(len(f.n.data))
	default:
		return 0, fmt.Errorf("seek: whence %d: %w", whence, fs.ErrInvalid)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek: negative offset: %w", fs.ErrInvalid)
	}
	f.pos = offset
	return offset, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if err := f.m.begin(true); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	if f.closed || !f.write {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	end := f.pos + int64(len(p))
	if end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[f.pos:], p)
	f.pos = end
	f.n.mtime = f.m.now()
	return len(p), nil
}

// Sync makes the file's data, or the directory's entries, durable.
func (f *memFile) Sync() error {
	if err := f.m.begin(true); err != nil {
		return err
	}
	defer f.m.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "sync", Path: f.name, Err: fs.ErrClosed}
	}
	if f.n.dir {
		f.n.durable = make(map[string]*node, len(f.n.entries))
		for k, v := range f.n.entries {
			f.n.durable[k] = v
		}
		return nil
	}
	f.n.synced = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	if err := f.m.begin(false); err != nil {
		return nil, err
	}
	defer f.m.mu.Unlock()
	return f.n.info(path.Base(f.name)), nil
}

// Close never fails, even after a crash, so that deferred closes stay quiet.
func (f *memFile) Close() error {
	f.closed = true
	return nil
}
