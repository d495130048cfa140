package console_test

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

func metaType(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func objMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: testNS} }

// Hostile text the pages must show escaped, never as markup.
const (
	hostileScript = `</script><script>alert(1)</script>`
	hostileHTML   = `<img src=x onerror=alert(2)>`
)

// fixture is a small release history: a catalog package published twice
// (v2 proposed first, then published), with hostile text in a file and
// an annotation, and a deployment package cloned from v1 (so an upgrade
// is available once v2 is out).
type fixture struct {
	v1, v2, clone, draft string
}

func seed(s *stack, publishV2 bool) fixture {
	s.repository("blueprints", false, "templates "+hostileHTML)
	s.repository("sites", true, "")
	id := pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "apps", Package: "web", Workspace: "first"}
	var f fixture
	f.v1 = s.draft(id, pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "a web server"}})
	s.setFiles(f.v1, map[string]string{
		"Kptfile":         "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n",
		"deploy/app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 2\n",
		"deploy/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    note: \"" + `</script><script>alert(3)</script>` + "\"\n",
		"README.md":       hostileScript + "\n",
	})
	pr := s.get(f.v1)
	pr.Annotations = map[string]string{"example.com/note": hostileHTML}
	s.api("PUT", pkgPath+"/packagerevisions/"+f.v1, pr, nil)
	s.publish(f.v1)

	f.clone = s.draft(pkgapi.PackageRevID{Target: "eu", Repository: "sites", Realm: "apps", Package: "web", Workspace: "initial"},
		pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: f.v1}}})
	s.publish(f.clone)

	id.Workspace = "second"
	f.v2 = s.draft(id, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: f.v1}}})
	s.setFiles(f.v2, map[string]string{
		"Kptfile":         "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n",
		"deploy/app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 3\n",
		"deploy/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
		"README.md":       hostileScript + "\nsecond\n",
	})
	s.move(f.v2, pkgapi.LifecycleProposed, false)
	if publishV2 {
		s.move(f.v2, pkgapi.LifecyclePublished, true)
	}

	id.Workspace = "third"
	f.draft = s.draft(id, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: f.v1}}})
	return f
}
