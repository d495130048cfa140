package krm

import (
	"fmt"
	"path"
	"strings"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// MaxPathLength is the longest file path accepted in a package; it is the
// PATH_MAX of Linux, so any accepted path can be written out by oras pull.
const MaxPathLength = 4096

// ValidatePath checks that p is a file path that stays inside the package
// (product.md, "OCI format"): relative, clean, forward slashes only, and no ".."
// segment. The same check guards writes and reads, so a hostile artifact can
// never make a client write outside its target directory.
func ValidatePath(p string) error {
	if msg := pathProblem(p); msg != "" {
		return fmt.Errorf("%w: path %q: %s", errdef.ErrInvalid, p, msg)
	}
	return nil
}

// pathProblem returns why p is not a valid package path, or "".
func pathProblem(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case len(p) > MaxPathLength:
		return fmt.Sprintf("longer than %d bytes", MaxPathLength)
	case strings.IndexByte(p, 0) >= 0:
		return "must not contain NUL"
	case strings.IndexByte(p, '\\') >= 0:
		return `must use "/" as separator, not "\"`
	case strings.HasPrefix(p, "/"):
		return "must be relative"
	case p == ".":
		return "must name a file, not the package root"
	case p == ".." || strings.HasPrefix(p, "../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/../"):
		return `must not contain a ".." segment`
	case path.Clean(p) != p:
		return fmt.Sprintf("must be clean (%q)", path.Clean(p))
	}
	return ""
}
