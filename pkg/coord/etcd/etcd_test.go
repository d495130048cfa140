package etcd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/internal/etcdproc"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/coord/coordtest"
	"pkgserver.dev/pkgserver/pkg/coord/etcd"
)

func open(t *testing.T, endpoints []string, prefix string) *etcd.Coordinator {
	t.Helper()
	c, err := etcd.Open(context.Background(), etcd.Options{Endpoints: endpoints, Prefix: prefix, LeaseTTL: 2 * time.Second, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	cluster := etcdproc.StartForTest(t, etcdproc.Options{Members: 1})
	n := 0
	coordtest.Run(t, func(t *testing.T) coord.Coordinator {
		// Each subtest its own prefix; the two replicas of one share it.
		if !strings.HasPrefix(t.Name(), "TestConformance/") {
			t.Fatal(t.Name())
		}
		n++
		return open(t, cluster.Endpoints(), "/suite/"+t.Name()+"/")
	}, true)
}

// TestLeaseReleasesLocksOfADeadReplica: a replica that stops renewing its
// lease (killed) releases its locks, and its intent is there for the next.
func TestLeaseReleasesLocksOfADeadReplica(t *testing.T) {
	cluster := etcdproc.StartForTest(t, etcdproc.Options{Members: 1})
	dead, err := etcd.Open(context.Background(), etcd.Options{Endpoints: cluster.Endpoints(), Prefix: "/lease", LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := dead.Lock(t.Context(), "pkg")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetIntent(t.Context(), []byte("half done")); err != nil {
		t.Fatal(err)
	}
	dead.Abandon() // like kill -9: no unlock, no lease revoke
	alive := open(t, cluster.Endpoints(), "/lease")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	h2, err := alive.Lock(ctx, "pkg")
	if err != nil {
		t.Fatalf("the lock of a dead replica was not released: %v", err)
	}
	defer h2.Unlock()
	if got, _ := h2.Intent(ctx); string(got) != "half done" {
		t.Fatalf("intent of the dead holder: %q", got)
	}
	t.Logf("lock released %v after the holder died", time.Since(start).Round(10*time.Millisecond))
	// The dead holder's late publish is refused: it no longer holds the lock.
	if _, err := h.Publish(context.Background(), []coord.Record{{Key: "x", Value: []byte("late")}}); err == nil {
		t.Fatal("a replica that lost its lock published")
	}
}

// TestWritesFailFastWithoutEtcd: with etcd gone, taking a lock fails
// within the timeout, naming etcd.
func TestWritesFailFastWithoutEtcd(t *testing.T) {
	cluster := etcdproc.StartForTest(t, etcdproc.Options{Members: 1})
	c := open(t, cluster.Endpoints(), "/down")
	cluster.Member(0).Kill()
	start := time.Now()
	_, err := c.Lock(t.Context(), "pkg")
	if err == nil || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("Lock without etcd = %v; want an error naming etcd", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("Lock took %v to fail", d)
	}
}

// TestFeedAcrossReplicas: a change published by one replica reaches the
// other's feed, and a feed that cannot resume says it was compacted.
func TestFeedAcrossReplicas(t *testing.T) {
	cluster := etcdproc.StartForTest(t, etcdproc.Options{Members: 3})
	a, b := open(t, cluster.Endpoints()[:1], "/feed"), open(t, cluster.Endpoints()[1:], "/feed")
	seq, _, err := b.Load(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.Watch(t.Context(), seq)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := a.Lock(t.Context(), "p")
	s, err := h.Publish(t.Context(), []coord.Record{{Key: "t/p/v1", Value: []byte("d")}})
	h.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case batch := <-f.C():
		if batch.Seq != s || len(batch.Records) != 1 || batch.Records[0].Key != "t/p/v1" {
			t.Fatalf("batch %+v, want %d with t/p/v1", batch, s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica did not see the change within 5s")
	}
	if err := a.Compact(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	old, err := b.Watch(t.Context(), seq)
	if err != nil {
		t.Fatal(err)
	}
	for range old.C() {
	}
	if !errors.Is(old.Err(), etcd.ErrCompacted) {
		t.Fatalf("watch from compacted history ended with %v", old.Err())
	}
}
