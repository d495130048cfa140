package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
)

func (e *Engine) repoStates(namespace string) []*repoState { return e.idx.repoStates(namespace) }

// repoState returns a registered repository.
func (e *Engine) repoState(namespace, name string) (*repoState, error) {
	e.idx.mu.RLock()
	rs, ok := e.idx.repos[repoKey{namespace, name}]
	e.idx.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: repository %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	return rs, nil
}

// ListRepositories implements Service.
func (e *Engine) ListRepositories(ctx context.Context, namespace string) ([]configapi.Repository, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	x := e.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := []configapi.Repository{}
	for _, rs := range x.sortedRepos() {
		if namespace == "" || rs.key.namespace == namespace {
			out = append(out, x.repoObject(rs, rs.rv))
		}
	}
	return out, nil
}

// GetRepository implements Service.
func (e *Engine) GetRepository(ctx context.Context, namespace, name string) (*configapi.Repository, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	x := e.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	rs, ok := x.repos[repoKey{namespace, name}]
	if !ok {
		return nil, fmt.Errorf("%w: repository %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	r := x.repoObject(rs, rs.rv)
	return &r, nil
}

// CreateRepository implements Service. The repository's registry is listed
// before it returns, so its packages are there at once.
func (e *Engine) CreateRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	if err := e.validateRepository(r); err != nil {
		return nil, err
	}
	if v := e.opts.ValidateRepository; v != nil {
		if err := v(r); err != nil {
			return nil, err
		}
	}
	k := repoKey{r.Namespace, r.Name}
	stored := r.DeepCopy()
	stored.UID = uuid.NewUUID()
	stored.CreationTimestamp = metav1.NewTime(e.opts.Now().UTC().Truncate(1e9))
	stored.Generation = 1
	if WriteOptionsFrom(ctx).DryRun {
		if _, err := e.repoState(k.namespace, k.name); err == nil {
			return nil, fmt.Errorf("%w: repository %q in namespace %q", errdef.ErrAlreadyExists, r.Name, r.Namespace)
		}
		if _, err := e.newRepoState(*stored, format.Empty.Descriptor); err != nil {
			return nil, err
		}
		return dryRunRepository(stored), nil
	}
	t, err := e.lock(ctx, k.lockKey())
	if err != nil {
		return nil, err
	}
	if _, err := e.repoState(k.namespace, k.name); err == nil {
		t.unlock()
		return nil, fmt.Errorf("%w: repository %q in namespace %q", errdef.ErrAlreadyExists, r.Name, r.Namespace)
	}
	err = e.saveRepository(ctx, t, stored)
	t.unlock()
	if err != nil {
		return nil, err
	}
	return e.scanNew(ctx, k)
}

// scanNew lists a repository that was just registered or moved and returns it.
func (e *Engine) scanNew(ctx context.Context, k repoKey) (*configapi.Repository, error) {
	if rs, err := e.repoState(k.namespace, k.name); err == nil {
		if err := e.scanRepository(ctx, rs); err != nil {
			e.log.Warn("listing the packages of a new repository", "namespace", k.namespace, "repository", k.name, "err", err)
		}
	}
	return e.GetRepository(ctx, k.namespace, k.name)
}

func dryRunRepository(r *configapi.Repository) *configapi.Repository {
	out := r.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind}
	return out
}

