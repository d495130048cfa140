package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/coord/local"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/store"
)

// StoreFactory opens a remote registry `host[:port]` for a Repository of
// namespace whose spec.oci.secretRef names credentials ("" for none).
type StoreFactory func(host string, plainHTTP bool, namespace, credentials string) (store.Store, error)

// Options configure an Engine.
type Options struct {
	// Embedded is the embedded store (the default home of repositories and of
	// Repository objects). Required.
	Embedded store.Store
	// EmbeddedAddress is how clients reach the embedded registry, `host:port`;
	// it starts status.oci.reference of embedded revisions.
	EmbeddedAddress string
	// Remote opens remote registries; nil refuses repositories that name one.
	Remote StoreFactory
	// ValidateRepository, when set, vets a Repository before it is stored
	// (allowed registries, credentials); its error is returned as is.
	ValidateRepository func(*configapi.Repository) error
	// Config is where Repository objects live; nil means Embedded.
	Config store.Store
	// ConfigRepository is the OCI repository of Config that holds them;
	// empty means ConfigRepository.
	ConfigRepository string
	// Shared says several replicas share the registries through the
	// coordinator: a Repository must then name a registry they all reach.
	Shared bool
	// ReplicaID names this replica in the writer leases it keeps in remote
	// registries without a shared coordinator; kept in the data directory,
	// so a restart takes its own lease back at once. Empty: a random one.
	ReplicaID string
	// Coordinator orders changes and serialises writers; nil means an
	// in-memory local coordinator (nothing survives a restart).
	Coordinator coord.Coordinator
	// WatchWindow is how many events a watch can resume over; 0 means
	// DefaultWatchWindow.
	WatchWindow int
	// StateDir, if set, keeps a checkpoint of the index, so a restart keeps
	// resourceVersions and needs no full scan before serving.
	StateDir string
	// CheckpointInterval is how often the checkpoint is written while
	// things change; 0 means a minute.
	CheckpointInterval time.Duration
	// Package bounds the packages the engine writes and reads (files,
	// bytes, YAML); the zero value means krm.DefaultLimits.
	Package krm.Limits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Engine implements Service over OCI stores. Every change of what it serves
// goes through one feed (coord.Coordinator): its own writes, writes through
// /v2/, rescans and other replicas alike; the index applies the feed in order.
type Engine struct {
	opts  Options
	log   *slog.Logger
	coord coord.Coordinator
	// seed is what a checkpoint left by a crash says of revision manifests,
	// by digest (content never changes): the scan after a crash reads only
	// the manifests it does not know. Nil once the start is done.
	seed   atomic.Pointer[map[digest.Digest]*revMeta]
	config *objectStore
	cache  *cache
	idx    *index

	mu      sync.Mutex
	remotes map[string]store.Store

	ready    chan struct{} // closed once Start has loaded everything
	startErr error
	stop     context.CancelFunc
	done     chan struct{}

	blobs  knownBlobs // blobs known to be stored: package + "@" + digest, and store + "@" + digest -> a path that has it
	leases *leases
}

var _ Service = (*Engine)(nil)

// New returns an Engine. Call Start before serving.
func New(opts Options) (*Engine, error) {
	if opts.Embedded == nil {
		return nil, fmt.Errorf("engine: an embedded store is required")
	}
	if opts.Config == nil {
		opts.Config = opts.Embedded
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Package.MaxFiles == 0 {
		opts.Package = krm.DefaultLimits()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Coordinator == nil {
		c, err := local.Open("")
		if err != nil {
			return nil, err
		}
		opts.Coordinator = c
	}
	return &Engine{
		opts:    opts,
		log:     opts.Logger,
		coord:   opts.Coordinator,
		config:  &objectStore{store: opts.Config, repo: cmp.Or(opts.ConfigRepository, ConfigRepository)},
		cache:   newCache(opts.Package),
		remotes: map[string]store.Store{},
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		leases:  newLeases(opts.ReplicaID),
	}, nil
}

// Start loads the shared state, follows the feed, finishes writes a crash
// interrupted, and scans every registry once. It returns when the engine is
// ready to serve; the feed is followed until Close.
func (e *Engine) Start(ctx context.Context) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = stop
	feed, clean, err := e.startIndex(ctx, runCtx)
	if err != nil {
		stop()
		e.stop = nil
		return err
	}
	if e.opts.StateDir != "" {
		if err := setDirty(e.opts.StateDir, true); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	go e.follow(runCtx, feed)
	if clean {
		// The checkpoint is what the registries held at the last clean
		// stop: serve it now, and check the registries in the background.
		if err := e.syncRepositories(ctx); err != nil {
			return fmt.Errorf("read Repository objects: %w", err)
		}
		if err := e.recoverAll(ctx); err != nil {
			return err
		}
		close(e.ready)
		go e.scanAll(runCtx)
	} else {
		err = e.load(ctx)
		e.seed.Store(nil)
		e.startErr = err
		close(e.ready)
		if err != nil {
			return err
		}
	}
	if e.opts.StateDir != "" {
		go e.checkpointLoop(runCtx)
	}
	go e.renewLeases(runCtx)
	return nil
}

// startIndex builds the index and returns the feed that follows it. A
// coordinator that keeps the whole history is replayed from the start, so
// this replica's objects and resourceVersions are every other's; otherwise
// the index comes from the checkpoint (if any) and the current state.
// clean reports that the index is already what the registries hold.
func (e *Engine) startIndex(ctx, runCtx context.Context) (coord.Feed, bool, error) {
	if h, ok := e.coord.(coord.Historian); ok {
		full, err := h.FullHistory(ctx)
		if err != nil {
			return nil, false, err
		}
		if full {
			e.idx = newIndex(e.opts.WatchWindow, 0, e.log)
			feed, err := e.coord.Watch(runCtx, 0)
			if err != nil {
				return nil, false, fmt.Errorf("follow the change feed: %w", err)
			}
			cur, err := e.coord.Current(ctx)
			if err != nil {
				return nil, false, err
			}
			// Apply the history here, before serving.
			for e.idx.current() < cur {
				select {
				case b, ok := <-feed.C():
					if !ok {
						return nil, false, fmt.Errorf("replay the change feed: %w", feed.Err())
					}
					e.apply(ctx, b)
				case <-ctx.Done():
					return nil, false, ctx.Err()
				}
			}
			return feed, false, nil
		}
		e.log.Warn("the coordinator's history is compacted: this replica starts from the current state, and its resourceVersions of objects unchanged since may differ from other replicas'")
	}
	seq, recs, err := e.coord.Load(ctx, "")
	if err != nil {
		return nil, false, fmt.Errorf("load coordination state: %w", err)
	}
	cp, written, clean := e.readCheckpoint(seq)
	if cp != nil {
		// Whether the data directory changed while the server was stopped
		// is checked while the checkpoint is restored: one reads every
		// repository's metadata, the other the checkpoint, at once.
		changed := make(chan bool, 1)
		if d, ok := e.opts.Embedded.(store.ChangeDetector); ok && clean {
			go func() {
				c, err := d.ChangedSince(ctx, written)
				if c || err != nil {
					e.log.Info("the data directory changed while pkgserver was stopped: reading every registry before serving", "err", err)
				}
				changed <- c || err != nil
			}()
		} else {
			changed <- false
		}
		e.idx = newIndex(e.opts.WatchWindow, cp.seq, e.log)
		err := e.idx.restore(cp, e.newRepoState)
		if <-changed {
			clean = false // still the base: what did not change keeps its resourceVersion
		}
		if err != nil {
			e.log.Warn("ignoring the checkpoint; reading every registry instead", "err", err)
			cp, clean = nil, false
		}
	}
	if cp == nil {
		// Watches can resume from what this replica has seen itself, so
		// the window starts after the loaded state.
		e.idx = newIndex(e.opts.WatchWindow, seq, e.log)
	}
	e.apply(ctx, coord.Batch{Seq: seq, Records: recs})
	feed, err := e.coord.Watch(runCtx, seq)
	if err != nil {
		return nil, false, fmt.Errorf("follow the change feed: %w", err)
	}
	return feed, clean, nil
}

// seeded returns what the seed says of manifest d, if anything.
func (e *Engine) seeded(d digest.Digest) *revMeta {
	if seed := e.seed.Load(); seed != nil {
		return (*seed)[d]
	}
	return nil
}

// readCheckpoint reads the checkpoint of StateDir, if any is usable.
func (e *Engine) readCheckpoint(seq uint64) (cp *checkpoint, written time.Time, clean bool) {
	if e.opts.StateDir == "" {
		return nil, written, false
	}
	cp, written, clean, err := readCheckpoint(e.opts.StateDir)
	switch {
	case err != nil:
		e.log.Warn("ignoring the checkpoint; reading every registry instead", "err", err)
		return nil, written, false
	case cp == nil:
		return nil, written, false
	case cp.seq > seq:
		// The sequence went back (its state was lost): the checkpoint's
		// resourceVersions could be handed out again.
		e.log.Warn("ignoring a checkpoint newer than the coordination state; reading every registry instead", "checkpoint", cp.seq, "sequence", seq)
		return nil, written, false
	}
	if !clean {
		// Objects may have changed after it was written and changed back:
		// their resourceVersions in it are older than ones clients saw. What
		// it says of manifests is still true, and spares reading them.
		e.log.Info("the last run did not stop cleanly: reading every registry before serving, with new resourceVersions")
		if seed, err := cp.manifests(); err == nil {
			e.seed.Store(&seed)
		}
		return nil, written, false
	}
	return cp, written, true
}

// checkpointLoop writes the checkpoint while things change.
func (e *Engine) checkpointLoop(ctx context.Context) {
	every := e.opts.CheckpointInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	written := e.idx.current()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if seq := e.idx.current(); seq != written {
				if err := e.writeCheckpoint(); err != nil {
					e.log.Warn("writing the checkpoint", "err", err)
					continue
				}
				written = seq
			}
		}
	}
}

// writeCheckpoint writes the index down; it holds the index only while
// taking the snapshot, not while encoding and writing it.
func (e *Engine) writeCheckpoint() error {
	e.idx.mu.RLock()
	s := e.idx.snapshotCheckpoint()
	e.idx.mu.RUnlock()
	return writeCheckpoint(e.opts.StateDir, s)
}

// Close stops following the feed and writes a clean checkpoint.
func (e *Engine) Close() error {
	if e.stop == nil {
		return nil
	}
	e.stop()
	<-e.done
	e.stop = nil
	e.releaseLeases()
	if e.opts.StateDir == "" {
		return nil
	}
	if err := e.writeCheckpoint(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return setDirty(e.opts.StateDir, false)
}

// follow applies the feed until ctx ends. When the feed breaks (the
// coordinator is unreachable, or it no longer has the history to resume
// from) it catches up: from the feed where it stood, or from the current
// state when that history is gone, never from a guess.
func (e *Engine) follow(ctx context.Context, feed coord.Feed) {
	defer close(e.done)
	for {
		for b := range feed.C() {
			e.apply(ctx, b)
		}
		if ctx.Err() != nil {
			return
		}
		err := feed.Err()
		e.log.Error("the change feed broke; reads and watches go on from the index, catching up", "err", err)
		delay := time.Second
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 30*time.Second)
			if errors.Is(err, coord.ErrCompacted) {
				if err = e.reload(ctx); err != nil {
					e.log.Warn("catching up with the coordinator", "err", err)
					continue
				}
			}
			if feed, err = e.coord.Watch(ctx, e.idx.current()); err == nil {
				e.log.Info("following the change feed again", "from", e.idx.current())
				break
			}
			e.log.Warn("catching up with the coordinator", "err", err)
		}
	}
}

