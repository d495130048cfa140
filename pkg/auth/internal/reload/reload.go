// Package reload keeps the parsed contents of configuration files current
// while the server runs, so operators rotate certificates, tokens, policies
// and credentials by replacing files, without a restart.
package reload

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often Get looks at the files again.
const DefaultInterval = time.Second

// Files holds the value parsed from one or more files. Get reads the files
// again at most once per interval and parses them when their bytes changed.
// A file that cannot be read or parsed keeps the last good value (and is
// logged), so a half-written file never takes the server down.
type Files[T any] struct {
	paths    []string
	parse    func(data [][]byte) (T, error)
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	val     atomic.Pointer[T]
	next    atomic.Int64 // unix nanoseconds of the next look
	mu      sync.Mutex   // one reload at a time
	sum     [sha256.Size]byte
	lastErr string
}

// Option configures Files.
type Option func(*options)

type options struct {
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
}

// WithInterval sets how often the files are looked at. Default DefaultInterval.
func WithInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// WithLogger sets where failed reloads are reported. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock (tests). Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New reads and parses paths once; an error here is the caller's to report
// (a server must not start on a broken file).
func New[T any](parse func(data [][]byte) (T, error), paths []string, opts ...Option) (*Files[T], error) {
	o := options{interval: DefaultInterval, log: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	f := &Files[T]{paths: paths, parse: parse, interval: o.interval, log: o.log, now: o.now}
	data, sum, err := f.read()
	if err != nil {
		return nil, err
	}
	v, err := parse(data)
	if err != nil {
		return nil, err
	}
	f.val.Store(&v)
	f.sum = sum
	f.next.Store(o.now().Add(o.interval).UnixNano())
	return f, nil
}

// Get returns the current value, reloading first when the interval passed.
func (f *Files[T]) Get() T {
	now := f.now()
	if now.UnixNano() >= f.next.Load() && f.mu.TryLock() {
		// Others keep the old value while one caller reloads.
		f.reload(now)
		f.mu.Unlock()
	}
	return *f.val.Load()
}

func (f *Files[T]) reload(now time.Time) {
	f.next.Store(now.Add(f.interval).UnixNano())
	data, sum, err := f.read()
	if err == nil && sum == f.sum {
		return
	}
	var v T
	if err == nil {
		v, err = f.parse(data)
	}
	if err != nil {
		// Log each distinct failure once, not every interval.
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			f.log.Error("reloading a configuration file failed; keeping the last good contents", "files", f.paths, "err", err)
		}
		return
	}
	f.lastErr = ""
	f.sum = sum
	f.val.Store(&v)
	f.log.Info("reloaded configuration file", "files", f.paths)
}

func (f *Files[T]) read() ([][]byte, [sha256.Size]byte, error) {
	data := make([][]byte, len(f.paths))
	for i, p := range f.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, [sha256.Size]byte{}, fmt.Errorf("read %s: %w", p, err)
		}
		data[i] = b
	}
	return data, sha256.Sum256(bytes.Join(data, []byte{0})), nil
}
