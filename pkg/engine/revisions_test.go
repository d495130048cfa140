package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

func TestCreateValidation(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	h.createRepo("deploy", true)
	with := func(f func(id *pkgapi.PackageRevID)) pkgapi.PackageRevID {
		id := catalogID
		f(&id)
		return id
	}
	tests := []struct {
		name  string
		pr    pkgapi.PackageRevision
		want  error
		words []string
	}{
		{"bad workspace", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: with(func(id *pkgapi.PackageRevID) { id.Workspace = "Bad_WS" })}},
			errdef.ErrInvalid, []string{"workspace"}},
		{"bad package", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: with(func(id *pkgapi.PackageRevID) { id.Package = "" })}},
			errdef.ErrInvalid, []string{"package"}},
		{"revision given", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: with(func(id *pkgapi.PackageRevID) { id.Revision = "v1" })}},
			errdef.ErrInvalid, []string{"spec.packageRevID.revision"}},
		{"created as published", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID, Lifecycle: pkgapi.LifecyclePublished}},
			errdef.ErrInvalid, []string{"spec.lifecycle"}},
		{"name disagrees with spec", pkgapi.PackageRevision{ObjectMeta: metaNS("catalog.blueprints..other.main"), Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID}},
			errdef.ErrInvalid, []string{"metadata.name"}},
		{"unknown repository", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: with(func(id *pkgapi.PackageRevID) { id.Repository = "nope" })}},
			errdef.ErrInvalid, []string{"spec.packageRevID.repository"}},
		{"catalog target in deployment repo", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: with(func(id *pkgapi.PackageRevID) { id.Repository = "deploy" })}},
			errdef.ErrInvalid, []string{"spec.packageRevID.target"}},
		{"deployment target in catalog repo", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: with(func(id *pkgapi.PackageRevID) { id.Target = "edge" })}},
			errdef.ErrInvalid, []string{"spec.packageRevID.target"}},
		{"unknown task", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID, Tasks: []pkgapi.Task{{Type: "render"}}}},
			errdef.ErrInvalid, []string{"spec.tasks[0].type"}},
		{"upgrade without refs", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID, Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeUpgrade}}}},
			errdef.ErrInvalid, []string{"spec.tasks[0].upgrade.newUpstream.name"}},
		{"clone without upstream", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID, Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeClone}}}},
			errdef.ErrInvalid, []string{"spec.tasks[0].clone.upstream.name"}},
		{"edit without source", pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID, Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeEdit}}}},
			errdef.ErrInvalid, []string{"spec.tasks[0].edit.source.name"}},
		{"bad namespace", pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID}},
			errdef.ErrInvalid, []string{"metadata.namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.eng.CreatePackageRevision(h.ctx, &tt.pr)
			wantErr(t, err, tt.want, tt.words...)
		})
	}
	if got := h.names(); len(got) != 0 {
		t.Errorf("refused creations left revisions: %v", got)
	}

	t.Run("identity from metadata.name alone", func(t *testing.T) {
		pr, err := h.eng.CreatePackageRevision(h.ctx, &pkgapi.PackageRevision{ObjectMeta: metaNS(nameOf(catalogID))})
		if err != nil {
			t.Fatal(err)
		}
		if pr.Spec.PackageRevID.Realm != "net/core" || len(pr.Spec.Tasks) != 1 || pr.Spec.Tasks[0].Type != pkgapi.TaskTypeInit {
			t.Errorf("created %+v", pr.Spec)
		}
	})
	t.Run("get of malformed and unknown names", func(t *testing.T) {
		for _, n := range []string{"x", "catalog.nope..app.main", "edge.blueprints.net:core.app.main", "catalog.blueprints.net:core.app.nope"} {
			_, err := h.eng.GetPackageRevision(h.ctx, testNS, n)
			wantErr(t, err, errdef.ErrNotFound)
			_, err = h.eng.GetPackageRevisionResources(h.ctx, testNS, n)
			wantErr(t, err, errdef.ErrNotFound)
		}
	})
}

