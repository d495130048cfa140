// Package local is the coordinator of a single pkgserver process: in-process
// locks and feed, with the sequence and the intents kept durably in a
// directory so that resourceVersions only grow across restarts and
// interrupted writes are finished after a crash.
package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"pkgserver.dev/pkgserver/pkg/coord"
)

// block is how many sequence numbers are reserved by one durable write: a
// restart skips what was left of the block, so numbers never repeat.
const block = 1 << 16

// Coordinator implements coord.Coordinator in one process.
type Coordinator struct {
	dir string // "" keeps nothing on disk (tests)

	mu       sync.Mutex
	seq      uint64
	reserved uint64 // numbers up to here may be handed out
	subs     map[*feed]struct{}
	intents  map[string][]byte
	locks    map[string]*keyLock
	closed   bool
}

var _ coord.Coordinator = (*Coordinator)(nil)

type keyLock struct {
	ch   chan struct{} // holds one token while locked
	refs int
}

// Open returns a coordinator keeping its state in dir (created if needed);
// an empty dir keeps everything in memory.
func Open(dir string) (*Coordinator, error) {
	c := &Coordinator{dir: dir, subs: map[*feed]struct{}{},
		intents: map[string][]byte{}, locks: map[string]*keyLock{}}
	if dir == "" {
		return c, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "intents"), 0o755); err != nil {
		return nil, fmt.Errorf("coordination state: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "sequence"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("coordination state: %w", err)
	default:
		n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("coordination state: %s/sequence: %w", dir, err)
		}
		c.seq, c.reserved = n, n
	}
	entries, err := os.ReadDir(filepath.Join(dir, "intents"))
	if err != nil {
		return nil, fmt.Errorf("coordination state: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(filepath.Join(dir, "intents", e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "intents", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("coordination state: %w", err)
		}
		var in storedIntent
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, fmt.Errorf("coordination state: intent %s: %w", e.Name(), err)
		}
		c.intents[in.Key] = in.Data
	}
	return c, nil
}

type storedIntent struct {
	Key  string `json:"key"`
	Data []byte `json:"data"`
}

// Lock implements coord.Coordinator.
func (c *Coordinator) Lock(ctx context.Context, key string) (coord.Held, error) {
	c.mu.Lock()
	l, ok := c.locks[key]
	if !ok {
		l = &keyLock{ch: make(chan struct{}, 1)}
		c.locks[key] = l
	}
	l.refs++
	c.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		c.release(key, l)
		return nil, ctx.Err()
	}
	c.mu.Lock()
	seq := c.seq
	c.mu.Unlock()
	return &held{c: c, key: key, l: l, seq: seq}, nil
}

func (c *Coordinator) release(key string, l *keyLock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(c.locks, key)
	}
}

// Load implements coord.Coordinator. The state is the one process's own
// index (its checkpoint and the registries give it back after a restart):
// the local coordinator keeps no copy, so Load returns only the sequence.
func (c *Coordinator) Load(context.Context, string) (uint64, []coord.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, nil, nil
}

// Current implements coord.Coordinator.
func (c *Coordinator) Current(context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, nil
}

// Intents implements coord.Coordinator.
func (c *Coordinator) Intents(context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.intents))
	for k := range c.intents {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// Watch implements coord.Coordinator. No history is kept: after must be the
// current sequence number (as returned by Load).
func (c *Coordinator) Watch(ctx context.Context, after uint64) (coord.Feed, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if after != c.seq {
		return nil, fmt.Errorf("local feed: cannot replay from %d, it is at %d", after, c.seq)
	}
	f := &feed{ch: make(chan coord.Batch), wake: make(chan struct{}, 1)}
	c.subs[f] = struct{}{}
	go f.pump(ctx, func() {
		c.mu.Lock()
		delete(c.subs, f)
		c.mu.Unlock()
	})
	return f, nil
}

// Close implements coord.Coordinator.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// publish assigns the next number to recs, applies them and queues the batch
// for every subscriber.
func (c *Coordinator) publish(key string, recs []coord.Record) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errors.New("local coordinator closed")
	}
	if len(recs) > 0 {
		if c.seq+1 > c.reserved {
			if err := c.reserve(c.seq + block); err != nil {
				return 0, err
			}
		}
		c.seq++
		b := coord.Batch{Seq: c.seq, Records: slices.Clone(recs)}
		for f := range c.subs {
			f.push(b)
		}
	}
	if err := c.clearIntent(key); err != nil {
		return c.seq, err
	}
	if len(recs) == 0 {
		return 0, nil
	}
	return c.seq, nil
}

// reserve durably records that numbers up to n may be used.
func (c *Coordinator) reserve(n uint64) error {
	if c.dir != "" {
		if err := writeAtomic(filepath.Join(c.dir, "sequence"), []byte(strconv.FormatUint(n, 10)+"\n")); err != nil {
			return fmt.Errorf("coordination state: reserve sequence numbers: %w", err)
		}
	}
	c.reserved = n
	return nil
}

func (c *Coordinator) intentPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.dir, "intents", hex.EncodeToString(sum[:16]))
}

func (c *Coordinator) setIntent(key string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != "" {
		b, err := json.Marshal(storedIntent{Key: key, Data: data})
		if err != nil {
			return err
		}
		if err := writeAtomic(c.intentPath(key), b); err != nil {
			return fmt.Errorf("coordination state: record intent: %w", err)
		}
	}
	c.intents[key] = slices.Clone(data)
	return nil
}

// clearIntent removes the intent of key; c.mu must be held.
func (c *Coordinator) clearIntent(key string) error {
	if _, ok := c.intents[key]; !ok {
		return nil
	}
	if c.dir != "" {
		if err := os.Remove(c.intentPath(key)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("coordination state: clear intent: %w", err)
		}
		if err := syncDir(filepath.Join(c.dir, "intents")); err != nil {
			return err
		}
	}
	delete(c.intents, key)
	return nil
}

// held is a lock in hand.
type held struct {
	c    *Coordinator
	key  string
	l    *keyLock
	seq  uint64
	once sync.Once
}

func (h *held) Seq() uint64 { return h.seq }

func (h *held) Intent(context.Context) ([]byte, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return slices.Clone(h.c.intents[h.key]), nil
}

func (h *held) SetIntent(_ context.Context, data []byte) error { return h.c.setIntent(h.key, data) }

func (h *held) Publish(_ context.Context, recs []coord.Record) (uint64, error) {
	return h.c.publish(h.key, recs)
}

func (h *held) Unlock() {
	h.once.Do(func() {
		<-h.l.ch
		h.c.release(h.key, h.l)
	})
}

// feed queues batches for one subscriber without ever blocking the publisher.
type feed struct {
	ch   chan coord.Batch
	wake chan struct{}

	mu    sync.Mutex
	queue []coord.Batch
}

func (f *feed) C() <-chan coord.Batch { return f.ch }
func (f *feed) Err() error            { return nil }

func (f *feed) push(b coord.Batch) {
	f.mu.Lock()
	f.queue = append(f.queue, b)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) pump(ctx context.Context, done func()) {
	defer close(f.ch)
	defer done()
	for {
		f.mu.Lock()
		q := f.queue
		f.queue = nil
		f.mu.Unlock()
		for _, b := range q {
			select {
			case f.ch <- b:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-f.wake:
		case <-ctx.Done():
			return
		}
	}
}

// writeAtomic replaces path with data durably: temp file, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
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
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
