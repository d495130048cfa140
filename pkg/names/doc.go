// Package names holds the identity of a package revision and every name derived
// from it: the Kubernetes object name, the OCI repository path of the package and
// the OCI tags of its revisions.
//
// These strings are the project's stable contract with the registry and with API
// clients (see docs/ and product.md, "Resources" and "OCI format"), so each one has
// a builder and a strict parser that are inverses of each other.
package names
