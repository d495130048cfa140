package fsys

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrCrashed is returned by every call on a Mem after its simulated crash.
var ErrCrashed = errors.New("fsys: simulated crash")

// Mem is a strict in-memory filesystem for crash tests. It keeps, beside the
// current state, what a power loss would leave: the data of a file as of its
// last Sync, and the entries of a directory as of the last Sync of that
// directory (so a new file or directory is lost unless its parent is synced,
// and a rename is lost unless both directories are). Crash returns that state.
//
// CrashAfter makes it die after a given number of changing calls: that call
// takes effect, and every call after it, reads included, fails with
// ErrCrashed, as in a process that lost its machine.
type Mem struct {
	mu      sync.Mutex
	root    *node
	steps   int // changing calls done
	crashAt int // die after this many steps; 0: never
	dead    bool
	seq     int // names of temp files
	now     func() time.Time
}

var _ FS = (*Mem)(nil)

// node is a file or a directory, current and durable.
type node struct {
	dir   bool
	mtime time.Time
	// Files: the current data and the data as of the last Sync.
	data, synced []byte
	// Directories: the current entries and the entries as of the last Sync.
	entries, durable map[string]*node
}

func newDir() *node {
	return &node{dir: true, entries: map[string]*node{}, durable: map[string]*node{}}
}

// NewMem returns an empty Mem whose root directory "/" exists durably.
func NewMem() *Mem { return &Mem{root: newDir(), now: time.Now} }

// CrashAfter makes m die once n more changing calls have been made
// (creates, writes, syncs, renames, links, removes, mkdirs, chtimes).
// n <= 0 disarms it.
func (m *Mem) CrashAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashAt = 0
	if n > 0 {
		m.crashAt = m.steps + n
	}
}

// Steps returns how many changing calls have been made so far.
func (m *Mem) Steps() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.steps
}

// Crash returns a new Mem holding what a power loss at this moment would
// leave: only synced data and synced directory entries. m itself dies.
func (m *Mem) Crash() *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = true
	clones := map[*node]*node{} // hard links stay links
	return &Mem{root: m.root.durableClone(clones), now: m.now}
}

func (n *node) durableClone(clones map[*node]*node) *node {
	if c, ok := clones[n]; ok {
		return c
	}
	c := &node{dir: n.dir, mtime: n.mtime}
	clones[n] = c
	if !n.dir {
		c.data = slices.Clone(n.synced)
		c.synced = slices.Clone(n.synced)
		return c
	}
	c.entries, c.durable = map[string]*node{}, map[string]*node{}
	for name, child := range n.durable {
		cc := child.durableClone(clones)
		c.entries[name], c.durable[name] = cc, cc
	}
	return c
}

// begin locks m and fails if it is dead; changing calls count a step.
func (m *Mem) begin(changing bool) error {
	m.mu.Lock()
	if m.dead {
		m.mu.Unlock()
		return ErrCrashed
	}
	if changing {
		m.steps++
		if m.crashAt > 0 && m.steps >= m.crashAt {
			m.dead = true // this call still takes effect
		}
	}
	return nil
}

// lookup returns the parent directory of name and its base name.
func (m *Mem) lookup(op, name string) (*node, string, error) {
	name = path.Clean("/" + name)
	if name == "/" {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir := m.root
	parts := splitPath(path.Dir(name))
	for _, p := range parts {
		next, ok := dir.entries[p]
		if !ok {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if !next.dir {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		dir = next
	}
	return dir, path.Base(name), nil
}

// get returns the node at name.
func (m *Mem) get(op, name string) (*node, error) {
	if path.Clean("/"+name) == "/" {
		return m.root, nil
	}
	dir, base, err := m.lookup(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.entries[base]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

func splitPath(p string) []string {
	return slices.DeleteFunc(strings.Split(p, "/"), func(s string) bool { return s == "" })
}

func (m *Mem) Open(name string) (File, error) {
	if err := m.begin(false); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	n, err := m.get("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{m: m, n: n, name: path.Clean("/" + name)}, nil
}

func (m *Mem) CreateTemp(dir, prefix string) (File, error) {
	if err := m.begin(true); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	d, err := m.get("createtemp", dir)
	if err != nil {
		return nil, err
	}
	if !d.dir {
		return nil, &fs.PathError{Op: "createtemp", Path: dir, Err: syscall.ENOTDIR}
	}
	m.seq++
	base := prefix + strconv.Itoa(m.seq)
	n := &node{mtime: m.now()}
	d.entries[base] = n
	return &memFile{m: m, n: n, name: path.Join("/", dir, base), write: true}, nil
}

func (m *Mem) Mkdir(name string, perm fs.FileMode) error {
	if err := m.begin(true); err != nil {
		return err
	}
	defer m.mu.Unlock()
	dir, base, err := m.lookup("mkdir", name)
	if err != nil {
		return err
	}
	if _, ok := dir.entries[base]; ok {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	n := newDir()
	n.mtime = m.now()
	dir.entries[base] = n
	return nil
}

func (m *Mem) Rename(oldname, newname string) error {
	if err := m.begin(true); err != nil {
		return err
	}
	defer m.mu.Unlock()
	odir, obase, err := m.lookup("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := odir.entries[obase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	ndir, nbase, err := m.lookup("rename", newname)
	if err != nil {
		return err
	}
	if old, ok := ndir.entries[nbase]; ok {
		switch {
		case old == n:
			return nil // rename(2): links to the same file, nothing happens
		case old.dir != n.dir:
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EISDIR}
		case old.dir && len(old.entries) > 0:
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.ENOTEMPTY}
		}
	}
	delete(odir.entries, obase)
	ndir.entries[nbase] = n
	return nil
}

func (m *Mem) Link(oldname, newname string) error {
	if err := m.begin(true); err != nil {
		return err
	}
	defer m.mu.Unlock()
	n, err := m.get("link", oldname)
	if err != nil {
		return err
	}
	if n.dir {
		return &fs.PathError{Op: "link", Path: oldname, Err: syscall.EPERM}
	}
	dir, base, err := m.lookup("link", newname)
	if err != nil {
		return err
	}
	if _, ok := dir.entries[base]; ok {
		return &fs.PathError{Op: "link", Path: newname, Err: fs.ErrExist}
	}
	dir.entries[base] = n
	return nil
}

func (m *Mem) Remove(name string) error {
	if err := m.begin(true); err != nil {
		return err
	}
	defer m.mu.Unlock()
	dir, base, err := m.lookup("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.entries[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.entries) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.entries, base)
	return nil
}

func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	if err := m.begin(false); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	n, err := m.get("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(path.Base(path.Clean("/" + name))), nil
}

func (m *Mem) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := m.begin(false); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	n, err := m.get("readdir", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	out := make([]fs.DirEntry, 0, len(n.entries))
	for base, child := range n.entries {
		out = append(out, fs.FileInfoToDirEntry(child.info(base)))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	return out, nil
}

func (m *Mem) Chtimes(name string, _, mtime time.Time) error {
	if err := m.begin(true); err != nil {
		return err
	}
	defer m.mu.Unlock()
	n, err := m.get("chtimes", name)
	if err != nil {
		return err
	}
	n.mtime = mtime
	return nil
}
