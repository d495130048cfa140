package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Engine implements Service over OCI stores.
type Engine struct {
	opts   Options
	log    *slog.Logger
	config *objectStore
	cache  *cache
	hub    *hub

	mu         sync.RWMutex
	repos      map[repoKey]*repoState // registered repositories, loaded lazily
	loaded     bool                   // repos holds every Repository object
	everLoaded bool                   // repos was loaded once: later loads send events
	configGen  uint64                 // bumped by every change of Repository objects
	remotes    map[string]store.Store

	locks    sync.Map // package key -> *sync.Mutex; serialises writes to one package
	lineages sync.Map // namespace -> *sync.RWMutex; see lineage
	blobs    sync.Map // package key + "@" + digest of blobs known to be stored
	// newPackages holds the keys of packages being created in a repository
	// that did not exist (set and cleared under the package lock).
	newPackages sync.Map
}

var _ Service = (*Engine)(nil)

// New returns an Engine. It reads nothing until first used.
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
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{
		opts:    opts,
		log:     opts.Logger,
		config:  &objectStore{store: opts.Config, repo: ConfigRepository},
		cache:   newCache(),
		hub:     newHub(),
		repos:   map[repoKey]*repoState{},
		remotes: map[string]store.Store{},
	}
	if n, ok := opts.Embedded.(store.Notifier); ok {
		n.Notify(e.embeddedChanged)
	}
	return e, nil
}

// Ready reports whether the engine can reach its configuration store.
func (e *Engine) Ready(ctx context.Context) error {
	_, err := e.ListRepositories(ctx, "")
	return err
}

// Rescan lists every registry again and reloads every package, so packages
// pushed or changed by others appear (with watch events).
func (e *Engine) Rescan(ctx context.Context) error {
	e.mu.Lock()
	e.loaded = false
	for _, rs := range e.repos {
		rs.invalidateAll()
	}
	e.mu.Unlock()
	_, err := e.ListPackageRevisions(ctx, "")
	return err
}

// RefreshRepository lists one repository's registry again, on demand.
func (e *Engine) RefreshRepository(ctx context.Context, namespace, name string) (*configapi.Repository, error) {
	rs, err := e.repository(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	rs.invalidateAll()
	_, err = e.allPackages(ctx, rs)
	r := rs.object()
	if err != nil {
		return &r, fmt.Errorf("refresh repository %q: %w", name, err)
	}
	return &r, nil
}

// embeddedChanged is called by the embedded store after any change to an OCI
// repository, including pushes through /v2/; it marks the package stale.
func (e *Engine) embeddedChanged(path string) {
	if path == ConfigRepository {
		e.mu.Lock()
		e.loaded = false
		e.configGen++
		e.mu.Unlock()
		return
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, rs := range e.repos {
		if rs.embedded && strings.HasPrefix(path, rs.prefix+"/") {
			rs.invalidate(path)
			if e.hub.watching() {
				// Someone watches: load now so the change is sent at once.
				go func() {
					if _, err := e.loadPackage(context.Background(), rs, path); err != nil {
						e.log.Debug("reloading changed package", "path", path, "err", err)
					}
				}()
			}
		}
	}
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

// lineage returns the lock of a namespace's upstream links: creates that
// record an upstream share it, deletes take it alone.
func (e *Engine) lineage(namespace string) *sync.RWMutex {
	l, _ := e.lineages.LoadOrStore(namespace, &sync.RWMutex{})
	return l.(*sync.RWMutex)
}

// lockPackage serialises writes to one package (OCI repository).
func (e *Engine) lockPackage(key string) func() {
	m, _ := e.locks.LoadOrStore(key, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
