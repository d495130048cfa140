package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

type repoKey struct{ namespace, name string }

func (k repoKey) tag() string { return k.namespace + "." + k.name }

// loadRepositories fills e.repos from the config store once (and after a rescan).
func (e *Engine) loadRepositories(ctx context.Context) error {
	e.mu.RLock()
	loaded, gen := e.loaded, e.configGen
	e.mu.RUnlock()
	if loaded {
		return nil
	}
	objs, err := e.config.list(ctx, e.cache)
	if err != nil {
		return err
	}
	fresh := map[repoKey]*repoState{}
	for _, o := range objs {
		var r configapi.Repository
		if err := json.Unmarshal(o.data, &r); err != nil {
			e.log.Warn("skipping unreadable Repository object", "tag", o.tag, "err", err)
			continue
		}
		rs, err := e.newRepoState(r, o.desc)
		if err != nil {
			e.log.Warn("skipping Repository object", "tag", o.tag, "err", err)
			continue
		}
		fresh[repoKey{r.Namespace, r.Name}] = rs
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.configGen != gen {
		// A Repository was written while we read: what we read may be older
		// than e.repos. Keep e.repos; the next call reads again.
		return nil
	}
	// The first load finds what was there; later ones (after a change seen
	// through /v2/ or a rescan) report differences to watchers.
	report := e.everLoaded
	for k, rs := range fresh {
		old, ok := e.repos[k]
		switch {
		case ok && old.desc.Digest == rs.desc.Digest:
			fresh[k] = old // keep the package index of unchanged repositories
		case report && ok:
			e.emitRepository("MODIFIED", rs)
		case report:
			rs.known = true
			e.emitRepository("ADDED", rs)
		}
	}
	if report {
		for k, old := range e.repos {
			if _, ok := fresh[k]; !ok {
				e.emitRepository("DELETED", old)
			}
		}
	}
	e.repos = fresh
	e.loaded = true
	e.everLoaded = true
	return nil
}

func (e *Engine) emitRepository(typ string, rs *repoState) {
	r := rs.object()
	e.hub.emit(typ, configapi.RepositoryKind, &r)
}

// repository returns the state of one registered repository.
func (e *Engine) repository(ctx context.Context, namespace, name string) (*repoState, error) {
	if err := e.loadRepositories(ctx); err != nil {
		return nil, err
	}
	e.mu.RLock()
	rs, ok := e.repos[repoKey{namespace, name}]
	e.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: repository %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	return rs, nil
}

// repositories returns the states of a namespace ("" = all), sorted.
func (e *Engine) repositories(ctx context.Context, namespace string) ([]*repoState, error) {
	if err := e.loadRepositories(ctx); err != nil {
		return nil, err
	}
	e.mu.RLock()
	out := make([]*repoState, 0, len(e.repos))
	for k, rs := range e.repos {
		if namespace == "" || k.namespace == namespace {
			out = append(out, rs)
		}
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].obj, out[j].obj
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
}

// ListRepositories implements Service.
func (e *Engine) ListRepositories(ctx context.Context, namespace string) ([]configapi.Repository, error) {
	states, err := e.repositories(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]configapi.Repository, 0, len(states))
	for _, rs := range states {
		e.check(ctx, rs)
		out = append(out, rs.object())
	}
	return out, nil
}

// check asks a repository's registry whether it answers, once, so that Ready
// says something before the first listing of its packages.
func (e *Engine) check(ctx context.Context, rs *repoState) {
	rs.mu.Lock()
	done := rs.checked || rs.lastErr != nil
	rs.mu.Unlock()
	if done {
		return
	}
	var err error
	if p, ok := rs.store.(store.Pinger); ok && !rs.embedded {
		err = p.Ping(ctx)
	}
	rs.mu.Lock()
	rs.checked, rs.lastErr = err == nil, err
	rs.mu.Unlock()
}

