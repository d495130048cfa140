// Package outbound decides where pkgserver itself connects, and with which
// credentials: the host patterns of --allowed-registries limit what a
// Repository's spec.oci.registry may name, and a Repository's
// spec.oci.secretRef names an entry of the server's
// --registry-credentials-file. The server's own Docker config is used only
// when the operator asks for it (--registry-docker-credentials).
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// AllowList holds host patterns: `host` (any port), `host:port`, `*.domain`
// (any host under domain, any depth) and `*.domain:port`. An empty list
// allows every host.
type AllowList struct {
	patterns []string
}

// ParseAllowList checks patterns.
func ParseAllowList(patterns []string) (AllowList, error) {
	var out AllowList
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		host, port := splitHostPort(p)
		rest := strings.TrimPrefix(host, "*.")
		switch {
		case strings.ContainsAny(p, "/@ \t") || strings.Contains(p, "://"):
			return AllowList{}, fmt.Errorf("--allowed-registries: %q: want host, host:port or *.domain, without scheme or path", p)
		case rest == "" || strings.Contains(rest, "*"):
			return AllowList{}, fmt.Errorf("--allowed-registries: %q: * is only allowed as the first label (*.domain)", p)
		case port == "" && strings.HasSuffix(p, ":"):
			return AllowList{}, fmt.Errorf("--allowed-registries: %q: empty port", p)
		}
		out.patterns = append(out.patterns, p)
	}
	return out, nil
}

// Empty reports whether every host is allowed.
func (a AllowList) Empty() bool { return len(a.patterns) == 0 }

// Allows reports whether host (host[:port]) matches a pattern.
func (a AllowList) Allows(host string) bool {
	if a.Empty() {
		return true
	}
	h, port := splitHostPort(strings.ToLower(host))
	for _, p := range a.patterns {
		ph, pport := splitHostPort(p)
		if pport != "" && pport != port {
			continue
		}
		if sub, ok := strings.CutPrefix(ph, "*."); ok {
			if strings.HasSuffix(h, "."+sub) {
				return true
			}
			continue
		}
		if ph == h {
			return true
		}
	}
	return false
}

func splitHostPort(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return strings.Trim(h, "[]"), p
	}
	return strings.Trim(s, "[]"), ""
}

// Policy is the outbound policy of the server.
type Policy struct {
	// Allowed limits registry hosts.
	Allowed AllowList
	// Credentials is the credentials file; nil when none is configured.
	Credentials *CredentialsFile
	// DockerCredentials lets Repositories without a secretRef use the
	// server's Docker config and credential helpers (the behaviour before
	// credentials files).
	DockerCredentials bool
}

// ValidateRepository refuses a Repository before it is stored: a registry
// host outside the allowed ones is forbidden; a secretRef must name an entry
// for that registry that the Repository's namespace may use.
func (p *Policy) ValidateRepository(r *configapi.Repository) error {
	if r.Spec.OCI == nil {
		return nil
	}
	ref := ""
	if r.Spec.OCI.SecretRef != nil {
		ref = r.Spec.OCI.SecretRef.Name
		if ref == "" {
			return fmt.Errorf("%w: spec.oci.secretRef.name must not be empty", errdef.ErrInvalid)
		}
	}
	if r.Spec.OCI.Registry == "" {
		if ref != "" {
			return fmt.Errorf("%w: spec.oci.secretRef is set without spec.oci.registry (the embedded registry needs no credentials)", errdef.ErrInvalid)
		}
		return nil
	}
	host, _, _ := strings.Cut(r.Spec.OCI.Registry, "/")
	return p.Check(host, r.Namespace, ref)
}

// Check is ValidateRepository for the parts a store factory sees: registry
// host, namespace and credentials entry name ("" for none).
func (p *Policy) Check(host, namespace, ref string) error {
	if !p.Allowed.Allows(host) {
		return fmt.Errorf("%w: spec.oci.registry: host %q is not allowed by the server (--allowed-registries)", errdef.ErrForbidden, host)
	}
	if ref == "" {
		return nil
	}
	if p.Credentials == nil {
		return fmt.Errorf("%w: spec.oci.secretRef: the server has no registry credentials file (--registry-credentials-file)", errdef.ErrInvalid)
	}
	e, ok := p.Credentials.lookup(ref)
	switch {
	case !ok:
		return fmt.Errorf("%w: spec.oci.secretRef: no credentials entry %q", errdef.ErrInvalid, ref)
	case !strings.EqualFold(e.Registry, host):
		return fmt.Errorf("%w: spec.oci.secretRef: credentials entry %q is for registry %q, not %q", errdef.ErrInvalid, ref, e.Registry, host)
	case len(e.Namespaces) > 0 && !slices.Contains(e.Namespaces, namespace):
		return fmt.Errorf("%w: spec.oci.secretRef: credentials entry %q may not be used in namespace %q", errdef.ErrForbidden, ref, namespace)
	}
	return nil
}

// CredentialStore returns the credentials a store for host, in namespace,
// with entry ref, uses: the entry (looked up at each use, so a rotated file
// applies), the server's Docker config when allowed and ref is empty, else
// none.
func (p *Policy) CredentialStore(host, namespace, ref string) (credentials.Store, error) {
	if err := p.Check(host, namespace, ref); err != nil {
		return nil, err
	}
	if ref != "" {
		return &entryStore{file: p.Credentials, name: ref, host: host}, nil
	}
	if p.DockerCredentials {
		cs, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("load Docker credentials: %w", err)
		}
		return cs, nil
	}
	return credentials.NewMemoryStore(), nil
}

// entryStore is a read-only credentials.Store holding one entry, given only
// to its own registry.
type entryStore struct {
	file *CredentialsFile
	name string
	host string
}

var errReadOnly = errors.New("registry credentials come from the server's credentials file and cannot be changed")

func (s *entryStore) Get(_ context.Context, serverAddress string) (auth.Credential, error) {
	e, ok := s.file.lookup(s.name)
	if !ok || !strings.EqualFold(serverAddress, s.host) || !strings.EqualFold(e.Registry, s.host) {
		return auth.EmptyCredential, nil
	}
	return auth.Credential{Username: e.Username, Password: e.Password, RefreshToken: e.IdentityToken, AccessToken: e.RegistryToken}, nil
}

func (s *entryStore) Put(context.Context, string, auth.Credential) error { return errReadOnly }
func (s *entryStore) Delete(context.Context, string) error               { return errReadOnly }