// orasPush pushes files the way `oras push <ref> a.yaml b.yaml` does: an
// empty config, one layer per file named by its title, tags given.
func orasPush(t *testing.T, target oras.Target, files map[string]string, annotations map[string]string, tags ...string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	mem := memory.New()
	var layers []ocispec.Descriptor
	for _, p := range sortedKeys(files) {
		d := content.NewDescriptorFromBytes("application/vnd.oci.image.layer.v1.tar", []byte(files[p]))
		d.Annotations = map[string]string{ocispec.AnnotationTitle: p}
		if err := mem.Push(ctx, d, strings.NewReader(files[p])); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d)
	}
	root, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, "application/vnd.example.thing", oras.PackManifestOptions{
		Layers: layers, ManifestAnnotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Tag(ctx, root, tags[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, mem, tags[0], target, tags[0], oras.DefaultCopyOptions); err != nil {
		t.Fatalf("oras.Copy: %v", err)
	}
	for _, tag := range tags[1:] {
		if err := target.Tag(ctx, root, tag); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// quiet hides the store's change notifications from the engine, as when
// another replica or a tool writes to the registry.
type quiet struct {
	store.Store
	store.Lister
}

func TestPlainOrasPush(t *testing.T) {
	files := map[string]string{"deploy.yaml": deployYAML, "svc/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n"}
	run := func(t *testing.T, b backend, h *harness) {
		h.createRepo("blueprints", false)
		pushStore := b.packages(h)
		repo, err := pushStore.Repository(h.ctx, b.prefix("blueprints")+"/pushed")
		if err != nil {
			t.Fatal(err)
		}
		// Listing once builds the index, so what follows must be found again.
		if got := h.names(); len(got) != 0 {
			t.Fatalf("names %v", got)
		}
		desc := orasPush(t, repo, files, nil, "v1", "latest")
		if err := h.eng.Rescan(context.Background()); err != nil {
			t.Fatal(err)
		}
		name := "catalog.blueprints..pushed.v1"
		pr := h.get(name)
		if pr.Spec.Lifecycle != pkgapi.LifecyclePublished || pr.Spec.PackageRevID.Revision != "v1" || pr.Spec.PackageRevID.Package != "pushed" {
			t.Errorf("read as %s %+v", pr.Spec.Lifecycle, pr.Spec.PackageRevID)
		}
		if pr.UID == "" || pr.Labels[pkgapi.LatestRevisionLabel] != "true" || pr.Status.OCI.Digest != desc.Digest.String() {
			t.Errorf("defaults: uid %q labels %v digest %s", pr.UID, pr.Labels, pr.Status.OCI.Digest)
		}
		if again := h.get(name); again.UID != pr.UID {
			t.Errorf("UID is not stable: %s, %s", pr.UID, again.UID)
		}
		if got := h.resources(name).Spec.Resources; !maps.Equal(got, files) {
			t.Errorf("files %v, want %v", got, files)
		}
		// A second push to the same package after the index knows it: found after Rescan.
		desc2 := orasPush(t, repo, map[string]string{"deploy.yaml": deployYAML + "# v2\n"}, map[string]string{ocispec.AnnotationCreated: "2025-01-01T00:00:00Z"}, "v2", "latest")
		if err := h.eng.Rescan(context.Background()); err != nil {
			t.Fatal(err)
		}
		pr2 := h.get("catalog.blueprints..pushed.v2")
		if pr2.Status.OCI.Digest != desc2.Digest.String() || pr2.Labels[pkgapi.LatestRevisionLabel] != "true" || pr2.CreationTimestamp.Year() != 2025 {
			t.Errorf("v2: %+v", pr2.ObjectMeta)
		}
		if v1 := h.get(name); v1.Labels[pkgapi.LatestRevisionLabel] != "" {
			t.Errorf("v1 still latest after v2 was pushed")
		}
		// It is a published revision like any other: edit it, publish v3.
		edit := pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Package: "pushed", Workspace: "mine"}
		h.mustCreate(edit, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: name}}})
		if got := h.resources(nameOf(edit)).Spec.Resources; !maps.Equal(got, files) {
			t.Errorf("edit of a plain push: files %v", got)
		}
		if v3 := h.publish(nameOf(edit)); v3.Spec.PackageRevID.Revision != "v3" {
			t.Errorf("revision %q, want v3", v3.Spec.PackageRevID.Revision)
		}
		// Artifacts outside the layout of the repository are ignored.
		other, err := pushStore.Repository(h.ctx, b.prefix("blueprints")+"Z/else")
		if err == nil {
			orasPush(t, other, files, nil, "v1")
		}
		if err := h.eng.Rescan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := h.names(); len(got) != 3 { // v1, v2 and mine (v3)
			t.Errorf("names %v", got)
		}
		// A revision removed behind the engine is gone after Rescan, for Get too.
		if err := repo.Delete(h.ctx, desc); err != nil {
			t.Fatal(err)
		}
		if err := h.eng.Rescan(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err = h.eng.GetPackageRevision(h.ctx, testNS, name)
		wantErr(t, err, errdef.ErrNotFound)
	}
	t.Run("embedded", func(t *testing.T) {
		b := embeddedBackend()
		h := newHarness(t, b)
		h.layout.Close()
		h.open(func(s *layout.Store) store.Store { return quiet{s, s} })
		run(t, b, h)
	})
	t.Run("remote", func(t *testing.T) {
		b := remoteBackend(t)
		run(t, b, newHarness(t, b))
	})
}

