// Package coord is how pkgserver replicas agree: per-package write locks, one
// increasing sequence of changes, and a feed that carries every change to every
// replica's index in that order. The registry stays the only copy of packages;
// what goes through here is which tags point where (coordination data).
//
// Two implementations: coord/local (one process, the default) and coord/etcd
// (several replicas over one registry). Both pass the suite in coordtest.
package coord

import (
	"context"
	"errors"
)

// Record is one key of the shared state and its new value; a nil Value
// deletes the key.
type Record struct {
	Key   string
	Value []byte
}

// Batch is one atomic change: every record written under one sequence number.
type Batch struct {
	Seq     uint64
	Records []Record
}

// Coordinator serialises writers and orders their changes.
type Coordinator interface {
	// Lock takes the write lock of key; it waits for the current holder or
	// until ctx ends. A holder that dies releases its locks (with etcd, when
	// its lease expires).
	Lock(ctx context.Context, key string) (Held, error)
	// Load returns every record whose key starts with prefix, and the sequence
	// number at which that is the whole state.
	Load(ctx context.Context, prefix string) (seq uint64, recs []Record, err error)
	// Watch delivers, in order, every batch with a sequence number above
	// after, whoever published it. The channel is closed when ctx ends or the
	// feed breaks; Err then says why (nil after ctx ended).
	Watch(ctx context.Context, after uint64) (Feed, error)
	// Current returns the sequence number of the latest batch.
	Current(ctx context.Context) (uint64, error)
	// Intents lists the keys whose last holder left an intent: writes that
	// were interrupted and must be completed or rolled back.
	Intents(ctx context.Context) ([]string, error)
	// Close releases what the coordinator holds.
	Close() error
}

// Feed is a stream of batches.
type Feed interface {
	C() <-chan Batch
	// Err is why the channel was closed.
	Err() error
}

// Held is a lock in hand.
type Held interface {
	// Seq is a sequence number at or after every batch published by earlier
	// holders of the lock: once the index has applied it, it is current for
	// this key.
	Seq() uint64
	// Intent returns the intent the previous holder left, nil if none.
	Intent(ctx context.Context) ([]byte, error)
	// SetIntent durably records what the holder is about to do, before it
	// starts a write of several steps.
	SetIntent(ctx context.Context, data []byte) error
	// Publish writes recs as one batch and clears the intent, only while the
	// lock is still held, and returns the batch's sequence number. An empty
	// recs only clears the intent and returns 0.
	Publish(ctx context.Context, recs []Record) (uint64, error)
	// Unlock releases the lock.
	Unlock()
}

// ErrLockLost is returned by Publish when the lock was lost (with etcd: the
// lease expired); nothing was written.
var ErrLockLost = errors.New("coordination lock lost")

// ErrCompacted ends a feed that cannot resume where it stood: that part of
// the history is gone. The follower loads the state again.
var ErrCompacted = errors.New("feed history compacted")

// Historian is implemented by coordinators that may keep the whole history
// of the feed. A replica that replays it from the start holds exactly the
// objects and resourceVersions every other replica holds.
type Historian interface {
	// FullHistory reports whether the feed can be replayed from the start.
	FullHistory(ctx context.Context) (bool, error)
}
