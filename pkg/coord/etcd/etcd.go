// Package etcd is the coordinator of several pkgserver replicas: locks on
// etcd leases, etcd's revision as the sequence of changes, and an etcd watch
// as the change feed that reaches every replica. etcd holds coordination data
// only: which tag of which package points where, and intents of writes in
// flight; the registry keeps the packages.
//
// Keys, under the prefix:
//
//	state/<record key>   the shared state (coord.Record keys)
//	state/~head          touched by every publish: its revision is the last change
//	locks/<key>/<lease>  lock waiters (etcd's concurrency.Mutex)
//	intents/<key>        what a holder is about to do
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"pkgserver.dev/pkgserver/pkg/coord"
)

const (
	stateDir  = "state/"
	headKey   = stateDir + "~head"
	locksDir  = "locks/"
	intentDir = "intents/"
	// maxOps keeps a transaction under etcd's default --max-txn-ops (128).
	maxOps = 100
	// pageSize bounds one range read of Load.
	pageSize = 5000
)

// Options configure a Coordinator.
type Options struct {
	// Endpoints are the etcd client URLs (--etcd-servers).
	Endpoints []string
	// Prefix is put before every key (--etcd-prefix); it ends in "/".
	Prefix string
	// TLS, if set, is used to reach etcd (--etcd-cafile, --etcd-certfile, --etcd-keyfile).
	TLS *tls.Config
	// LeaseTTL is how long locks outlive a replica that stopped renewing
	// them; default 10s.
	LeaseTTL time.Duration
	// Timeout bounds each etcd call a write waits for, so a write fails fast
	// while etcd is unreachable; default 5s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Coordinator implements coord.Coordinator over etcd.
type Coordinator struct {
	c    *clientv3.Client
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	session *concurrency.Session
	local   map[string]chan struct{} // one holder per key in this process
}

var (
	_ coord.Coordinator = (*Coordinator)(nil)
	_ coord.Historian   = (*Coordinator)(nil)
)

// Open connects to etcd. It fails when no endpoint answers within Timeout.
func Open(ctx context.Context, opts Options) (*Coordinator, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: opts.Endpoints, TLS: opts.TLS, DialTimeout: opts.Timeout,
		Context: context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if _, err := c.Get(cctx, opts.Prefix+headKey); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd at %s does not answer: %w", strings.Join(opts.Endpoints, ","), err)
	}
	return &Coordinator{c: c, opts: opts, log: opts.Logger, local: map[string]chan struct{}{}}, nil
}

// Close releases the session (and with it every lock) and the client.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	s := c.session
	c.session = nil
	c.mu.Unlock()
	if s != nil {
		s.Close()
	}
	return c.c.Close()
}

// unavailable says the operation failed because etcd did.
func (c *Coordinator) unavailable(op string, err error) error {
	return fmt.Errorf("etcd (%s) %s: %w", strings.Join(c.opts.Endpoints, ","), op, err)
}

// sessionFor returns the live session, making a new one after the last expired.
func (c *Coordinator) sessionFor(ctx context.Context) (*concurrency.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != nil {
		select {
		case <-c.session.Done():
			c.session = nil
		default:
			return c.session, nil
		}
	}
	// The grant within ctx (fail fast); the lease then lives until Close.
	ttl := int64((c.opts.LeaseTTL + time.Second - 1) / time.Second)
	lease, err := c.c.Grant(ctx, ttl)
	if err != nil {
		return nil, err
	}
	s, err := concurrency.NewSession(c.c, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(ttl)), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, err
	}
	c.session = s
	return s, nil
}

// Lock implements coord.Coordinator: first the process's own lock of key,
// then etcd's, on a lease that ends when this replica stops renewing it.
func (c *Coordinator) Lock(ctx context.Context, key string) (coord.Held, error) {
	c.mu.Lock()
	ch, ok := c.local[key]
	if !ok {
		ch = make(chan struct{}, 1)
		c.local[key] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-ch }
	tctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	s, err := c.sessionFor(tctx)
	if err != nil {
		cancel()
		release()
		return nil, c.unavailable("lock "+key, err)
	}
	m := concurrency.NewMutex(s, c.opts.Prefix+locksDir+key)
	// One call within the timeout says whether etcd answers (a write fails
	// fast without it); waiting for another holder may take longer.
	err = m.TryLock(tctx)
	cancel()
	if errors.Is(err, concurrency.ErrLocked) {
		err = m.Lock(ctx)
	}
	if err != nil {
		release()
		return nil, c.unavailable("lock "+key, err)
	}
	// Every earlier holder's publish touched ~head before it unlocked.
	tctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.c.Get(tctx, c.opts.Prefix+headKey)
	if err != nil {
		m.Unlock(context.WithoutCancel(ctx))
		release()
		return nil, c.unavailable("read the head", err)
	}
	var seq uint64
	if len(resp.Kvs) > 0 {
		seq = uint64(resp.Kvs[0].ModRevision)
	}
	return &held{c: c, key: key, m: m, seq: seq, release: release}, nil
}

type held struct {
	c       *Coordinator
	key     string
	m       *concurrency.Mutex
	seq     uint64
	release func()
	once    sync.Once
}

func (h *held) Seq() uint64 { return h.seq }

func (h *held) intentKey() string { return h.c.opts.Prefix + intentDir + h.key }

