package names

import (
	"errors"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestOCIPath(t *testing.T) {
	tests := []struct {
		prefix     string
		id         ID
		deployment bool
		want       string
	}{
		{"ns/blueprints", ID{Target: "catalog", Realm: "infra/net", Package: "vpc"}, false, "ns/blueprints/infra/net/vpc"},
		{"ns/blueprints/", ID{Target: "catalog", Package: "vpc"}, false, "ns/blueprints/vpc"},
		{"ns/deploy", ID{Target: "edge1", Realm: "apps", Package: "web"}, true, "ns/deploy/edge1/apps/web"},
		{"ns/deploy", ID{Target: "edge1", Package: "web"}, true, "ns/deploy/edge1/web"},
		{"", ID{Target: "edge1", Realm: "a", Package: "web"}, true, "edge1/a/web"},
		{"", ID{Target: "catalog", Package: "web"}, false, "web"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := OCIPath(tt.prefix, tt.id, tt.deployment)
			if got != tt.want {
				t.Fatalf("OCIPath = %q, want %q", got, tt.want)
			}
			target, realm, pkg, err := FromOCIPath(tt.prefix, got, tt.deployment)
			if err != nil {
				t.Fatalf("FromOCIPath(%q) = %v", got, err)
			}
			want := tt.id
			if !tt.deployment {
				want.Target = CatalogTarget
			}
			if target != want.Target || realm != want.Realm || pkg != want.Package {
				t.Errorf("FromOCIPath(%q) = %q, %q, %q; want %q, %q, %q", got, target, realm, pkg, want.Target, want.Realm, want.Package)
			}
		})
	}
}

func TestFromOCIPathErrors(t *testing.T) {
	tests := []struct {
		prefix, path string
		deployment   bool
		want         string
	}{
		{"ns/repo", "other/repo/pkg", false, "not under prefix"},
		{"ns/repo", "ns/repo", false, "not under prefix"},
		{"ns/repo", "ns/repo/", false, "want [<realm>/]<package>"},
		{"ns/repo", "ns/repo/pkg", true, "want <target>/[<realm>/]<package>"},
		{"ns/repo", "ns/repo/a//pkg", false, "segment 2 is empty"},
		{"ns/repo", "ns/repo/a/", false, "package must not be empty"},
		{"ns/repo", "ns/repo/Target/pkg", true, `target "Target"`},
		{"ns/repo", "ns/repo/t/Realm/pkg", true, `realm "Realm"`},
		{"ns/repo", "ns/repo/t/p.kg", true, `package "p.kg"`},
		{"ns/repo", "ns/repox/pkg", false, "not under prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, _, _, err := FromOCIPath(tt.prefix, tt.path, tt.deployment)
			if err == nil || !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromOCIPath(%q, %q) = %v, want ErrInvalid containing %q", tt.prefix, tt.path, err, tt.want)
			}
		})
	}
}
