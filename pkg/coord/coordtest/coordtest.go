// Package coordtest is the conformance suite every coord.Coordinator passes
// (coord/local in one process, coord/etcd across replicas).
package coordtest

import (
	"context"

	"fmt"
	"sync"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/pkg/coord"
)

// Factory opens coordinators that share one state: two calls are two
// replicas (for coord/local, where state is per process, the same one).
type Factory func(t *testing.T) coord.Coordinator

// Run runs the suite. shared reports whether two coordinators from open are
// separate replicas sharing state (so locks and feeds work across them).
func Run(t *testing.T, open Factory, shared bool) {
	t.Run("PublishOrderAndLoad", func(t *testing.T) { testPublish(t, open, shared) })
	t.Run("LocksExclude", func(t *testing.T) { testLocks(t, open, shared) })
	t.Run("IntentSurvivesHolder", func(t *testing.T) { testIntent(t, open) })
	t.Run("SeqCoversEarlierHolders", func(t *testing.T) { testSeq(t, open, shared) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// next reads one batch from a feed or fails.
func next(t *testing.T, f coord.Feed) coord.Batch {
	t.Helper()
	select {
	case b, ok := <-f.C():
		if !ok {
			t.Fatalf("feed closed: %v", f.Err())
		}
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch")
	}
	return coord.Batch{}
}

func testPublish(t *testing.T, open Factory, shared bool) {
	c := open(t)
	seq0, _, err := c.Load(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Watch(ctx(t), seq0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Lock(ctx(t), "pkg/a")
	if err != nil {
		t.Fatal(err)
	}
	s1, err := h.Publish(ctx(t), []coord.Record{{Key: "t/a/1", Value: []byte("x")}, {Key: "t/a/2", Value: []byte("y")}})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := h.Publish(ctx(t), []coord.Record{{Key: "t/a/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if s0, err := h.Publish(ctx(t), nil); err != nil || s0 != 0 {
		t.Fatalf("empty publish = %d, %v; want 0, nil", s0, err)
	}
	h.Unlock()
	if !(seq0 < s1 && s1 < s2) {
		t.Fatalf("sequence %d, %d, %d: want increasing", seq0, s1, s2)
	}
	b1, b2 := next(t, f), next(t, f)
	if b1.Seq != s1 || len(b1.Records) != 2 || b2.Seq != s2 || len(b2.Records) != 1 || b2.Records[0].Value != nil {
		t.Fatalf("batches %+v, %+v; want %d with 2 puts, %d with one delete", b1, b2, s1, s2)
	}
	seq, recs, err := c.Load(ctx(t), "t/a/")
	if err != nil {
		t.Fatal(err)
	}
	if seq < s2 {
		t.Fatalf("Load at %d, before the last publish %d", seq, s2)
	}
	// A coordinator shared by replicas keeps the state for the next one.
	if shared && (len(recs) != 1 || recs[0].Key != "t/a/2" || string(recs[0].Value) != "y") {
		t.Fatalf("Load = %+v; want t/a/2=y", recs)
	}
	if cur, err := c.Current(ctx(t)); err != nil || cur < s2 {
		t.Fatalf("Current = %d, %v; want at least %d", cur, err, s2)
	}
}

// testLocks: holders of one key never overlap, across replicas when shared.
func testLocks(t *testing.T, open Factory, shared bool) {
	a := open(t)
	b := a
	if shared {
		b = open(t)
	}
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for i := range 8 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				h, err := c.Lock(ctx(t), "pkg/contended")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				maxInside = max(maxInside, inside)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				h.Unlock()
			}
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Fatalf("%d holders of one lock at once", maxInside)
	}
	// A waiter gives up when its context ends.
	h, err := a.Lock(ctx(t), "pkg/held")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Unlock()
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "pkg/held"); err == nil {
		t.Fatal("a second holder got a held lock")
	}
}

// testIntent: an intent stays until a publish of its holder (or a later
// holder) clears it, and Intents lists it.
func testIntent(t *testing.T, open Factory) {
	c := open(t)
	h, err := c.Lock(ctx(t), "pkg/i")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetIntent(ctx(t), []byte("publish v3")); err != nil {
		t.Fatal(err)
	}
	h.Unlock() // as if the holder died before finishing
	keys, err := c.Intents(ctx(t))
	if err != nil || !contains(keys, "pkg/i") {
		t.Fatalf("Intents = %v, %v; want pkg/i", keys, err)
	}
	h, err = c.Lock(ctx(t), "pkg/i")
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Intent(ctx(t))
	if err != nil || string(got) != "publish v3" {
		t.Fatalf("Intent = %q, %v", got, err)
	}
	if _, err := h.Publish(ctx(t), []coord.Record{{Key: "t/i/v3", Value: []byte("d")}}); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Intent(ctx(t)); err != nil || got != nil {
		t.Fatalf("Intent after publish = %q, %v; want none", got, err)
	}
	h.Unlock()
	if keys, _ := c.Intents(ctx(t)); contains(keys, "pkg/i") {
		t.Fatalf("Intents after publish = %v", keys)
	}
}

// testSeq: once the feed has reached Seq of a lock, every batch published
// by an earlier holder of it, on any replica, has been seen.
func testSeq(t *testing.T, open Factory, shared bool) {
	a := open(t)
	b := a
	if shared {
		b = open(t)
	}
	for i := range 3 {
		h, err := a.Lock(ctx(t), "pkg/s")
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.Publish(ctx(t), []coord.Record{{Key: fmt.Sprintf("t/s/%d", i), Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		h.Unlock()
		h, err = b.Lock(ctx(t), "pkg/s")
		if err != nil {
			t.Fatal(err)
		}
		if h.Seq() < s {
			t.Fatalf("Seq of the next holder %d is before the last publish %d", h.Seq(), s)
		}
		h.Unlock()
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
