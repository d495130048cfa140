package names

import (
	"errors"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestNameRoundTrip(t *testing.T) {
	tests := []struct {
		id   ID
		name string
	}{
		{ID{"catalog", "blueprints", "infra/network", "vpc", "ws1"}, "catalog.blueprints.infra:network.vpc.ws1"},
		{ID{"edge-01", "deploy", "a/b/c", "app", "main"}, "edge-01.deploy.a:b:c.app.main"},
		{ID{"catalog", "repo", "", "pkg", "ws"}, "catalog.repo..pkg.ws"},
		{ID{"catalog", "repo", "team", "pkg", "0"}, "catalog.repo.team.pkg.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.Name(); got != tt.name {
				t.Errorf("Name() = %q, want %q", got, tt.name)
			}
			if err := tt.id.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
			got, err := Parse(tt.name)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.name, err)
			}
			if got != tt.id {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.name, got, tt.id)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		want string // substring of the error
	}{
		{"", "want 5 dot-separated fields"},
		{"a.b.c.d", "got 4"},
		{"a.b.c.d.e.f", "got 6"},
		{"catalog.repo.realm.pkg.", "workspace must not be empty"},
		{".repo.realm.pkg.ws", "target must not be empty"},
		{"catalog..realm.pkg.ws", "repository must not be empty"},
		{"catalog.repo.realm..ws", "package must not be empty"},
		{"Catalog.repo.realm.pkg.ws", `target "Catalog"`},
		{"catalog.Repo.realm.pkg.ws", `repository "Repo"`},
		{"catalog.repo.a/b.pkg.ws", `must use ":" instead of "/"`},
		{"catalog.repo.a::b.pkg.ws", `realm "a//b": segment 2 is empty`},
		{"catalog.repo.:a.pkg.ws", `realm "/a": segment 1 is empty`},
		{"catalog.repo.a:.pkg.ws", `realm "a/": segment 2 is empty`},
		{"catalog.repo.a:B.pkg.ws", `realm "a/B": segment "B"`},
		{"catalog.repo.realm.pkg_x.ws", `package "pkg_x"`},
		{"catalog.repo.realm.pkg.-ws", `workspace "-ws"`},
		{"catalog.repo.realm.pkg." + strings.Repeat("w", 64), "workspace"},
		{"catalog.repo." + strings.Repeat("a:", 120) + "a.pkg.ws", "more than 253"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.name)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.name)
			}
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := ID{Target: "T", Repository: "r.x", Package: "", Workspace: "w"}.Validate()
	for _, want := range []string{"target", "repository", "package must not be empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		fn    func(string) error
		field string
		good  []string
		bad   []string
	}{
		{ValidateTarget, "target", []string{"catalog", "edge-1", "1"}, []string{"", "Edge", "a.b", "a:b", "-a", strings.Repeat("a", 64)}},
		{ValidateRepositoryName, "repository", []string{"blueprints", "r-1"}, []string{"", "a.b", "a_b", "A"}},
		{ValidateRealm, "realm", []string{"", "a", "a/b", "a-1/b-2/c"}, []string{"/", "/a", "a/", "a//b", "A", "a/b.c", "a:b", strings.Repeat("a", 64)}},
		{ValidatePackage, "package", []string{"app", "a1"}, []string{"", "App", "a/b", "a.b"}},
		{ValidateWorkspace, "workspace", []string{"ws", "main", strings.Repeat("w", 63)}, []string{"", strings.Repeat("w", 64), "w.s", "W"}},
		{ValidateNamespace, "namespace", []string{"default", "kube-system"}, []string{"", "Default", "a.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			for _, v := range tt.good {
				if err := tt.fn(v); err != nil {
					t.Errorf("%q: unexpected error %v", v, err)
				}
			}
			for _, v := range tt.bad {
				err := tt.fn(v)
				if err == nil {
					t.Errorf("%q: no error", v)
					continue
				}
				if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
					t.Errorf("%q: error %q should wrap ErrInvalid and name %q", v, err, tt.field)
				}
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"catalog.repo.a:b.pkg.ws", "catalog.repo..pkg.ws", "a.b.c.d.e", "....", "x.y.:.z.w", "t.r.a::b.p.w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if got := id.Name(); got != s {
			t.Fatalf("Parse(%q).Name() = %q", s, got)
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("Parse(%q) returned an invalid ID: %v", s, err)
		}
	})
}
