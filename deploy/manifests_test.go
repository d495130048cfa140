package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// scheme knows the API groups manifests here may use; a kind outside them
// fails both checks (extend the list when a manifest needs another group).
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme,
		networkingv1.AddToScheme, batchv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict decodes YAML into the API types and refuses unknown and duplicate
// fields, as the API server's strict field validation does.
var strict = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// manifestFiles lists the manifests under root (the YAML and JSON files
// kubectl apply -f would read), as slash paths relative to root.
func manifestFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			rel, err := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests under %s", root)
	}
	return files
}

// object is one decoded document of a manifest.
type object struct {
	file string
	obj  runtime.Object
	meta metav1.Object
	kind string
}

func (o object) String() string { return o.file + ": " + o.kind + " " + o.meta.GetName() }

// decode splits a manifest into documents and decodes each strictly.
func decode(file string, data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		m, ok := obj.(metav1.Object)
		if !ok || m.GetName() == "" {
			return nil, fmt.Errorf("%s: document %d: %s without metadata.name", file, i, gvk.Kind)
		}
		out = append(out, object{file: file, obj: obj, meta: m, kind: gvk.Kind})
	}
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(doc []byte) []byte { return commentLine.ReplaceAll(doc, nil) }

// workload is a pod template with the object that owns it.
type workload struct {
	object
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
	claims   []string // volumeClaimTemplates of a StatefulSet
}

func workloads(objs []object) []workload {
	var out []workload
	for _, o := range objs {
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{object: o, selector: w.Spec.Selector, template: w.Spec.Template})
		case *appsv1.StatefulSet:
			wl := workload{object: o, selector: w.Spec.Selector, template: w.Spec.Template}
			for _, c := range w.Spec.VolumeClaimTemplates {
				wl.claims = append(wl.claims, c.Name)
			}
			out = append(out, wl)
		case *appsv1.DaemonSet:
			out = append(out, workload{object: o, selector: w.Spec.Selector, template: w.Spec.Template})
		}
	}
	return out
}

// selects returns the workloads whose pods sel matches.
func selects(sel labels.Selector, ws []workload) []workload {
	var out []workload
	for _, w := range ws {
		if !sel.Empty() && sel.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// check finds what the API server or the kubelet would refuse or silently
// get wrong in one layout (the objects of one directory, applied together).
func check(objs []object) []error {
	var errs []error
	fail := func(o object, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{}
	for _, o := range objs {
		key := o.kind + "/" + o.meta.GetName()
		if seen[key] {
			fail(o, "defined twice")
		}
		seen[key] = true
	}
	ws := workloads(objs)
	for _, w := range ws {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		switch {
		case err != nil:
			fail(w.object, "selector: %v", err)
		case sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)):
			fail(w.object, "selector %v does not match the pod template's labels %v", sel, w.template.Labels)
		}
		for _, err := range checkPod(w.template.Spec, w.claims) {
			fail(w.object, "%v", err)
		}
	}
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *corev1.Service:
			services[x.Name] = x
			pods := selects(labels.SelectorFromSet(x.Spec.Selector), ws)
			if len(pods) == 0 {
				fail(o, "selector %v selects no pod template here", x.Spec.Selector)
			}
			for _, p := range x.Spec.Ports {
				for _, w := range pods {
					if !hasPort(w.template.Spec, p.TargetPort, p.Port) {
						fail(o, "port %s: pods of %s have no port %s", p.Name, w.meta.GetName(), p.TargetPort.String())
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			sel, err := metav1.LabelSelectorAsSelector(x.Spec.Selector)
			if err != nil || len(selects(sel, ws)) == 0 {
				fail(o, "selector %v selects no pod template here (%v)", x.Spec.Selector, err)
			}
		}
	}
	for _, w := range ws {
		if sts, ok := w.obj.(*appsv1.StatefulSet); ok && services[sts.Spec.ServiceName] == nil {
			fail(w.object, "serviceName %q is not a Service here", sts.Spec.ServiceName)
		}
	}
	return errs
}

// envRef is a $(VAR) reference, which the kubelet expands in command and
// args from the container's env and leaves as is when VAR is not defined.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// fileFlag is a flag whose value is a file the container must find.
var fileFlag = regexp.MustCompile(`^--[a-z-]*file=(/.+)$`)

func checkPod(spec corev1.PodSpec, claims []string) []error {
	var errs []error
	volumes := slices.Clone(claims)
	for _, v := range spec.Volumes {
		volumes = append(volumes, v.Name)
	}
	for _, c := range spec.Containers {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("container %s: %s", c.Name, fmt.Sprintf(format, args...)))
		}
		if c.Image == "" {
			fail("no image")
		}
		env := map[string]bool{}
		for _, e := range c.Env {
			env[e.Name] = true
		}
		for _, arg := range slices.Concat(c.Command, c.Args) {
			for _, m := range envRef.FindAllStringSubmatch(arg, -1) {
				if !env[m[1]] {
					fail("%q refers to $(%s), which is not in env", arg, m[1])
				}
			}
			if m := fileFlag.FindStringSubmatch(arg); m != nil && !mounted(c, m[1]) {
				fail("%q names a file under no volume mount", arg)
			}
		}
		for _, m := range c.VolumeMounts {
			if !slices.Contains(volumes, m.Name) {
				fail("volume mount %q has no volume", m.Name)
			}
		}
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if p == nil || p.HTTPGet == nil {
				continue
			}
			if !hasPort(corev1.PodSpec{Containers: []corev1.Container{c}}, p.HTTPGet.Port, 0) {
				fail("%s probe port %s is not a container port", name, p.HTTPGet.Port.String())
			}
		}
	}
	return errs
}

