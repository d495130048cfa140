// Package krm checks the files of a package before they are stored or served:
// every path must stay inside the package, and every YAML file must be a stream
// of Kubernetes Resource Model (KRM) objects. It also writes the Kptfile of a
// new package.
//
// Problems are reported per file with a line number, so that a client can find
// them in its own copy of the package.
package krm
