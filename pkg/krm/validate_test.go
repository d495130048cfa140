package krm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// loadPackage reads a directory of testdata as the resources of a package.
func loadPackage(t testing.TB, dir string) map[string]string {
	t.Helper()
	res := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		res[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestValidateValidPackage(t *testing.T) {
	res := loadPackage(t, "testdata/valid")
	if len(res) < 5 {
		t.Fatalf("fixture has only %d files", len(res))
	}
	if err := Validate(res); err != nil {
		t.Fatalf("Validate(testdata/valid) = %v", err)
	}
}

func TestValidateInvalidFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string // every problem, in order
	}{
		{"missing-name.yaml", []string{`resources["missing-name.yaml"]: line 14: document 2: metadata.name is missing`}},
		{"no-metadata.yaml", []string{`resources["no-metadata.yaml"]: line 1: document 1: metadata.name is missing`}},
		{"metadata-scalar.yaml", []string{`resources["metadata-scalar.yaml"]: line 3: document 1: metadata must be a mapping`}},
		{"not-mapping.yaml", []string{`resources["not-mapping.yaml"]: line 1: document 1: not a KRM object: want a mapping with apiVersion, kind and metadata.name`}},
		{"duplicate.yaml", []string{`resources["duplicate.yaml"]: line 3: document 1: kind is set twice`}},
		{"wrong-types.yaml", []string{
			`resources["wrong-types.yaml"]: line 1: document 1: apiVersion must be a string`,
			`resources["wrong-types.yaml"]: line 3: document 1: kind must be a string`,
			`resources["wrong-types.yaml"]: line 5: document 1: metadata.name must be a string`,
		}},
		{"empty-values.yaml", []string{
			`resources["empty-values.yaml"]: line 1: document 1: apiVersion must not be empty`,
			`resources["empty-values.yaml"]: line 2: document 1: kind must be a string`,
			`resources["empty-values.yaml"]: line 4: document 1: metadata.name must not be empty`,
		}},
		{"Kptfile", []string{`resources["Kptfile"]: line 1: document 1: kind is missing`}},
		{"syntax.yaml", []string{`resources["syntax.yaml"]: line 9: invalid YAML: did not find expected ',' or ']'`}},
		{"syntax-flow-map.yaml", []string{`resources["syntax-flow-map.yaml"]: line 3: invalid YAML: did not find expected ',' or '}'`}},
		{"syntax-first-line.yaml", []string{`resources["syntax-first-line.yaml"]: line 1: invalid YAML: did not find expected ',' or ']'`}},
		{"syntax-tab.yaml", []string{`resources["syntax-tab.yaml"]: line 6: invalid YAML: found character that cannot start any token`}},
		{"syntax-mapping-values.yaml", []string{`resources["syntax-mapping-values.yaml"]: line 4: invalid YAML: mapping values are not allowed in this context`}},
		{"syntax-kptfile/Kptfile", []string{`resources["syntax-kptfile/Kptfile"]: line 2: invalid YAML: found a tab character that violates indentation`}},
		{"unknown-anchor.yaml", []string{`resources["unknown-anchor.yaml"]: invalid YAML: unknown anchor 'nowhere' referenced`}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/invalid", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(map[string]string{tt.file: string(b)})
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			var list ResourceErrors
			if !errors.As(err, &list) {
				t.Fatalf("Validate = %v, want a ResourceErrors inside", err)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.Error())
				if e.Path != tt.file {
					t.Errorf("problem %q has Path %q", e, e.Path)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if want := "invalid: " + strings.Join(tt.want, "; "); err.Error() != want {
				t.Errorf("message %q, want %q", err, want)
			}
		})
	}
	// Every fixture must be covered by the table.
	for file := range loadPackage(t, "testdata/invalid") {
		if !seen[file] {
			t.Errorf("fixture %s is not in the table", file)
		}
	}
}

