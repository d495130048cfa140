package names

import (
	"errors"
	"fmt"
	"strings"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// ID identifies one package revision up to its revision number, which is not
// part of the name: a revision keeps its name when it is published.
type ID struct {
	Target     string // deployment target, CatalogTarget for catalog packages
	Repository string // name of the Repository object
	Realm      string // grouping path, "/"-separated; may be empty
	Package    string
	Workspace  string
}

// Name returns the object name of the revision:
// <target>.<repository>.<realm with "/" as ":">.<package>.<workspace>.
// An empty realm leaves its field empty, e.g. "catalog.repo..pkg.ws".
func (id ID) Name() string {
	return strings.Join([]string{
		id.Target,
		id.Repository,
		strings.ReplaceAll(id.Realm, "/", ":"),
		id.Package,
		id.Workspace,
	}, ".")
}

// String returns Name, so an ID prints as its object name.
func (id ID) String() string { return id.Name() }

// Validate checks every field and the length of the resulting name, and reports
// all failing fields at once.
func (id ID) Validate() error {
	errs := []error{
		ValidateTarget(id.Target),
		ValidateRepositoryName(id.Repository),
		ValidateRealm(id.Realm),
		ValidatePackage(id.Package),
		ValidateWorkspace(id.Workspace),
	}
	if n := len(id.Name()); n > MaxNameLength {
		errs = append(errs, fmt.Errorf("%w: name %q is %d characters, more than %d", errdef.ErrInvalid, id.Name(), n, MaxNameLength))
	}
	return errors.Join(errs...)
}

// Parse is the inverse of Name. It accepts only names that Name produces from a
// valid ID, so Parse(s).Name() == s whenever Parse succeeds.
func Parse(name string) (ID, error) {
	fields := strings.Split(name, ".")
	if len(fields) != 5 {
		return ID{}, fmt.Errorf("%w: name %q: want 5 dot-separated fields <target>.<repository>.<realm>.<package>.<workspace>, got %d",
			errdef.ErrInvalid, name, len(fields))
	}
	if strings.Contains(fields[2], "/") {
		return ID{}, fmt.Errorf("%w: name %q: realm field must use \":\" instead of \"/\"", errdef.ErrInvalid, name)
	}
	id := ID{
		Target:     fields[0],
		Repository: fields[1],
		Realm:      strings.ReplaceAll(fields[2], ":", "/"),
		Package:    fields[3],
		Workspace:  fields[4],
	}
	if err := id.Validate(); err != nil {
		return ID{}, fmt.Errorf("name %q: %w", name, err)
	}
	return id, nil
}