// GetRepository implements Service.
func (e *Engine) GetRepository(ctx context.Context, namespace, name string) (*configapi.Repository, error) {
	rs, err := e.repository(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	e.check(ctx, rs)
	r := rs.object()
	return &r, nil
}

// CreateRepository implements Service.
func (e *Engine) CreateRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	if err := validateRepository(r); err != nil {
		return nil, err
	}
	if v := e.opts.ValidateRepository; v != nil {
		if err := v(r); err != nil {
			return nil, err
		}
	}
	k := repoKey{r.Namespace, r.Name}
	defer e.lockPackage("repo/" + k.tag())()
	if _, err := e.repository(ctx, r.Namespace, r.Name); err == nil {
		return nil, fmt.Errorf("%w: repository %q in namespace %q", errdef.ErrAlreadyExists, r.Name, r.Namespace)
	} else if !errors.Is(err, errdef.ErrNotFound) {
		return nil, err
	}
	stored := r.DeepCopy()
	stored.UID = uuid.NewUUID()
	stored.CreationTimestamp = metav1.NewTime(e.opts.Now().UTC().Truncate(1e9))
	stored.Generation = 1
	return e.saveRepository(ctx, stored)
}

// UpdateRepository implements Service.
func (e *Engine) UpdateRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	if err := validateRepository(r); err != nil {
		return nil, err
	}
	if v := e.opts.ValidateRepository; v != nil {
		if err := v(r); err != nil {
			return nil, err
		}
	}
	defer e.lockPackage("repo/" + repoKey{r.Namespace, r.Name}.tag())()
	cur, err := e.repository(ctx, r.Namespace, r.Name)
	if err != nil {
		return nil, err
	}
	if err := checkResourceVersion(r.ResourceVersion, cur.object().ResourceVersion); err != nil {
		return nil, err
	}
	stored := r.DeepCopy()
	stored.UID = cur.obj.UID
	stored.CreationTimestamp = cur.obj.CreationTimestamp
	stored.Generation = cur.obj.Generation
	if !equalJSON(stored.Spec, cur.obj.Spec) {
		stored.Generation++
	}
	return e.saveRepository(ctx, stored)
}

// DeleteRepository implements Service. The packages stay in the registry:
// registering the repository again finds them.
func (e *Engine) DeleteRepository(ctx context.Context, namespace, name string) error {
	defer e.lockPackage("repo/" + repoKey{namespace, name}.tag())()
	cur, err := e.repository(ctx, namespace, name)
	if err != nil {
		return err
	}
	if err := e.config.delete(ctx, cur.desc); err != nil {
		return fmt.Errorf("delete repository %q: %w", name, err)
	}
	e.mu.Lock()
	delete(e.repos, repoKey{namespace, name})
	e.configGen++
	e.mu.Unlock()
	e.emitRepository("DELETED", cur)
	// Its revisions leave the API (they stay in the registry).
	cur.mu.Lock()
	pkgs := make([]*pkgState, 0, len(cur.packages))
	for _, p := range cur.packages {
		pkgs = append(pkgs, p)
	}
	cur.mu.Unlock()
	for _, p := range pkgs {
		e.emitPackageChanges(cur, p, &pkgState{path: p.path})
	}
	return nil
}

func (e *Engine) saveRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	r.ResourceVersion = ""
	r.Status = configapi.RepositoryStatus{}
	r.TypeMeta = metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	k := repoKey{r.Namespace, r.Name}
	desc, err := e.config.put(ctx, e.cache, k.tag(), format.RepositoryType, format.RepositoryConfigType, data)
	if err != nil {
		return nil, fmt.Errorf("store repository %q: %w", r.Name, err)
	}
	rs, err := e.newRepoState(*r, desc)
	if err != nil {
		return nil, err
	}
	rs.known = true // packages found under a new repository are news to watchers
	e.mu.Lock()
	old, existed := e.repos[k]
	if existed && old.sameLocation(rs) {
		rs.adoptIndex(old) // same packages: keep the index and send no events
	}
	e.repos[k] = rs
	e.configGen++
	e.mu.Unlock()
	e.check(ctx, rs)
	if existed {
		e.emitRepository("MODIFIED", rs)
	} else {
		e.emitRepository("ADDED", rs)
	}
	out := rs.object()
	return &out, nil
}

