package krm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

func TestValidateLimits(t *testing.T) {
	const obj = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n" // 10 YAML nodes
	files := func(n int) map[string]string {
		res := map[string]string{}
		for i := range n {
			res[fmt.Sprintf("f%d.txt", i)] = obj
		}
		return res
	}
	small := Limits{MaxFiles: 3, MaxBytes: 3 * int64(len(obj)), YAML: yamlbound.Limits{MaxDocuments: 2, MaxDocumentBytes: 100, MaxDepth: 4, MaxNodes: 25}}
	tests := []struct {
		name  string
		lim   Limits
		res   map[string]string
		limit string // flag named by the error; "" means valid
		file  string // the file the problem is reported on, for YAML limits
	}{
		{"files at the limit", small, files(3), "", ""},
		{"files over the limit", small, files(4), FlagMaxFiles, ""},
		{"bytes at the limit", small, map[string]string{"a.txt": strings.Repeat("x", 3*len(obj))}, "", ""},
		{"bytes over the limit", small, map[string]string{"a.txt": strings.Repeat("x", 3*len(obj)+1)}, FlagMaxBytes, ""},
		{"bytes add up over files", small, map[string]string{"a.txt": strings.Repeat("x", 2*len(obj)), "b.txt": strings.Repeat("x", len(obj)+1)}, FlagMaxBytes, ""},
		{"documents at the limit", small, map[string]string{"a.yaml": obj + "---\n" + obj}, "", ""},
		{"documents over the limit", small, map[string]string{"a.yaml": obj + "---\n" + obj + "---\n"}, yamlbound.FlagMaxDocuments, "a.yaml"},
		{"document bytes over the limit", small, map[string]string{"a.yaml": obj + "data: {v: " + strings.Repeat("x", 50) + "}\n"}, yamlbound.FlagMaxDocumentBytes, "a.yaml"},
		{"depth at the limit", small, map[string]string{"a.yaml": obj + "d: [[[x]]]\n"}, "", ""},
		{"depth over the limit", small, map[string]string{"a.yaml": obj + "d: [[[[x]]]]\n"}, yamlbound.FlagMaxDepth, "a.yaml"},
		{"nodes over the limit in the package", small, map[string]string{"a.yaml": obj, "b.yaml": obj, "c.yaml": obj}, yamlbound.FlagMaxNodes, "c.yaml"},
		{"non-YAML files are not parsed", small, map[string]string{"bomb.txt": hostile.AliasBomb(2, 3)}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.res, WithLimits(tt.lim))
			if tt.limit == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "over the limit of") || !strings.Contains(err.Error(), "(--"+tt.limit+")") {
				t.Fatalf("Validate = %v, want it to name --%s", err, tt.limit)
			}
			var list ResourceErrors
			if tt.file == "" {
				var le *errdef.LimitError
				if !errors.As(err, &le) || le.Name != tt.limit || errors.As(err, &list) {
					t.Fatalf("Validate = %v, want a package LimitError of --%s", err, tt.limit)
				}
				return
			}
			if !errors.As(err, &list) || len(list) != 1 || list[0].Path != tt.file {
				t.Fatalf("Validate = %v, want one problem in %s", err, tt.file)
			}
		})
	}
}

func TestValidateDefaults(t *testing.T) {
	res := map[string]string{"a.yaml": strings.Repeat("x", int(DefaultMaxBytes)+1)}
	if err := Validate(res); err == nil || !strings.Contains(err.Error(), FlagMaxBytes) {
		t.Errorf("Validate with default limits = %v, want --%s", err, FlagMaxBytes)
	}
	if got := (Limits{MaxFiles: 2}).WithDefaults(); got.MaxFiles != 2 || got.MaxBytes != DefaultMaxBytes || got.YAML != yamlbound.DefaultLimits() {
		t.Errorf("WithDefaults = %+v", got)
	}
}

// TestValidateHostile: the hostile files of issue 9, refused by the default
// limits (Validate as the engine calls it). Each was accepted before.
func TestValidateHostile(t *testing.T) {
	tests := []struct {
		name, file, text string
		valid            bool
	}{
		{"alias bomb", "bomb.yaml", hostile.AliasBomb(9, 10), false},
		{"deep nesting", "deep.yaml", hostile.Nested(yamlbound.DefaultMaxDepth + 1), false},
		{"deep nesting at the limit", "deep.yaml", hostile.Nested(yamlbound.DefaultMaxDepth), true},
		{"many documents", "many.yaml", hostile.Documents(yamlbound.DefaultMaxDocuments + 1), false},
		{"many documents at the limit", "many.yaml", hostile.Documents(yamlbound.DefaultMaxDocuments), true},
		{"dense document", "dense.yaml", hostile.Dense(yamlbound.DefaultMaxDocumentBytes + 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(map[string]string{"Kptfile": NewKptfile("p", ""), tt.file: tt.text})
			if tt.valid {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var list ResourceErrors
			if !errors.Is(err, errdef.ErrInvalid) || !errors.As(err, &list) || len(list) != 1 || list[0].Path != tt.file {
				t.Fatalf("Validate = %v, want one problem in %s", err, tt.file)
			}
			if !strings.Contains(list[0].Msg, "over the limit of") {
				t.Errorf("problem %q does not name the limit", list[0].Msg)
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	lim := WithLimits(Limits{MaxFiles: 2, YAML: yamlbound.Limits{MaxDepth: 3}})
	// Invalid KRM, bad paths and bad YAML are Validate's business.
	if err := CheckLimits(map[string]string{"a.yaml": "kind: X\n", "../b": "", "Kptfile": "["}, lim); err == nil || !strings.Contains(err.Error(), FlagMaxFiles) {
		t.Errorf("CheckLimits over the file limit = %v", err)
	}
	if err := CheckLimits(map[string]string{"a.yaml": "kind: X\nd: [[x]]\n", "Kptfile": "["}, lim); err != nil {
		t.Errorf("CheckLimits within the limits = %v", err)
	}
	err := CheckLimits(map[string]string{"a.yaml": "kind: X\nd: [[[x]]]\n"}, lim)
	var list ResourceErrors
	if !errors.Is(err, errdef.ErrInvalid) || !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Msg, yamlbound.FlagMaxDepth) {
		t.Errorf("CheckLimits over the depth limit = %v", err)
	}
}