// reload applies the difference between the coordinator's current state and
// the index, as one batch.
func (e *Engine) reload(ctx context.Context) error {
	seq, recs, err := e.coord.Load(ctx, "")
	if err != nil {
		return err
	}
	e.apply(ctx, coord.Batch{Seq: seq, Records: e.idx.diffState(recs)})
	return nil
}

// apply reads what a batch needs from the registries and applies it.
func (e *Engine) apply(ctx context.Context, b coord.Batch) {
	in := batchInput{
		manifests: map[digest.Digest]*revMeta{},
		repoObjs:  map[digest.Digest]*configapi.Repository{},
		newRepo:   e.newRepoState,
	}
	for _, r := range b.Records {
		if r.Value == nil {
			continue
		}
		d, ok := decodeDesc(r.Value)
		if !ok || d.Digest == "" {
			continue
		}
		if _, ok := parseRepoKey(r.Key); ok {
			if obj, err := e.readRepository(ctx, d); err == nil {
				in.repoObjs[d.Digest] = obj
			} else {
				e.log.Warn("reading a Repository object", "digest", d.Digest, "err", err)
			}
			continue
		}
		k, tag, ok := parseTagKey(r.Key)
		if !ok || !isRevisionTag(tag) || e.idx.knows(k, d.Digest) {
			continue
		}
		if len(d.Data) > 0 {
			if m, err := format.ParseManifest(d.Data); err == nil && digest.FromBytes(d.Data) == d.Digest {
				in.manifests[d.Digest] = infoOf(m)
				continue
			}
		}
		if m := e.seeded(d.Digest); m != nil {
			in.manifests[d.Digest] = m
			continue
		}
		if m, err := e.readManifest(ctx, k, d); err == nil {
			in.manifests[d.Digest] = m
		} else {
			e.log.Warn("reading a revision manifest", "package", k.String(), "tag", tag, "err", err)
		}
	}
	e.idx.apply(b, in)
}