// TestEmbeddedPushNotifies: a push into the embedded store (as through /v2/)
// shows up without a Rescan.
func TestEmbeddedPushNotifies(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	if got := h.names(); len(got) != 0 {
		t.Fatal(got)
	}
	repo := h.v2(testNS + "/blueprints/realm/pushed")
	orasPush(t, repo, map[string]string{"a.yaml": deployYAML}, nil, "v1")
	if got := h.names(); len(got) != 1 || got[0] != "catalog.blueprints.realm.pushed.v1" {
		t.Errorf("names %v", got)
	}
	orasPush(t, repo, map[string]string{"a.yaml": deployYAML + "#\n"}, nil, "v2")
	h.get("catalog.blueprints.realm.pushed.v2")
}

func TestRestartSeesEverything(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	h.createRepo("deploy", true)
	catName := nameOf(catalogID)
	h.mustCreate(catalogID)
	if _, err := h.setResources(catName, map[string]string{"Kptfile": h.resources(catName).Spec.Resources["Kptfile"], "deploy.yaml": deployYAML}); err != nil {
		t.Fatal(err)
	}
	h.publish(catName)
	h.mustCreate(deployID, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: catName}}})
	if _, err := h.setLifecycle(nameOf(deployID), pkgapi.LifecycleProposed); err != nil {
		t.Fatal(err)
	}

	snapshot := func() (string, string) {
		repos, err := h.eng.ListRepositories(h.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range repos {
			repos[i].Status.LastScanTime = nil // the background scan moves it
		}
		prs, err := h.eng.ListPackageRevisions(h.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		prrs, err := h.eng.ListPackageRevisionResources(h.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(repos)
		b, _ := json.Marshal([]any{prs, prrs})
		return string(a), string(b)
	}
	repos1, prs1 := snapshot()

	// A second open of the same directory fails fast while the first holds it.
	if _, err := layout.Open(h.dir); err == nil {
		t.Fatal("second Open of a locked directory succeeded")
	}
	h.restart()
	repos2, prs2 := snapshot()
	if repos1 != repos2 {
		t.Errorf("repositories differ after restart:\n%s\n%s", repos1, repos2)
	}
	if prs1 != prs2 {
		t.Errorf("package revisions differ after restart:\n%s\n%s", prs1, prs2)
	}
	// And it keeps working: publish the proposed clone.
	if pr, err := h.approve(nameOf(deployID), pkgapi.LifecyclePublished); err != nil || pr.Spec.PackageRevID.Revision != "v1" {
		t.Fatalf("publish after restart: %v %v", pr, err)
	}
}

// TestConcurrentPublish publishes many drafts of one package at once: every
// one gets its own vN, and no write is lost.
func TestConcurrentPublish(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	const n = 6
	for i := range n {
		id := catalogID
		id.Workspace = fmt.Sprintf("ws%d", i)
		h.mustCreate(id)
		if _, err := h.setLifecycle(nameOf(id), pkgapi.LifecycleProposed); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	revs := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := catalogID
			id.Workspace = fmt.Sprintf("ws%d", i)
			pr, err := h.eng.GetPackageRevision(h.ctx, testNS, nameOf(id))
			if err != nil {
				errs[i] = err
				return
			}
			pr.Spec.Lifecycle = pkgapi.LifecyclePublished
			out, err := h.eng.ApprovePackageRevision(h.ctx, pr, "bot")
			if err != nil {
				errs[i] = err
				return
			}
			revs[i] = out.Spec.PackageRevID.Revision
			// Readers run meanwhile.
			_, errs[i] = h.eng.ListPackageRevisions(h.ctx, "")
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("ws%d: %v", i, errs[i])
			continue
		}
		if seen[revs[i]] {
			t.Errorf("revision %s given twice", revs[i])
		}
		seen[revs[i]] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[names.RevisionTag(i)] {
			t.Errorf("no revision %s among %v", names.RevisionTag(i), revs)
		}
	}
	tags := h.tags(testNS + "/blueprints/net/core/app")
	if len(tags) != n+1 {
		t.Errorf("tags %v", tags)
	}
}

// TestEmptyPackageAndFormat checks what the engine writes is the documented format.
func TestWrittenFormat(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	pr := h.mustCreate(catalogID, pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "the app"}})
	repo, err := h.layout.Repository(h.ctx, testNS+"/blueprints/net/core/app")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo.Resolve(h.ctx, names.WorkspaceTag("main"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := content.FetchAll(h.ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := format.ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != format.ArtifactType || len(m.Layers) != 1 || format.Classify(m.Layers[0]) != format.KindDirectory {
		t.Fatalf("manifest %s", data)
	}
	meta := format.Decode(m.Annotations)
	if meta.Lifecycle != pkgapi.LifecycleDraft || meta.Package != "app" || meta.Realm != "net/core" || meta.Workspace != "main" ||
		meta.Description != "the app" || meta.UID != string(pr.UID) || meta.Created.IsZero() {
		t.Errorf("annotations %v", m.Annotations)
	}
}

// TestReturnedObjectsAreCopies: callers own what the engine returns; changing
// it must not change what the engine serves next.
func TestReturnedObjectsAreCopies(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	h.createRepo("deploy", true)
	catName := nameOf(catalogID)
	pr, err := h.eng.CreatePackageRevision(h.ctx, &pkgapi.PackageRevision{
		ObjectMeta: metaNS(""),
		Spec: pkgapi.PackageRevisionSpec{PackageRevID: catalogID,
			Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "d"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.publish(catName)
	h.mustCreate(deployID, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: catName}}})
	h.mustCreate(pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Package: "gated", Workspace: "w"})
	_ = pr

	before, _ := json.Marshal(h.names())
	snapshot := func() string {
		prs, err := h.eng.ListPackageRevisions(h.ctx, testNS)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(prs)
		return string(b)
	}
	want := snapshot()
	scribble := func(pr *pkgapi.PackageRevision) {
		for i := range pr.Spec.Tasks {
			pr.Spec.Tasks[i].Type = "scribbled"
			if pr.Spec.Tasks[i].Init != nil {
				pr.Spec.Tasks[i].Init.Description = "scribbled"
			}
		}
		if pr.Spec.Upstream != nil {
			pr.Spec.Upstream.Name = "scribbled"
		}
		if pr.Status.UpstreamLock != nil {
			pr.Status.UpstreamLock.Digest = "scribbled"
		}
		for i := range pr.Spec.ReadinessGates {
			pr.Spec.ReadinessGates[i].ConditionType = "scribbled"
		}
		for k := range pr.Labels {
			pr.Labels[k] = "scribbled"
		}
		pr.Status.OCI.Digest = "scribbled"
	}
	prs, _ := h.eng.ListPackageRevisions(h.ctx, testNS)
	for i := range prs {
		scribble(&prs[i])
		got := h.get(prs[i].Name)
		scribble(got)
	}
	if got := snapshot(); got != want {
		t.Errorf("changing returned objects changed the engine's:\n%s\n%s", want, got)
	}
	after, _ := json.Marshal(h.names())
	if string(before) != string(after) {
		t.Errorf("names changed")
	}
}

// TestRefusedWritesLeaveNoTrace: on the embedded store, a refused request
// changes no file of the data directory.
func TestRefusedWritesLeaveNoTrace(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	catName := nameOf(catalogID)
	h.mustCreate(catalogID)
	gated := pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Package: "gated", Workspace: "w"}
	if _, err := h.eng.CreatePackageRevision(h.ctx, &pkgapi.PackageRevision{ObjectMeta: metaNS(""),
		Spec: pkgapi.PackageRevisionSpec{PackageRevID: gated, ReadinessGates: []pkgapi.ReadinessGate{{ConditionType: "Tested"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.setLifecycle(nameOf(gated), pkgapi.LifecycleProposed); err != nil {
		t.Fatal(err)
	}
	kptfile := h.resources(catName).Spec.Resources["Kptfile"]
	before := dirFiles(t, h.dir)
	refused := map[string]func() error{
		"bad YAML": func() error {
			_, err := h.setResources(catName, map[string]string{"Kptfile": kptfile, "a.yaml": "a: [\n"})
			return err
		},
		"not KRM": func() error {
			_, err := h.setResources(catName, map[string]string{"Kptfile": kptfile, "a.yaml": "a: b\n"})
			return err
		},
		"escaping path": func() error {
			_, err := h.setResources(catName, map[string]string{"../a.yaml": deployYAML})
			return err
		},
		"stale resourceVersion": func() error {
			prr := h.resources(catName)
			prr.ResourceVersion = "stale"
			prr.Spec.Resources = map[string]string{"x.txt": "x"}
			_, err := h.eng.UpdatePackageRevisionResources(h.ctx, prr)
			return err
		},
		"workspace taken": func() error { _, err := h.create(catalogID); return err },
		"gates unmet":     func() error { _, err := h.approve(nameOf(gated), pkgapi.LifecyclePublished); return err },
		"contents of proposed": func() error {
			_, err := h.setResources(nameOf(gated), map[string]string{"x.txt": "x"})
			return err
		},
		"repository twice": func() error {
			_, err := h.eng.CreateRepository(h.ctx, &configapi.Repository{ObjectMeta: metaNS("blueprints")})
			return err
		},
	}
	for name, f := range refused {
		t.Run(name, func(t *testing.T) {
			if err := f(); err == nil {
				t.Fatal("not refused")
			}
			if after := dirFiles(t, h.dir); !maps.Equal(after, before) {
				t.Errorf("data directory changed:\n%v\n%v", before, after)
			}
		})
	}
}
