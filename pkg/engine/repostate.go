package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"oras.land/oras-go/v2/content"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

type repoKey struct{ namespace, name string }

// tag is the tag of the stored Repository object (neither part holds a dot).
func (k repoKey) tag() string { return k.namespace + "." + k.name }

// lockKey serialises writers of one Repository object.
func (k repoKey) lockKey() string { return repoRecordKey(k) }

// repoState is a registered repository: where its packages are.
type repoState struct {
	key        repoKey
	obj        configapi.Repository
	desc       ocispec.Descriptor // manifest of the stored object
	rv         uint64             // of its last change
	created    uint64             // rv of its ADDED event
	storeID    string             // embeddedStore or the registry host
	store      store.Store
	embedded   bool
	host       string // registry host in references
	prefix     string
	deployment bool
	status     *repoStatus // shared by states of the same location
}

// repoStatus is what this replica observed of a repository's registry.
type repoStatus struct {
	mu        sync.Mutex
	lastErr   error
	scanned   time.Time // when scans started to succeed: Ready's transition
	failed    time.Time // when they started to fail
	listed    time.Time // the last complete listing
	catalogOK *bool     // whether _catalog works; nil until known
}

func (s *repoStatus) set(err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil && (s.lastErr != nil || s.scanned.IsZero()):
		s.scanned = at
	case err != nil && s.lastErr == nil:
		s.failed = at
	}
	if err == nil {
		s.listed = at
	}
	s.lastErr = err
}

// covers reports whether package k lies under the repository's prefix.
func (rs *repoState) covers(k pkgKey) bool {
	return k.store == rs.storeID && (rs.prefix == "" || strings.HasPrefix(k.path, rs.prefix+"/"))
}

// pkgKey of an OCI repository path of this repository's store.
func (rs *repoState) pkgKey(path string) pkgKey { return pkgKey{store: rs.storeID, path: path} }

// sameLocation reports whether two states of a repository hold the same packages.
func (rs *repoState) sameLocation(o *repoState) bool {
	return rs.storeID == o.storeID && rs.host == o.host && rs.prefix == o.prefix && rs.deployment == o.deployment && rs.store == o.store
}

// object returns the API object at resourceVersion rv.
func (rs *repoState) object(rv uint64) configapi.Repository {
	r := *rs.obj.DeepCopy()
	r.TypeMeta.APIVersion = configapi.SchemeGroupVersion.String()
	r.TypeMeta.Kind = configapi.RepositoryKind
	r.ResourceVersion = formatRV(rv)
	r.Status.Address = rs.host + "/" + rs.prefix
	rs.status.mu.Lock()
	err, scanned, failed := rs.status.lastErr, rs.status.scanned, rs.status.failed
	rs.status.mu.Unlock()
	cond := metaCondition("Ready", "Unknown", "Pending", "the registry has not been listed yet")
	switch {
	case err != nil:
		cond = metaCondition("Ready", "False", "RegistryError", err.Error())
		cond.LastTransitionTime = metav1.NewTime(failed)
	case !scanned.IsZero():
		cond = metaCondition("Ready", "True", "Ready", "registry listed")
		cond.LastTransitionTime = metav1.NewTime(scanned)
	}
	if cond.LastTransitionTime.IsZero() {
		cond.LastTransitionTime = r.CreationTimestamp
	}
	r.Status.Conditions = append(r.Status.Conditions, cond)
	r.Status.LastScanTime = rs.lastScan()
	return r
}

// newRepoState resolves where a Repository's packages are.
func (e *Engine) newRepoState(r configapi.Repository, desc ocispec.Descriptor) (*repoState, error) {
	rs := &repoState{key: repoKey{r.Namespace, r.Name}, obj: r, desc: desc, deployment: r.Spec.Deployment, status: &repoStatus{}}
	var host, creds string
	var plain bool
	if r.Spec.OCI != nil && r.Spec.OCI.Registry != "" {
		host, rs.prefix, _ = strings.Cut(r.Spec.OCI.Registry, "/")
		plain = r.Spec.OCI.PlainHTTP
		rs.host, rs.storeID = host, host
		if r.Spec.OCI.SecretRef != nil {
			creds = r.Spec.OCI.SecretRef.Name
		}
	} else {
		rs.embedded = true
		rs.host = e.opts.EmbeddedAddress
		rs.storeID = embeddedStore
		rs.prefix = r.Namespace + "/" + r.Name
	}
	s, err := e.storeFor(host, plain, r.Namespace, creds)
	if err != nil {
		return nil, err
	}
	rs.store = s
	return rs, nil
}

// readRepository reads a stored Repository object by its manifest.
func (e *Engine) readRepository(ctx context.Context, d ocispec.Descriptor) (*configapi.Repository, error) {
	repo, err := e.config.repository(ctx)
	if err != nil {
		return nil, err
	}
	m, err := e.cache.manifest(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	data, err := content.FetchAll(ctx, repo, m.Config)
	if err != nil {
		return nil, fmt.Errorf("fetch Repository object %s: %w", d.Digest, err)
	}
	var r configapi.Repository
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: Repository object %s: %v", errdef.ErrInvalid, d.Digest, err)
	}
	return &r, nil
}
