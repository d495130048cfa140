package deploy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kubectl needs an API server even for --dry-run=client: it maps every
// kind to a resource through discovery and asks whether the object exists;
// its schema validation needs the server's OpenAPI. Offline, the test serves
// discovery of the groups in scheme (the real kinds of the Kubernetes API
// types), answers 404 to every object, and runs kubectl with
// --validate=false; TestManifests does the schema part with the API types.

// clusterScoped are the kinds of scheme that are not namespaced.
var clusterScoped = []string{"Namespace", "Node", "PersistentVolume", "ComponentStatus", "ClusterRole", "ClusterRoleBinding", "IngressClass"}

// discovery is an API server that knows scheme's kinds and no objects. It
// records requests that a client-side dry run should never make.
type discovery struct {
	mu         sync.Mutex
	unexpected []string
}

func (d *discovery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		d.mu.Lock()
		d.unexpected = append(d.unexpected, r.Method+" "+r.URL.Path)
		d.mu.Unlock()
		http.Error(w, "a dry run writes nothing", http.StatusMethodNotAllowed)
		return
	}
	groups := map[string][]schema.GroupVersion{}
	for _, gv := range scheme.PrioritizedVersionsAllGroups() {
		groups[gv.Group] = append(groups[gv.Group], gv)
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api":
		reply(w, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	case path == "/apis":
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for g, gvs := range groups {
			if g == "" {
				continue
			}
			group := metav1.APIGroup{Name: g}
			for _, gv := range gvs {
				group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
			}
			group.PreferredVersion = group.Versions[0]
			list.Groups = append(list.Groups, group)
		}
		reply(w, list)
	case path == "/version":
		reply(w, map[string]string{"major": "1", "minor": "37", "gitVersion": "v1.37.0"})
	default:
		if gv, ok := groupVersionOf(path); ok && slices.Contains(groups[gv.Group], gv) {
			reply(w, resources(gv))
			return
		}
		// An object kubectl looks up before applying: none exists.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound, Message: "not found"})
	}
}

// groupVersionOf parses /api/v1 and /apis/GROUP/VERSION.
func groupVersionOf(path string) (schema.GroupVersion, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "api":
		return schema.GroupVersion{Version: parts[1]}, true
	case len(parts) == 3 && parts[0] == "apis":
		return schema.GroupVersion{Group: parts[1], Version: parts[2]}, true
	}
	return schema.GroupVersion{}, false
}

// resources lists the kinds of gv that are API resources: those with a List
// kind (which leaves out options and event types registered alongside).
func resources(gv schema.GroupVersion) *metav1.APIResourceList {
	out := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	known := scheme.KnownTypes(gv)
	for kind := range known {
		if _, ok := known[kind+"List"]; !ok {
			continue
		}
		plural, singular := meta.UnsafeGuessKindToResource(gv.WithKind(kind))
		out.APIResources = append(out.APIResources, metav1.APIResource{
			Name: plural.Resource, SingularName: singular.Resource, Kind: kind,
			Namespaced: !slices.Contains(clusterScoped, kind),
			Verbs:      metav1.Verbs{"get", "list", "create", "update", "patch", "delete"},
		})
	}
	return out
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// kubectl runs kubectl against the discovery server at url with an empty
// configuration of its own and returns stdout, stderr and the error.
func kubectl(t *testing.T, url string, args ...string) (string, string, error) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found on PATH; the manifests are checked with it")
	}
	home := t.TempDir()
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, []byte(`apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "`+url+`"}}]
contexts: [{name: offline, context: {cluster: offline, namespace: default}}]
current-context: offline
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--kubeconfig", config, "--cache-dir", filepath.Join(home, "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+config)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestKubectlDryRun runs `kubectl apply --dry-run=client` on every manifest:
// it must accept every document (one "created (dry run)" line each), print
// nothing on stderr, and send no write.
func TestKubectlDryRun(t *testing.T) {
	d := &discovery{}
	srv := httptest.NewServer(d)
	defer srv.Close()
	for _, file := range manifestFiles(t, ".") {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decode(file, data)
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := kubectl(t, srv.URL, "apply", "--dry-run=client", "--validate=false", "-f", file)
			if err != nil || stderr != "" {
				t.Fatalf("kubectl apply --dry-run=client -f %s: %v\n%s%s", file, err, stdout, stderr)
			}
			if got := strings.Count(stdout, " created (dry run)\n"); got != len(objs) {
				t.Fatalf("kubectl applied %d objects of %s, want %d:\n%s", got, file, len(objs), stdout)
			}
		})
	}
	if len(d.unexpected) > 0 {
		t.Errorf("a client-side dry run sent writes: %v", d.unexpected)
	}
}

// TestKubectlRefuses: the offline server still lets kubectl refuse a kind
// the API does not have and a document that is not YAML.
func TestKubectlRefuses(t *testing.T) {
	srv := httptest.NewServer(&discovery{})
	defer srv.Close()
	dir := t.TempDir()
	for _, c := range []struct{ name, doc, want string }{
		{"kind", "apiVersion: apps/v1\nkind: Deploymint\nmetadata: {name: x}\n", `no matches for kind "Deploymint"`},
		{"group", "apiVersion: app/v1\nkind: Deployment\nmetadata: {name: x}\n", `no matches for kind "Deployment" in version "app/v1"`},
		{"yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: x\n", "error converting YAML to JSON"},
		{"no-name", "apiVersion: v1\nkind: Service\nmetadata: {}\n", "resource name may not be empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name+".yaml")
			if err := os.WriteFile(file, []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := kubectl(t, srv.URL, "apply", "--dry-run=client", "--validate=false", "-f", file)
			if err == nil || !strings.Contains(stderr, c.want) {
				t.Fatalf("kubectl on %q: %v, want an error with %q:\n%s%s", c.doc, err, c.want, stdout, stderr)
			}
		})
	}
}
