package client

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned"
)

// Client talks to one pkgserver through the generated clientset. It is safe
// for concurrent use.
type Client struct {
	server string
	cs     versioned.Interface
}

// New returns a client for the server at baseURL, an http or https URL with
// an optional path prefix (for a server behind a reverse proxy).
func New(baseURL string, opts ...Option) (*Client, error) {
	if !strings.Contains(baseURL, "://") {
		return nil, fmt.Errorf("client: server URL %q: want an http:// or https:// URL, such as http://127.0.0.1:8080", baseURL)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server URL %q: want an http:// or https:// URL", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q has no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q must not have a query or fragment", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	o := options{httpClient: http.DefaultClient, userAgent: DefaultUserAgent}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	cfg := &rest.Config{
		Host: u.String(),
		ContentConfig: rest.ContentConfig{
			AcceptContentTypes: "application/json",
			ContentType:        "application/json",
		},
		UserAgent: o.userAgent,
		// No client-side throttling: a CLI or script makes few calls, and
		// the server bounds its own load.
		QPS: -1,
	}
	cs, err := versioned.NewForConfigAndClient(cfg, o.client())
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{server: u.String(), cs: cs}, nil
}

// NewFromClientset returns a client over a clientset built elsewhere, for
// example from a kubeconfig with versioned.NewForConfig.
func NewFromClientset(server string, cs versioned.Interface) *Client {
	return &Client{server: server, cs: cs}
}

// Server returns the base URL the client talks to.
func (c *Client) Server() string { return c.server }

// Clientset returns the generated clientset the client works through, for
// what this package does not wrap (informers: see package
// pkgserver.dev/pkgserver/pkg/generated/informers/externalversions).
func (c *Client) Clientset() versioned.Interface { return c.cs }

// Repositories returns the client for Repository objects of namespace ns.
// An empty ns lists and watches across all namespaces; the other verbs need one.
func (c *Client) Repositories(ns string) *RepositoryClient {
	return &RepositoryClient{typed: c.cs.ConfigV1alpha1().Repositories(ns), group: configGroup, plural: "repositories", namespace: ns,
		kind: configapi.SchemeGroupVersion.WithKind(configapi.RepositoryKind)}
}

// PackageRevisions returns the client for PackageRevision objects of namespace ns.
// An empty ns lists and watches across all namespaces; the other verbs need one.
func (c *Client) PackageRevisions(ns string) *PackageRevisionClient {
	typed := c.cs.PkgV1alpha1().PackageRevisions(ns)
	return &PackageRevisionClient{
		Resource: &Resource[*pkgapi.PackageRevision, *pkgapi.PackageRevisionList]{typed: typed, group: pkgGroup, plural: "packagerevisions", namespace: ns,
			kind: pkgapi.SchemeGroupVersion.WithKind(pkgapi.PackageRevisionKind)},
		approval: typed,
	}
}

// PackageRevisionResources returns the client for PackageRevisionResources
// objects of namespace ns. The server creates and deletes them with their
// PackageRevision, so Create and Delete are refused; Get, Update and Patch
// read and write the files of a revision.
func (c *Client) PackageRevisionResources(ns string) *PackageRevisionResourcesClient {
	return &PackageRevisionResourcesClient{typed: noCreateDelete{c.cs.PkgV1alpha1().PackageRevisionResources(ns)}, group: pkgGroup, plural: "packagerevisionresources", namespace: ns,
		kind: pkgapi.SchemeGroupVersion.WithKind(pkgapi.PackageRevisionResourcesKind)}
}