// readManifest reads a manifest of package k, retrying transient failures
// for a while: an index that skipped it would differ from other replicas'.
func (e *Engine) readManifest(ctx context.Context, k pkgKey, d ocispec.Descriptor) (*revMeta, error) {
	s, err := e.storeOf(k)
	if err != nil {
		return nil, err
	}
	repo, err := s.Repository(ctx, k.path)
	if err != nil {
		return nil, err
	}
	delay := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		m, err := e.cache.manifest(ctx, repo, d)
		if err == nil {
			return infoOf(m), nil
		}
		if errors.Is(err, errdef.ErrNotFound) || errors.Is(err, errdef.ErrInvalid) || attempt >= 6 || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(delay)
		delay *= 2
	}
}

// storeOf returns the store to read package k with: that of a registered
// repository holding it (with that repository's credentials).
func (e *Engine) storeOf(k pkgKey) (store.Store, error) {
	if k.store == embeddedStore {
		return e.opts.Embedded, nil
	}
	if rs, ok := e.idx.owner(k.store, k.path); ok {
		return rs.store, nil
	}
	return nil, fmt.Errorf("%w: no registered repository holds %s", errdef.ErrNotFound, k)
}

// wait blocks until Start finished.
func (e *Engine) wait(ctx context.Context) error {
	select {
	case <-e.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: the server is still loading: %v", errdef.ErrUnavailable, ctx.Err())
	}
}

// Ready reports whether the engine has loaded and can reach its configuration store.
func (e *Engine) Ready(ctx context.Context) error {
	select {
	case <-e.ready:
	default:
		return fmt.Errorf("%w: still loading the registries", errdef.ErrUnavailable)
	}
	if e.startErr != nil {
		return e.startErr
	}
	_, err := e.config.repository(ctx)
	return err
}

// storeFor returns the store of a repository spec.
func (e *Engine) storeFor(host string, plainHTTP bool, namespace, credentials string) (store.Store, error) {
	if host == "" {
		return e.opts.Embedded, nil
	}
	if e.opts.Remote == nil {
		return nil, fmt.Errorf("%w: spec.oci.registry: remote registries are not enabled", errdef.ErrInvalid)
	}
	key := fmt.Sprintf("%s|%t", host, plainHTTP)
	if credentials != "" { // a store per credentials entry and namespace: never shared
		key += "|" + namespace + "|" + credentials
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.remotes[key]; ok {
		return s, nil
	}
	s, err := e.opts.Remote(host, plainHTTP, namespace, credentials)
	if err != nil {
		return nil, err
	}
	e.remotes[key] = s
	return s, nil
}