func (e *Engine) newRepoState(r configapi.Repository, desc ocispec.Descriptor) (*repoState, error) {
	rs := &repoState{obj: r, desc: desc, deployment: r.Spec.Deployment}
	var host, creds string
	var plain bool
	if r.Spec.OCI != nil && r.Spec.OCI.Registry != "" {
		host, rs.prefix, _ = strings.Cut(r.Spec.OCI.Registry, "/")
		plain = r.Spec.OCI.PlainHTTP
		rs.host = host
		if r.Spec.OCI.SecretRef != nil {
			creds = r.Spec.OCI.SecretRef.Name
		}
	} else {
		rs.embedded = true
		rs.host = e.opts.EmbeddedAddress
		rs.prefix = r.Namespace + "/" + r.Name
	}
	s, err := e.storeFor(host, plain, r.Namespace, creds)
	if err != nil {
		return nil, err
	}
	rs.store = s
	rs.reset()
	return rs, nil
}

// validateRepository checks a Repository and fills its defaults.
func validateRepository(r *configapi.Repository) error {
	if err := names.ValidateNamespace(r.Namespace); err != nil {
		return fmt.Errorf("metadata.namespace: %w", err)
	}
	if err := names.ValidateRepositoryName(r.Name); err != nil {
		return fmt.Errorf("metadata.name: %w", err)
	}
	switch r.Spec.Type {
	case "":
		r.Spec.Type = configapi.RepositoryTypeOCI
	case configapi.RepositoryTypeOCI:
	default:
		return fmt.Errorf("%w: spec.type: %q is not supported; use %q", errdef.ErrInvalid, r.Spec.Type, configapi.RepositoryTypeOCI)
	}
	if r.Spec.OCI == nil || r.Spec.OCI.Registry == "" {
		if r.Spec.OCI != nil && r.Spec.OCI.PlainHTTP {
			return fmt.Errorf("%w: spec.oci.plainHTTP is set without spec.oci.registry", errdef.ErrInvalid)
		}
		return nil
	}
	host, prefix, _ := strings.Cut(r.Spec.OCI.Registry, "/")
	if host == "" || strings.ContainsAny(host, " \t/@") || strings.Contains(r.Spec.OCI.Registry, "://") {
		return fmt.Errorf("%w: spec.oci.registry: %q is not host[:port]/path", errdef.ErrInvalid, r.Spec.OCI.Registry)
	}
	if prefix != "" && !validOCIPath(prefix) {
		return fmt.Errorf("%w: spec.oci.registry: path %q is not a valid OCI repository path (lowercase letters, digits, separators . _ __ - and /)", errdef.ErrInvalid, prefix)
	}
	return nil
}

func validOCIPath(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return false
		}
		for i, c := range seg {
			alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !alnum && (i == 0 || i == len(seg)-1 || !strings.ContainsRune("._-", c)) {
				return false
			}
		}
	}
	return true
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func checkResourceVersion(given, current string) error {
	if given != "" && given != current {
		return fmt.Errorf("%w: the object has been modified (resourceVersion %q, current %q); read it again and apply your change to the latest version", errdef.ErrConflict, given, current)
	}
	return nil
}

// rvOf makes a resourceVersion from manifest digests: it changes exactly when
// the stored artifact does, and every replica computes the same one.
func rvOf(descs ...ocispec.Descriptor) string {
	var b strings.Builder
	for _, d := range descs {
		if d.Digest == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('-')
		}
		enc := d.Digest.Encoded()
		if len(enc) > 16 {
			enc = enc[:16]
		}
		b.WriteString(enc)
	}
	return b.String()
}