// UpdateRepository implements Service.
func (e *Engine) UpdateRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	if err := e.validateRepository(r); err != nil {
		return nil, err
	}
	if v := e.opts.ValidateRepository; v != nil {
		if err := v(r); err != nil {
			return nil, err
		}
	}
	k := repoKey{r.Namespace, r.Name}
	t, err := e.lock(ctx, k.lockKey())
	if err != nil {
		return nil, err
	}
	cur, err := e.repoState(k.namespace, k.name)
	if err != nil {
		t.unlock()
		return nil, err
	}
	if err := checkResourceVersion(r.ResourceVersion, formatRV(cur.rv)); err != nil {
		t.unlock()
		return nil, err
	}
	stored := r.DeepCopy()
	stored.UID = cur.obj.UID
	stored.CreationTimestamp = cur.obj.CreationTimestamp
	stored.Generation = cur.obj.Generation
	if !equalJSON(stored.Spec, cur.obj.Spec) {
		stored.Generation++
	}
	if WriteOptionsFrom(ctx).DryRun {
		t.unlock()
		out := dryRunRepository(stored)
		out.ResourceVersion = formatRV(cur.rv)
		return out, nil
	}
	err = e.saveRepository(ctx, t, stored)
	t.unlock()
	if err != nil {
		return nil, err
	}
	if stored.Generation != cur.obj.Generation {
		// Where the packages are, or which ones spec.oci.packages names,
		// may have changed: list the registry again.
		return e.scanNew(ctx, k)
	}
	return e.GetRepository(ctx, k.namespace, k.name)
}

// DeleteRepository implements Service. The packages stay in the registry:
// registering the repository again finds them.
func (e *Engine) DeleteRepository(ctx context.Context, namespace, name string) error {
	if err := e.wait(ctx); err != nil {
		return err
	}
	k := repoKey{namespace, name}
	t, err := e.lock(ctx, k.lockKey())
	if err != nil {
		return err
	}
	defer t.unlock()
	cur, err := e.repoState(namespace, name)
	if err != nil {
		return err
	}
	if err := checkPreconditions(ctx, string(cur.obj.UID), formatRV(cur.rv)); err != nil {
		return err
	}
	if WriteOptionsFrom(ctx).DryRun {
		return nil
	}
	if err := e.config.delete(ctx, cur.desc); err != nil {
		return fmt.Errorf("delete repository %q: %w", name, err)
	}
	return t.publish(ctx, e.repoRecords(k, ocispec.Descriptor{}))
}

// saveRepository stores a Repository object and publishes it; the caller
// holds its lock.
func (e *Engine) saveRepository(ctx context.Context, t *txn, r *configapi.Repository) error {
	r.ResourceVersion = ""
	r.Status = configapi.RepositoryStatus{}
	r.TypeMeta = metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	k := repoKey{r.Namespace, r.Name}
	desc, err := e.config.put(ctx, e.cache, k.tag(), format.RepositoryType, format.RepositoryConfigType, data)
	if err != nil {
		return fmt.Errorf("store repository %q: %w", r.Name, err)
	}
	return t.publish(ctx, e.repoRecords(k, desc))
}

// validateRepository checks a Repository for this engine.
func (e *Engine) validateRepository(r *configapi.Repository) error {
	if err := validateRepository(r); err != nil {
		return err
	}
	if e.opts.Shared && (r.Spec.OCI == nil || r.Spec.OCI.Registry == "") {
		return fmt.Errorf("%w: spec.oci.registry: with several replicas (--etcd-servers) a Repository must name a registry every replica reaches; the embedded store is each replica's own", errdef.ErrInvalid)
	}
	return nil
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
	if prefix != "" {
		if err := names.ValidateOCIRepository(prefix); err != nil {
			return fmt.Errorf("spec.oci.registry: path: %w", err)
		}
	}
	return nil
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

// checkPreconditions checks the delete preconditions the request carries.
func checkPreconditions(ctx context.Context, uid, rv string) error {
	o := WriteOptionsFrom(ctx)
	if o.UID != "" && o.UID != uid {
		return fmt.Errorf("%w: precondition failed: UID in precondition: %s, UID in object meta: %s", errdef.ErrConflict, o.UID, uid)
	}
	if o.ResourceVersion != "" && o.ResourceVersion != rv {
		return fmt.Errorf("%w: precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", errdef.ErrConflict, o.ResourceVersion, rv)
	}
	return nil
}

func formatRV(rv uint64) string { return strconv.FormatUint(rv, 10) }