func TestValidateRules(t *testing.T) {
	const obj = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
	tests := []struct {
		name string
		res  map[string]string
		want []string // substrings of the error, in order; nil means valid
	}{
		{"empty package", map[string]string{}, nil},
		{"nil package", nil, nil},
		{"non-YAML accepted as is", map[string]string{"README.md": "{{{", "a.json": "[", "x.YAML": "- 1"}, nil},
		{"empty and comment-only YAML", map[string]string{"a.yaml": "", "b.yml": "# nothing\n", "c.yaml": "---\n---\n~\n"}, nil},
		{"yml extension checked", map[string]string{"a.yml": "kind: X\n"}, []string{`resources["a.yml"]: line 1: document 1: apiVersion is missing`}},
		{"document numbering counts empty documents", map[string]string{"a.yaml": obj + "---\n---\nkind: X\n"}, []string{`line 7: document 3: apiVersion is missing`}},
		{"aliases are followed", map[string]string{"a.yaml": "x: &n web\napiVersion: v1\nkind: X\nmetadata: {name: *n}\n"}, nil},
		{"name via merge of a sequence", map[string]string{"a.yaml": "a: &a {name: x}\napiVersion: v1\nkind: X\nmetadata:\n  <<: [*a]\n"}, nil},
		{"scalar document", map[string]string{"a.yaml": "hello\n"}, []string{"line 1: document 1: not a KRM object"}},
		{"bad path", map[string]string{"../x.yaml": obj}, []string{`resources["../x.yaml"]: invalid path: must not contain a ".." segment`}},
		{"sorted by path", map[string]string{"b.yaml": "kind: X\n", "a.yaml": "[", "/abs": ""}, []string{
			`resources["/abs"]: invalid path: must be relative`,
			`resources["a.yaml"]: line 1: invalid YAML`,
			`resources["b.yaml"]: line 1: document 1: apiVersion is missing`,
		}},
		{"subpackage Kptfile", map[string]string{"sub/Kptfile": "- 1\n"}, []string{`resources["sub/Kptfile"]: line 1: document 1: not a KRM object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.res)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error %q: missing %q (or out of order)", err, w)
				}
				msg = msg[i+len(w):]
			}
		})
	}
}

func TestValidateCapsProblems(t *testing.T) {
	res := map[string]string{}
	for i := range 25 {
		res[fmt.Sprintf("f%02d.yaml", i)] = "kind: X\nmetadata: {name: x}\n"
	}
	err := Validate(res)
	var list ResourceErrors
	if !errors.As(err, &list) || len(list) != MaxProblems {
		t.Fatalf("Validate = %v, want %d problems", err, MaxProblems)
	}
	if list[0].Path != "f00.yaml" || list[MaxProblems-1].Path != "f09.yaml" {
		t.Errorf("problems are not the first by path: %v", list)
	}
	if !strings.HasSuffix(err.Error(), "; further problems not shown") {
		t.Errorf("message %q does not say it was cut", err)
	}
	// Exactly MaxProblems problems: nothing to hide.
	for i := MaxProblems; i < 25; i++ {
		delete(res, fmt.Sprintf("f%02d.yaml", i))
	}
	if err := Validate(res); strings.Contains(err.Error(), "further") {
		t.Errorf("message %q says it was cut", err)
	}
}

func FuzzValidate(f *testing.F) {
	for _, res := range []map[string]string{loadPackage(f, "testdata/valid"), loadPackage(f, "testdata/invalid")} {
		for p, text := range res {
			f.Add(p, text)
		}
	}
	f.Add("a.yaml", "&a [*a]")
	f.Add("a.yaml", "<<: &m {<<: *m}")
	f.Add("bomb.yaml", hostile.AliasBomb(9, 10))
	f.Add("deep.yaml", hostile.Nested(200))
	f.Add("many.yaml", hostile.Documents(50))
	f.Add("dup.yaml", hostile.DuplicateKeys(100))
	// Small limits as well, so that every limit is reached.
	small := WithLimits(Limits{MaxFiles: 2, MaxBytes: 4096, YAML: yamlbound.Limits{MaxDocuments: 3, MaxDocumentBytes: 512, MaxDepth: 5, MaxNodes: 100}})
	f.Fuzz(func(t *testing.T, p, text string) {
		for _, opts := range [][]Option{nil, {small}} {
			err := Validate(map[string]string{p: text, "Kptfile": text}, opts...)
			if err == nil {
				continue
			}
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var list ResourceErrors
			var le *errdef.LimitError
			if errors.As(err, &le) {
				continue // the package as a whole is over a limit
			}
			if !errors.As(err, &list) || len(list) == 0 || len(list) > MaxProblems {
				t.Fatalf("error %v: bad problem list %v", err, list)
			}
		}
	})
}
