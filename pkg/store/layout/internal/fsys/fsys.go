// Package fsys is the little filesystem the embedded store writes through:
// the operating system's in production, and in tests a strict in-memory one
// (Mem) that forgets, at a simulated power loss, everything not yet fsynced.
//
// It has only what the store needs, with the meaning of package os; names
// are slash-separated on Mem and native on OS.
package fsys

import (
	"io"
	"io/fs"
	"os"
	"time"
)

// File is an open file or directory. Sync on a directory makes the entries
// created, renamed or removed in it durable.
type File interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Writer
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
	Name() string
}

// FS is the set of filesystem calls the store makes.
type FS interface {
	// Open opens a file or directory for reading (and for Sync).
	Open(name string) (File, error)
	// CreateTemp creates a new file in dir named prefix and a random suffix,
	// open for reading and writing.
	CreateTemp(dir, prefix string) (File, error)
	Mkdir(name string, perm fs.FileMode) error
	// Rename replaces newname atomically, as rename(2).
	Rename(oldname, newname string) error
	// Link makes newname a hard link to oldname; newname must not exist.
	Link(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	Stat(name string) (fs.FileInfo, error)
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	Chtimes(name string, atime, mtime time.Time) error
}

// OS is the operating system's filesystem.
type OS struct{}

var _ FS = OS{}

func (OS) Open(name string) (File, error) { return os.Open(name) }

func (OS) CreateTemp(dir, prefix string) (File, error) { return os.CreateTemp(dir, prefix) }

func (OS) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(name, perm) }

func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (OS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

func (OS) Remove(name string) error { return os.Remove(name) }

func (OS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (OS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

func (OS) Chtimes(name string, atime, mtime time.Time) error { return os.Chtimes(name, atime, mtime) }
