package names

import (
	"fmt"
	"strings"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// OCIPath returns the OCI repository of a package (product.md, "OCI format"):
// <prefix>/<realm>/<package> in a catalog repository and
// <prefix>/<target>/<realm>/<package> in a deployment repository. An empty realm
// and an empty prefix are skipped; a trailing "/" on prefix is ignored.
func OCIPath(prefix string, id ID, deployment bool) string {
	parts := make([]string, 0, 4)
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		parts = append(parts, p)
	}
	if deployment {
		parts = append(parts, id.Target)
	}
	if id.Realm != "" {
		parts = append(parts, id.Realm)
	}
	parts = append(parts, id.Package)
	return strings.Join(parts, "/")
}

// FromOCIPath is the inverse of OCIPath: it splits an OCI repository path under
// prefix into target, realm and package. The target of a catalog package is
// CatalogTarget. Every part is validated, since the path may come from a
// registry listing that anyone can push to.
func FromOCIPath(prefix, path string, deployment bool) (target, realm, pkg string, err error) {
	rest := path
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		var ok bool
		if rest, ok = strings.CutPrefix(path, p+"/"); !ok {
			return "", "", "", fmt.Errorf("%w: OCI path %q is not under prefix %q", errdef.ErrInvalid, path, p)
		}
	}
	segs := strings.Split(rest, "/")
	want := 1
	if deployment {
		want = 2
	}
	if len(segs) < want || rest == "" {
		return "", "", "", fmt.Errorf("%w: OCI path %q: want %s under prefix %q",
			errdef.ErrInvalid, path, layout(deployment), prefix)
	}
	target = CatalogTarget
	if deployment {
		target, segs = segs[0], segs[1:]
	}
	pkg = segs[len(segs)-1]
	realm = strings.Join(segs[:len(segs)-1], "/")
	for _, err := range []error{ValidateTarget(target), ValidateRealm(realm), ValidatePackage(pkg)} {
		if err != nil {
			return "", "", "", fmt.Errorf("OCI path %q: %w", path, err)
		}
	}
	return target, realm, pkg, nil
}

func layout(deployment bool) string {
	if deployment {
		return "<target>/[<realm>/]<package>"
	}
	return "[<realm>/]<package>"
}
