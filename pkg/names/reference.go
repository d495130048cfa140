package names

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// MaxOCIRepositoryLength is the longest OCI repository path accepted: the
// limit of go-containerregistry's name package (and of CNCF distribution).
const MaxOCIRepositoryLength = 255

// anyRegistry stands in for the registry part that go-containerregistry's
// parser expects; only the repository path and tag are checked.
const anyRegistry = "localhost/"

// pathComponent is one "/"-separated component of <name> in the distribution
// spec ("Pulling manifests"): alphanumeric runs joined by ".", "_", "__" or
// "-+". go-containerregistry checks only the alphabet and the length, so the
// structure is checked here; it is what keeps "..", "" and "_" out of paths
// that the embedded store turns into directories.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// ValidateOCIRepository checks an OCI repository path (the <name> of the
// distribution spec, without a registry host): lowercase alphanumerics,
// components separated by "/", separators ".", "_", "__" or "-" runs inside
// a component, at most MaxOCIRepositoryLength characters. An invalid path is
// an error wrapping errdef.ErrInvalid.
func ValidateOCIRepository(path string) error {
	if _, err := name.NewRepository(anyRegistry+path, name.StrictValidation); err != nil {
		return fmt.Errorf("%w: OCI repository %q: %v", errdef.ErrInvalid, path, err)
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponent.MatchString(c) {
			return fmt.Errorf("%w: OCI repository %q: component %q must be lowercase alphanumerics joined by \".\", \"_\", \"__\" or \"-\" (distribution spec <name>)", errdef.ErrInvalid, path, c)
		}
	}
	return nil
}

// ValidateOCITag checks a tag: 1 to 128 of [A-Za-z0-9_.-], not starting with
// "." or "-" (distribution spec, "Pulling manifests"). An invalid tag is an
// error wrapping errdef.ErrInvalid.
func ValidateOCITag(tag string) error {
	// Without this check "x/y" or "x:y" would be parsed as part of the repository.
	if strings.ContainsAny(tag, "/:") {
		return fmt.Errorf("%w: OCI tag %q: only [A-Za-z0-9_.-] allowed", errdef.ErrInvalid, tag)
	}
	if _, err := name.NewTag(anyRegistry+"x:"+tag, name.StrictValidation); err != nil {
		return fmt.Errorf("%w: OCI tag %q: %v", errdef.ErrInvalid, tag, err)
	}
	// go-containerregistry allows any first character of its alphabet; the spec does not.
	if tag[0] == '.' || tag[0] == '-' {
		return fmt.Errorf("%w: OCI tag %q: must not start with %q", errdef.ErrInvalid, tag, tag[0])
	}
	return nil
}
