// Package apiserver serves the pkgserver API over HTTP with Kubernetes
// conventions: the Repository, PackageRevision and PackageRevisionResources
// kinds under /apis, the discovery documents kubectl and client-go read, and
// metav1.Status bodies for every error.
//
// It is a thin layer over engine.Service: it parses requests (bodies, selectors,
// paging), calls the engine, and writes the answer. Rules about packages live in
// the engine; the only place errors become HTTP codes is errors.go.
package apiserver
