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
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

// checkHost refuses what is not host[:port]: a DNS name, an IPv4 address or
// a bracketed IPv6 address, and a port from 1 to 65535. The allow list only
// ever sees such hosts, so no character (#, ?, @, %, \) makes a host look
// like an allowed one while the connection goes elsewhere.
func checkHost(host string) error {
	bad := fmt.Errorf("%q is not host[:port]", host)
	name, port, hasPort := host, "", false
	if rest, ok := strings.CutPrefix(host, "["); ok {
		var found bool
		if name, port, found = strings.Cut(rest, "]"); !found {
			return bad
		}
		if ip := net.ParseIP(name); ip == nil || ip.To4() != nil || strings.Contains(name, "%") {
			return bad
		}
		if port != "" {
			if port, hasPort = strings.CutPrefix(port, ":"); !hasPort {
				return bad
			}
		}
	} else {
		if i := strings.LastIndex(host, ":"); i >= 0 {
			name, port, hasPort = host[:i], host[i+1:], true
		}
		if ip := net.ParseIP(name); ip == nil && !validDNSName(name) || ip != nil && ip.To4() == nil {
			return bad
		}
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return bad
		}
	}
	return nil
}

// validDNSName reports whether s is a host name of RFC 1123 labels (with
// "_", which container networks use in service names).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
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
	if err := checkHost(host); err != nil {
		return fmt.Errorf("%w: spec.oci.registry: %w", errdef.ErrInvalid, err)
	}
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

// Transport returns a RoundTripper over next (http.DefaultTransport when
// nil) that sends requests only to hosts the allow list allows. A registry
// names hosts of its own: the token endpoint of its Bearer challenge, and
// the target of a redirect (blob storage). They are held to the list too,
// or any allowed registry could make the server connect anywhere. Without
// a list every host is allowed.
func (p *Policy) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if p == nil || p.Allowed.Empty() {
		return next
	}
	return guarded{allowed: p.Allowed, next: next}
}

// guarded is the RoundTripper of Transport.
type guarded struct {
	allowed AllowList
	next    http.RoundTripper
}

func (g guarded) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Host
	if err := checkHost(host); err != nil || !g.allows(r.URL) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s: host %q is not allowed by the server (--allowed-registries); a registry's token endpoint and redirects must be allowed hosts too", errdef.ErrForbidden, r.URL.Redacted(), host)
	}
	return g.next.RoundTrip(r)
}

// allows matches the URL's host, and with the scheme's port when the URL
// names none (https://h is h:443 for a pattern h:443).
func (g guarded) allows(u *url.URL) bool {
	if g.allowed.Allows(u.Host) {
		return true
	}
	if u.Port() != "" {
		return false
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return g.allowed.Allows(net.JoinHostPort(u.Hostname(), port))
}
