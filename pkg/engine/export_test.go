package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// IndexDump writes down everything the index of e answers with: every
// object as the API encodes it with its resourceVersions, every package's
// tags, the Repositories, the sequence and the watch window's deletions.
func IndexDump(e *Engine) string {
	x := e.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dump()
}

func (x *index) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq %d floor %d\n", x.seq, x.hub.replayFloor)
	for _, rs := range x.sortedRepos() {
		fmt.Fprintf(&b, "repo %s\n", mustJSON(rs.object(rs.rv)))
	}
	for _, k := range sortedPkgKeys(x.pkgs) {
		fmt.Fprintf(&b, "package %s %s\n", k, mustJSON(x.pkgs[k].tagMap()))
	}
	x.objs.Ascend(func(o *object) bool {
		fmt.Fprintf(&b, "object %d %s\n", o.created, appendJSON(nil, o.snap()))
		return true
	})
	for _, t := range x.hub.tombstones {
		fmt.Fprintf(&b, "deleted %d %s\n", t.ResourceVersion, mustJSON(t.Object))
	}
	return b.String()
}

// CheckpointOf encodes e's index as the checkpoint file holds it.
func CheckpointOf(e *Engine) []byte {
	e.idx.mu.RLock()
	s := e.idx.snapshotCheckpoint()
	e.idx.mu.RUnlock()
	var buf bytes.Buffer
	if err := s.writeTo(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// RestoreDump restores a checkpoint into a new index next to e's (sharing
// its Repository states) and dumps it.
func RestoreDump(e *Engine, data []byte) (string, error) {
	cp, err := parseCheckpoint(data)
	if err != nil {
		return "", err
	}
	y := newIndex(e.opts.WatchWindow, cp.seq, e.log)
	if err := y.restore(cp, e.newRepoState); err != nil {
		return "", err
	}
	return y.dump(), nil
}

// restoreAny restores a checkpoint with Repository states that need no
// registry, for the fuzzer.
func restoreAny(data []byte) error {
	cp, err := parseCheckpoint(data)
	if err != nil {
		return err
	}
	return newIndex(16, cp.seq, discardLog).restore(cp, testRepoState)
}

var discardLog = slog.New(slog.DiscardHandler)

// WriteCheckpoint writes the checkpoint as the running engine does every minute.
func (e *Engine) WriteCheckpoint() error { return e.writeCheckpoint() }

// RenewLeases runs one round of writer lease renewal now.
func RenewLeases(e *Engine) { e.renewOnce(context.Background()) }
