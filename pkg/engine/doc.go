// Package engine applies pkgserver's rules (lifecycle, versioning, validation) to
// repositories and package revisions kept as OCI artifacts in a store.Store.
// It holds an in-memory index of revisions as a cache; the registry is the truth.
package engine
