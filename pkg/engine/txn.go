package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// txn is one write: the locks it holds, taken in key order so writers of
// several packages (a clone reads its upstream) never deadlock, with the
// index caught up to every earlier holder.
type txn struct {
	e    *Engine
	main coord.Held // whose intent and publish this write uses
	held []coord.Held
}

// lock takes the write locks of main and others, waits until the index has
// applied every earlier holder's change, and finishes a write an earlier
// holder left half done.
func (e *Engine) lock(ctx context.Context, main string, others ...string) (*txn, error) {
	keys := append([]string{main}, others...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	t := &txn{e: e}
	var seq uint64
	for _, k := range keys {
		h, err := e.coord.Lock(ctx, k)
		if err != nil {
			t.unlock()
			return nil, fmt.Errorf("%w: lock %s: %v", errdef.ErrUnavailable, k, err)
		}
		t.held = append(t.held, h)
		if k == main {
			t.main = h
		}
		seq = max(seq, h.Seq())
	}
	if err := e.idx.waitApplied(ctx, seq); err != nil {
		t.unlock()
		return nil, err
	}
	for _, h := range t.held {
		if err := e.recoverHeld(ctx, h); err != nil {
			t.unlock()
			return nil, err
		}
	}
	return t, nil
}

func (t *txn) unlock() {
	for i := len(t.held) - 1; i >= 0; i-- {
		t.held[i].Unlock()
	}
	t.held = nil
}

// setIntent records what a write of several registry steps is about to do.
func (t *txn) setIntent(ctx context.Context, in intent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if err := t.main.SetIntent(ctx, b); err != nil {
		return fmt.Errorf("%w: record intent: %v", errdef.ErrUnavailable, err)
	}
	return nil
}

// publish sends the write's records (clearing its intent) and waits until
// the index has applied them.
func (t *txn) publish(ctx context.Context, recs []coord.Record) error {
	return t.e.publish(ctx, t.main, recs)
}

func (e *Engine) publish(ctx context.Context, h coord.Held, recs []coord.Record) error {
	seq, err := h.Publish(ctx, recs)
	if err != nil {
		return fmt.Errorf("%w: publish the change: %v", errdef.ErrUnavailable, err)
	}
	if seq == 0 {
		return nil
	}
	return e.idx.waitApplied(ctx, seq)
}

// intent is the record of a write of several registry steps, written before
// the first; after a crash the next holder of the lock finishes the write
// from it (or finds nothing was done), never from guessing.
type intent struct {
	// Op is "publish" (Tag is the draft's ws tag, From its manifest, To the
	// vN manifest, Revision vN) or "delete" (Tag is vN, From its manifest,
	// To the tombstone).
	Op       string             `json:"op"`
	Store    string             `json:"store"`
	Path     string             `json:"path"`
	Tag      string             `json:"tag"`
	Revision string             `json:"revision,omitempty"`
	From     digest.Digest      `json:"from"`
	To       ocispec.Descriptor `json:"to"`
}