// hasPort reports whether a container of spec has port target (a name or a
// number; an unset target means the Service port itself).
func hasPort(spec corev1.PodSpec, target intstr.IntOrString, servicePort int32) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			switch {
			case target.Type == intstr.String && target.StrVal != "":
				if p.Name == target.StrVal {
					return true
				}
			case target.IntVal != 0:
				if p.ContainerPort == target.IntVal {
					return true
				}
			case p.ContainerPort == servicePort:
				return true
			}
		}
	}
	return false
}

func mounted(c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

// layouts decodes every manifest under root and groups the objects by
// directory: each directory is one layout, applied on its own.
func layouts(t *testing.T, root string) map[string][]object {
	t.Helper()
	out := map[string][]object{}
	for _, f := range manifestFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(f, data)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(objs) == 0 {
			t.Errorf("%s: no objects", f)
		}
		dir := filepath.Dir(f)
		out[dir] = append(out[dir], objs...)
	}
	return out
}

// TestManifests decodes every manifest strictly into the Kubernetes API
// types and checks each layout's objects fit together.
func TestManifests(t *testing.T) {
	for dir, objs := range layouts(t, ".") {
		t.Run(dir, func(t *testing.T) {
			for _, err := range check(objs) {
				t.Error(err)
			}
		})
	}
}

// TestCheckCatches: the checks above find the mistakes they are for.
func TestCheckCatches(t *testing.T) {
	const good = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
        env: [{name: A, value: a}]
        args: [--a=$(A), --ca-file=/etc/web/ca.crt]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}}
        volumeMounts: [{name: tls, mountPath: /etc/web}]
      volumes: [{name: tls, secret: {secretName: web}}]
`
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"good", "", "", ""},
		{"unknown field", "  selector: {matchLabels", "  replica: 2\n  selector: {matchLabels", `unknown field "spec.replica"`},
		{"wrong type", "  selector: {matchLabels", "  replicas: three\n  selector: {matchLabels", "spec.replicas"},
		{"unknown kind", "kind: Deployment", "kind: Deploymint", "no kind \"Deploymint\""},
		{"selector", "matchLabels: {app: web}", "matchLabels: {app: webb}", "does not match the pod template"},
		{"service selector", "selector: {app: web}", "selector: {app: api}", "selects no pod template"},
		{"service port", "targetPort: http", "targetPort: https", "have no port https"},
		{"probe port", "port: http}", "port: 9090}", "probe port 9090"},
		{"env reference", "--a=$(A)", "--a=$(B)", "$(B)"},
		{"volume", "volumes: [{name: tls", "volumes: [{name: certs", `volume mount "tls" has no volume`},
		{"file flag", "--ca-file=/etc/web/ca.crt", "--ca-file=/etc/other/ca.crt", "under no volume mount"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, c.old, c.new, 1)
			if c.old != "" && doc == good {
				t.Fatalf("%q not in the manifest", c.old)
			}
			var errs []error
			objs, err := decode("test.yaml", []byte(doc))
			if err != nil {
				errs = append(errs, err)
			} else {
				errs = check(objs)
			}
			switch {
			case c.want == "" && len(errs) > 0:
				t.Fatalf("unexpected: %v", errs)
			case c.want != "" && (len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), c.want)):
				t.Fatalf("errors %v, want one with %q", errs, c.want)
			}
		})
	}
}
