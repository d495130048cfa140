package etcdproc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"pkgserver.dev/pkgserver/internal/etcdproc"
)

// opTimeout bounds one etcd call; a write without quorum fails with it.
const opTimeout = 5 * time.Second

func newClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: opTimeout,
		Logger: zap.NewNop()}) // the refused write below is expected, not news
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func put(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// get reads key from the member behind the client's only endpoint, without
// going to the leader (serializable): what that member itself holds.
func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, key, clientv3.WithSerializable())
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// leader returns the index of the member that leads the cluster.
func leader(t *testing.T, c *etcdproc.Cluster, cli *clientv3.Client) int {
	t.Helper()
	for i, m := range c.Members() {
		if !m.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err != nil {
			t.Fatalf("status of %s: %v", m.Name, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no running member leads the cluster")
	return -1
}

// TestThreeMembers: writes go through one member's endpoint; the cluster
// keeps writing when its leader stops, refuses writes without quorum, and a
// restarted member catches up with what it missed.
func TestThreeMembers(t *testing.T) {
	t.Parallel()
	c := etcdproc.StartForTest(t, etcdproc.Options{Members: 3})
	if got := len(c.Endpoints()); got != 3 {
		t.Fatalf("%d endpoints, want 3", got)
	}
	put(t, newClient(t, c.Member(0).ClientURL), "/k/first", "1")
	all := newClient(t, c.Endpoints()...)

	// The leader stops; a new one is elected and writes go on.
	stopped := leader(t, c, all)
	if err := c.Member(stopped).Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Member(stopped).Running() {
		t.Fatalf("%s runs after Stop", c.Member(stopped).Name)
	}
	put(t, all, "/k/second", "2")
	if l := leader(t, c, all); l == stopped {
		t.Fatalf("stopped member %d still leads", l)
	}

	// Kill a second member: one of three has no quorum, writes fail.
	killed := (stopped + 1) % 3
	if err := c.Member(killed).Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err := all.Put(ctx, "/k/lost", "x")
	cancel()
	if err == nil {
		t.Fatal("a write succeeded on one member of three")
	}

	// Both come back with their data and catch up.
	for _, i := range []int{killed, stopped} {
		if err := c.Member(i).Restart(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Member(killed).Restart(); !errors.Is(err, etcdproc.ErrRunning) {
		t.Fatalf("restart of a running member: %v, want ErrRunning", err)
	}
	put(t, all, "/k/third", "3")
	for _, m := range c.Members() {
		one := newClient(t, m.ClientURL)
		for key, want := range map[string]string{"/k/first": "1", "/k/second": "2", "/k/third": "3"} {
			deadline := time.Now().Add(opTimeout)
			for get(t, one, key) != want && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // a follower applies a moment after the commit
			}
			if got := get(t, one, key); got != want {
				t.Errorf("%s: %s = %q, want %q", m.Name, key, got, want)
			}
		}
	}
}

// TestOneMember: a single member keeps its data across a kill and restart.
func TestOneMember(t *testing.T) {
	t.Parallel()
	c := etcdproc.StartForTest(t, etcdproc.Options{})
	m := c.Member(0)
	cli := newClient(t, c.Endpoints()...)
	put(t, cli, "/k", "v")
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := m.Kill(); err != nil {
		t.Fatalf("second kill: %v", err)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, cli, "/k"); got != "v" {
		t.Fatalf("after kill and restart: /k = %q, want v", got)
	}
}
