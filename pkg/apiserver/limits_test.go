package apiserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// smallLimits are reached by the requests of TestLimits.
var smallLimits = Options{
	MaxBodyBytes:       64 << 10,
	MaxPatchOperations: 30,
	MaxPatchCopyBytes:  2048,
	Package: krm.Limits{MaxFiles: 3, MaxBytes: 40 << 10,
		YAML: yamlbound.Limits{MaxDocuments: 2, MaxDocumentBytes: 1024, MaxDepth: 5, MaxNodes: 100}},
}

// prrBody is a PackageRevisionResources of redis holding files.
func prrBody(files map[string]string) string {
	return jsonOf(map[string]any{"metadata": map[string]any{"name": redis}, "spec": map[string]any{"resources": files}})
}

// testOps is a JSON patch of n operations that change nothing.
func testOps(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"test","path":"/metadata/name","value":%q}`, redis)
	}
	return "[" + strings.Join(ops, ",") + "]"
}

const cmYAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"

func TestLimits(t *testing.T) {
	jsonPatchHeader := map[string]string{"Content-Type": "application/json-patch+json"}
	mergeHeader := map[string]string{"Content-Type": "application/merge-patch+json"}
	applyHeader := map[string]string{"Content-Type": "application/apply-patch+yaml"}
	yamlHeader := map[string]string{"Content-Type": "application/yaml"}
	big := strings.Repeat("x", 30<<10)
	tooLarge := func(flag string) call {
		return call{code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, contains: []string{"(--" + flag + ")"}}
	}
	invalid := func(field, flag string) call {
		return call{code: 422, reason: metav1.StatusReasonInvalid, contains: []string{"(--" + flag + ")", `"field":` + jsonOf(field)}}
	}
	ok := call{code: 200}
	tests := []struct {
		name   string
		setup  func(*fakeEngine)
		method string
		body   string
		header map[string]string
		want   call
	}{
		{"body at the limit", nil, "PUT", prrBody(map[string]string{"a.txt": big}) + strings.Repeat(" ", 64<<10-len(prrBody(map[string]string{"a.txt": big}))), nil, ok},
		{"body over the limit", nil, "PUT", prrBody(map[string]string{"a.txt": big, "b.txt": big, "c.txt": big}), nil, tooLarge(FlagMaxBodyBytes)},
		{"patch operations at the limit", nil, "PATCH", testOps(30), jsonPatchHeader, ok},
		{"patch operations over the limit", nil, "PATCH", testOps(31), jsonPatchHeader, tooLarge(FlagMaxPatchOperations)},
		{"patch copies under the limit", nil, "PATCH", hostile.CopyPatch("/spec/x", 4), jsonPatchHeader, ok},
		{"copy bomb", nil, "PATCH", hostile.CopyPatch("/spec/x", 20), jsonPatchHeader, tooLarge(FlagMaxPatchCopyBytes)},
		{"merge patch result at the limit", nil, "PATCH", `{"spec":{"resources":{"b.txt":"` + big + `"}}}`, mergeHeader, ok},
		{"merge patch result over the limit", func(f *fakeEngine) { f.prrs[key("default", redis)].Spec.Resources["a.txt"] = big + big },
			"PATCH", `{"spec":{"resources":{"b.txt":"` + big + `"}}}`, mergeHeader, tooLarge(FlagMaxBodyBytes)},
		{"apply patch alias bomb", nil, "PATCH", hostile.AliasBomb(3, 10), applyHeader, tooLarge(yamlbound.FlagMaxNodes)},
		{"apply patch as JSON is not parsed as YAML", nil, "PATCH", `{"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevisionResources","spec":{"resources":{"b.txt":"` + big + `"}}}`, applyHeader, ok},
		{"YAML body too deep", nil, "PUT", "metadata: {name: " + redis + "}\nspec: {resources: {a: [[[[[x]]]]]}}\n", yamlHeader, tooLarge(yamlbound.FlagMaxDepth)},
		{"YAML body", nil, "PUT", "metadata: {name: " + redis + "}\nspec: {resources: {a.yaml: x}}\n", yamlHeader, ok},
		{"files at the limit", nil, "PUT", prrBody(map[string]string{"a": "", "b": "", "c": ""}), nil, ok},
		{"files over the limit", nil, "PUT", prrBody(map[string]string{"a": "", "b": "", "c": "", "d": ""}), nil, invalid("spec.resources", krm.FlagMaxFiles)},
		{"package bytes over the limit", nil, "PUT", prrBody(map[string]string{"a": big, "b": strings.Repeat("y", 10<<10+1)}), nil, invalid("spec.resources", krm.FlagMaxBytes)},
		{"alias bomb in a file", nil, "PUT", prrBody(map[string]string{"bomb.yaml": hostile.AliasBomb(3, 10)}), nil, invalid(`spec.resources["bomb.yaml"]`, yamlbound.FlagMaxNodes)},
		{"deep file", nil, "PUT", prrBody(map[string]string{"deep.yaml": hostile.Nested(6)}), nil, invalid(`spec.resources["deep.yaml"]`, yamlbound.FlagMaxDepth)},
		{"deep file at the limit", nil, "PUT", prrBody(map[string]string{"deep.yaml": hostile.Nested(5)}), nil, ok},
		{"documents over the limit", nil, "PUT", prrBody(map[string]string{"m.yaml": hostile.Documents(3)}), nil, invalid(`spec.resources["m.yaml"]`, yamlbound.FlagMaxDocuments)},
		{"limits checked on PATCH too", nil, "PATCH", `{"spec":{"resources":{"m.yaml":` + jsonOf(hostile.Documents(3)) + `}}}`, mergeHeader, invalid(`spec.resources["m.yaml"]`, yamlbound.FlagMaxDocuments)},
		{"document bytes over the limit", nil, "PUT", prrBody(map[string]string{"a.yaml": cmYAML + "data: {v: " + strings.Repeat("x", 1024) + "}\n"}), nil, invalid(`spec.resources["a.yaml"]`, yamlbound.FlagMaxDocumentBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			if tt.setup != nil {
				tt.setup(f)
			}
			before := jsonOf(f.prrs[key("default", redis)])
			c := tt.want
			c.method, c.path, c.body, c.header = tt.method, prrs+"/"+redis, tt.body, tt.header
			if tt.header["Content-Type"] == applyPatch {
				c.path += "?fieldManager=test" // required on apply, as in Kubernetes
			}
			c.verify(t, serve(t, New(f, smallLimits), c))
			if c.code >= 400 && jsonOf(f.prrs[key("default", redis)]) != before {
				t.Errorf("a refused request changed the object")
			}
		})
	}
}

// TestLimitsDefaults: the hostile requests of issue 9 against the default
// limits. Each was accepted before.
func TestLimitsDefaults(t *testing.T) {
	tests := []struct {
		name, body string
		header     map[string]string
		code       int
	}{
		// Copies 2^20 times 24 bytes: 25 MB from 1.4 KB.
		{"copy bomb", hostile.CopyPatch("/spec/x", 20), map[string]string{"Content-Type": "application/json-patch+json"}, 413},
		{"alias bomb in a file", prrBody(map[string]string{"bomb.yaml": hostile.AliasBomb(9, 10)}), nil, 422},
		{"deep file", prrBody(map[string]string{"deep.yaml": hostile.Nested(yamlbound.DefaultMaxDepth + 1)}), nil, 422},
		{"many documents", prrBody(map[string]string{"many.yaml": hostile.Documents(yamlbound.DefaultMaxDocuments + 1)}), nil, 422},
		{"apply patch alias bomb", hostile.AliasFanout(3000, 300), map[string]string{"Content-Type": "application/apply-patch+yaml"}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "PUT"
			if tt.header != nil {
				method = "PATCH"
			}
			f := newFake()
			before := jsonOf(f.prrs[key("default", redis)])
			path := prrs + "/" + redis
			if tt.header["Content-Type"] == applyPatch {
				path += "?fieldManager=test"
			}
			rec := serve(t, New(f, Options{}), call{method: method, path: path, body: tt.body, header: tt.header})
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			var st metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || !strings.Contains(st.Message, "over the limit of") {
				t.Errorf("Status %+v does not name the limit (%v)", st, err)
			}
			if jsonOf(f.prrs[key("default", redis)]) != before {
				t.Errorf("a refused request changed the object")
			}
		})
	}
}