func (h *held) Intent(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.c.opts.Timeout)
	defer cancel()
	resp, err := h.c.c.Get(ctx, h.intentKey())
	if err != nil {
		return nil, h.c.unavailable("read intent", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

func (h *held) SetIntent(ctx context.Context, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.c.opts.Timeout)
	defer cancel()
	resp, err := h.c.c.Txn(ctx).If(h.m.IsOwner()).Then(clientv3.OpPut(h.intentKey(), string(data))).Commit()
	if err != nil {
		return h.c.unavailable("record intent", err)
	}
	if !resp.Succeeded {
		return coord.ErrLockLost
	}
	return nil
}

// Publish implements coord.Held: the records, the head and the end of the
// intent in one transaction that holds only while the lock does. A change
// of more records than one transaction takes goes out in several, in order;
// the intent is cleared with the last.
func (h *held) Publish(ctx context.Context, recs []coord.Record) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, h.c.opts.Timeout)
	defer cancel()
	p := h.c.opts.Prefix
	var rev int64
	for first := true; first || len(recs) > 0; first = false {
		n := min(len(recs), maxOps)
		ops := make([]clientv3.Op, 0, n+2)
		for _, r := range recs[:n] {
			if r.Value == nil {
				ops = append(ops, clientv3.OpDelete(p+stateDir+r.Key))
			} else {
				ops = append(ops, clientv3.OpPut(p+stateDir+r.Key, string(r.Value)))
			}
		}
		recs = recs[n:]
		if n > 0 {
			ops = append(ops, clientv3.OpPut(p+headKey, ""))
		}
		if len(recs) == 0 {
			ops = append(ops, clientv3.OpDelete(h.intentKey()))
		}
		resp, err := h.c.c.Txn(ctx).If(h.m.IsOwner()).Then(ops...).Commit()
		if err != nil {
			return 0, h.c.unavailable("publish", err)
		}
		if !resp.Succeeded {
			return 0, coord.ErrLockLost
		}
		if n > 0 {
			rev = resp.Header.Revision
		}
	}
	return uint64(rev), nil
}

func (h *held) Unlock() {
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.c.opts.Timeout)
		defer cancel()
		if err := h.m.Unlock(ctx); err != nil {
			// The lease ends it when etcd is back or the TTL passes.
			h.c.log.Warn("releasing an etcd lock", "key", h.key, "err", err)
		}
		h.release()
	})
}

// Load implements coord.Coordinator, page by page at one revision.
func (c *Coordinator) Load(ctx context.Context, prefix string) (uint64, []coord.Record, error) {
	base := c.opts.Prefix + stateDir
	start, end := base+prefix, clientv3.GetPrefixRangeEnd(base+prefix)
	var rev int64
	var out []coord.Record
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := c.c.Get(ctx, start, opts...)
		if err != nil {
			return 0, nil, c.unavailable("load", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			k := strings.TrimPrefix(string(kv.Key), base)
			if k != "~head" {
				out = append(out, coord.Record{Key: k, Value: kv.Value})
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return uint64(rev), out, nil
}

// Current implements coord.Coordinator: the revision of the last change.
func (c *Coordinator) Current(ctx context.Context) (uint64, error) {
	resp, err := c.c.Get(ctx, c.opts.Prefix+headKey)
	if err != nil {
		return 0, c.unavailable("read the head", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return uint64(resp.Kvs[0].ModRevision), nil
}

// Intents implements coord.Coordinator.
func (c *Coordinator) Intents(ctx context.Context) ([]string, error) {
	resp, err := c.c.Get(ctx, c.opts.Prefix+intentDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, c.unavailable("list intents", err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), c.opts.Prefix+intentDir))
	}
	return out, nil
}

// ErrCompacted is coord.ErrCompacted: etcd has compacted the history.
var ErrCompacted = coord.ErrCompacted

// FullHistory implements coord.Historian: etcd answers a read at its first
// revision unless that history was compacted.
func (c *Coordinator) FullHistory(ctx context.Context) (bool, error) {
	_, err := c.c.Get(ctx, c.opts.Prefix+headKey, clientv3.WithRev(1))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, rpctypes.ErrCompacted) {
		return false, nil
	}
	return false, c.unavailable("read the history", err)
}

// Watch implements coord.Coordinator: an etcd watch on the state, each
// revision one batch.
func (c *Coordinator) Watch(ctx context.Context, after uint64) (coord.Feed, error) {
	f := &feed{ch: make(chan coord.Batch, 64)}
	base := c.opts.Prefix + stateDir
	wch := c.c.Watch(clientv3.WithRequireLeader(ctx), base, clientv3.WithPrefix(), clientv3.WithRev(int64(after)+1))
	go func() {
		defer close(f.ch)
		for resp := range wch {
			if resp.CompactRevision != 0 {
				f.err = fmt.Errorf("%w: wanted revision %d, history starts at %d", ErrCompacted, after+1, resp.CompactRevision)
				return
			}
			if err := resp.Err(); err != nil {
				f.err = c.unavailable("watch", err)
				return
			}
			var b coord.Batch
			flush := func() bool {
				if b.Seq == 0 {
					return true
				}
				select {
				case f.ch <- b:
				case <-ctx.Done():
					return false
				}
				b = coord.Batch{}
				return true
			}
			for _, ev := range resp.Events {
				rev := uint64(ev.Kv.ModRevision)
				if rev != b.Seq && !flush() {
					return
				}
				b.Seq = rev
				k := strings.TrimPrefix(string(ev.Kv.Key), base)
				if k == "~head" {
					continue
				}
				r := coord.Record{Key: k}
				if ev.Type == clientv3.EventTypePut {
					r.Value = ev.Kv.Value
					if r.Value == nil {
						r.Value = []byte{}
					}
				}
				b.Records = append(b.Records, r)
				after = rev
			}
			if !flush() {
				return
			}
		}
		if ctx.Err() == nil && f.err == nil {
			f.err = c.unavailable("watch", errors.New("the watch ended"))
		}
	}()
	return f, nil
}

type feed struct {
	ch  chan coord.Batch
	err error
}

func (f *feed) C() <-chan coord.Batch { return f.ch }
func (f *feed) Err() error            { return f.err }
