package names

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// CatalogTarget is the target of every package in a catalog repository.
const CatalogTarget = "catalog"

// MaxNameLength caps an object name at the Kubernetes limit for names, so that
// every name fits wherever a DNS-1123 subdomain would.
const MaxNameLength = validation.DNS1123SubdomainMaxLength

// ValidateTarget checks a deployment target (or "catalog"): a DNS-1123 label.
func ValidateTarget(target string) error { return label("target", target) }

// ValidateRepositoryName checks the name of a Repository object. It must be a
// DNS-1123 label rather than a subdomain because "." separates the fields of a
// revision name.
func ValidateRepositoryName(repo string) error { return label("repository", repo) }

// ValidatePackage checks a package name: a DNS-1123 label.
func ValidatePackage(pkg string) error { return label("package", pkg) }

// ValidateWorkspace checks a workspace name: a DNS-1123 label (at most 63 characters).
func ValidateWorkspace(ws string) error { return label("workspace", ws) }

// ValidateNamespace checks a Kubernetes namespace name: a DNS-1123 label.
func ValidateNamespace(ns string) error { return label("namespace", ns) }

// ValidateRealm checks a realm: empty, or DNS-1123 labels separated by single
// "/" with no leading or trailing "/". Empty is allowed because a package need
// not be grouped.
func ValidateRealm(realm string) error {
	if realm == "" {
		return nil
	}
	for i, seg := range strings.Split(realm, "/") {
		if seg == "" {
			return fmt.Errorf("%w: realm %q: segment %d is empty (no leading, trailing or doubled \"/\")", errdef.ErrInvalid, realm, i+1)
		}
		if msgs := validation.IsDNS1123Label(seg); len(msgs) > 0 {
			return fmt.Errorf("%w: realm %q: segment %q: %s", errdef.ErrInvalid, realm, seg, strings.Join(msgs, "; "))
		}
	}
	return nil
}

// label validates one field that must be a non-empty DNS-1123 label, naming the
// field in the message so API errors point at the right place.
func label(field, value string) error {
	if value == "" {
		return fmt.Errorf("%w: %s must not be empty", errdef.ErrInvalid, field)
	}
	if msgs := validation.IsDNS1123Label(value); len(msgs) > 0 {
		return fmt.Errorf("%w: %s %q: %s", errdef.ErrInvalid, field, value, strings.Join(msgs, "; "))
	}
	return nil
}
