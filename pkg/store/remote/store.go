// Package remote is the store backed by any OCI registry (CNCF distribution,
// zot, Harbor, cloud registries) through oras-go. Errors from the registry are
// translated to the sentinels of pkg/errdef, keeping the original in the chain.
package remote

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/opencontainers/go-digest"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Store is a remote OCI registry. It is safe for concurrent use.
type Store struct {
	reg *remote.Registry

	mu    sync.Mutex
	repos map[string]*Repository
	// referrersOK says whether the registry serves the referrers API, once known.
	referrersOK, referrersKnown bool
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Lister = (*Store)(nil)
)

// New returns a Store for registry, given as host[:port].
func New(registryHost string, opts ...Option) (*Store, error) {
	o := options{userAgent: "pkgserver"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.credentials == nil {
		cs, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("remote: load Docker credentials: %w", err)
		}
		o.credentials = cs
	}
	if o.httpClient == nil {
		o.httpClient = retry.DefaultClient
	}
	reg, err := remote.NewRegistry(registryHost)
	if err != nil {
		return nil, fmt.Errorf("remote: registry %q: %w: %w", registryHost, errdef.ErrInvalid, err)
	}
	client := &auth.Client{
		Client:     o.httpClient,
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(o.credentials),
	}
	client.SetUserAgent(o.userAgent)
	reg.Client = client
	reg.PlainHTTP = o.plainHTTP
	return &Store{reg: reg, repos: map[string]*Repository{}}, nil
}

// Registry returns the host[:port] of the registry.
func (s *Store) Registry() string { return s.reg.Reference.Registry }

// Repository returns the repository name of the registry. The handle is
// cached, so its auth tokens and referrers capability are reused.
func (s *Store) Repository(ctx context.Context, name string) (store.Repository, error) {
	return s.repository(ctx, name)
}

func (s *Store) repository(ctx context.Context, name string) (*Repository, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[name]; ok {
		return r, nil
	}
	ref := registry.Reference{Registry: s.reg.Reference.Registry, Repository: name}
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("remote: repository %q: %w: %w", name, errdef.ErrInvalid, err)
	}
	repo, err := s.reg.Repository(ctx, name) // copies client and PlainHTTP
	if err != nil {
		return nil, fmt.Errorf("remote: repository %q: %w: %w", name, errdef.ErrInvalid, err)
	}
	r := &Repository{repo: repo.(*remote.Repository), name: name}
	if ok, known := s.referrersAPI(ctx, r.repo); known {
		// Known once per registry: oras-go then neither probes per repository
		// nor fetches every manifest it deletes to maintain a referrers tag.
		_ = r.repo.SetReferrersCapability(ok)
	}
	s.repos[name] = r
	return r, nil
}

// referrersAPI reports whether the registry serves the referrers API (OCI
// distribution spec v1.1), asking once with a digest nothing refers to.
func (s *Store) referrersAPI(ctx context.Context, repo *remote.Repository) (supported, known bool) {
	if s.referrersKnown {
		return s.referrersOK, true
	}
	scheme := "https"
	if repo.PlainHTTP {
		scheme = "http"
	}
	probe := digest.FromString("pkgserver referrers probe")
	u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", scheme, repo.Reference.Registry, repo.Reference.Repository, probe)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, false
	}
	resp, err := repo.Client.Do(req)
	if err != nil {
		return false, false
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		s.referrersOK, s.referrersKnown = true, true
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusBadRequest:
		s.referrersOK, s.referrersKnown = false, true
	}
	return s.referrersOK, s.referrersKnown
}

// Repositories lists repository names through the _catalog API. Registries
// without it fail with the registry's error (often 404, errdef.ErrNotFound).
func (s *Store) Repositories(ctx context.Context, last string, fn func(repos []string) error) error {
	return translate("list repositories of "+s.Registry(), s.reg.Repositories(ctx, last, fn))
}

// Ping checks that the registry answers GET /v2/ (with credentials if asked).
func (s *Store) Ping(ctx context.Context) error {
	return translate("ping "+s.Registry(), s.reg.Ping(ctx))
}
