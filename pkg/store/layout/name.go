package layout

import (
	"fmt"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// maxNameLength bounds a repository name so that paths stay well under PATH_MAX.
const maxNameLength = 255

// ValidateRepositoryName checks name against the repository name grammar of the
// distribution spec ("Pulling manifests", <name>):
//
//	[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//
// It is a hand-written scanner (no regexp) because it runs on every request;
// the grammar also guarantees the name is a clean relative path with no "..".
func ValidateRepositoryName(name string) error {
	if name == "" || len(name) > maxNameLength || !validName(name) {
		return fmt.Errorf("repository name %q: %w: must match the distribution spec name grammar and be at most %d characters", name, errdef.ErrInvalid, maxNameLength)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validName scans one path component after another; each is alnum runs
// joined by exactly one separator ".", "_", "__" or "-+".
func validName(s string) bool {
	i := 0
	for {
		// A component starts with an alnum run.
		if i >= len(s) || !isAlnum(s[i]) {
			return false
		}
		for i < len(s) && isAlnum(s[i]) {
			i++
		}
		if i == len(s) {
			return true
		}
		switch s[i] {
		case '/':
			i++
			continue
		case '.':
			i++
		case '_':
			i++
			if i < len(s) && s[i] == '_' {
				i++
			}
		case '-':
			for i < len(s) && s[i] == '-' {
				i++
			}
		default:
			return false
		}
		// A separator must be followed by an alnum run.
		if i >= len(s) || !isAlnum(s[i]) {
			return false
		}
	}
}
