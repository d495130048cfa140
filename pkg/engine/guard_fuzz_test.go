package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"oras.land/oras-go/v2/content"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/registry"
)

// fuzzWorld is a data directory with published revisions, deletion
// proposals, a tombstone, a draft and a proposed revision, made once and
// copied for every input.
type fuzzWorld struct {
	dir       string
	protected map[string]string // "path:tag" -> digest that must never change
	latest    map[string]string // path -> where latest was
	revisions map[string]string // object name -> "lifecycle digest" that must stay
	bodies    [][]byte          // manifests to push: the package's own and others
	digests   []digest.Digest   // blobs and manifests to delete
	// named indexes of bodies and digests, for the seeds
	body, dig map[string]byte
}

const fuzzPrefix = testNS + "/fz"

var (
	fuzzPaths = []string{fuzzPrefix + "/app", fuzzPrefix + "/r/web", fuzzPrefix + "x/app", "other/x", fuzzPrefix, "pkgserver-system/repositories"}
	fuzzTags  = []string{"v1", "v2", "v3", "v4", "v5", "latest", "ws.d", "ws.p", "ws.new", "v2.deletion-proposed", "v3.deleted", "x", "ws.one", "ws.v4"}
)

func newFuzzWorld(f *testing.F) *fuzzWorld {
	w := &fuzzWorld{dir: f.TempDir(), protected: map[string]string{}, latest: map[string]string{}, revisions: map[string]string{}, body: map[string]byte{}, dig: map[string]byte{}}
	rig := openRig(f, w.dir, "", "fz")
	app := func(ws string) string { return nameOf(rig.id("app", ws)) }
	webID := pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "fz", Realm: "r", Package: "web", Workspace: "one"}
	rig.must("repo", rig.createRepo("fz"))
	for _, ws := range []string{"one", "two", "three"} {
		rig.must("create", rig.create(rig.id("app", ws)))
		rig.must("files", rig.setFiles(app(ws), map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + ws + "\n"}))
		rig.publish(app(ws))
	}
	rig.must("create", rig.create(webID))
	rig.publish(nameOf(webID))
	rig.must("propose deletion", rig.approve(app("three"), pkgapi.LifecycleDeletionProposed))
	rig.must("delete", rig.eng.DeletePackageRevision(rig.ctx, testNS, app("three")))
	rig.must("propose deletion", rig.approve(app("two"), pkgapi.LifecycleDeletionProposed))
	rig.must("create", rig.create(rig.id("app", "d")))
	rig.must("create", rig.create(rig.id("app", "v4"))) // a draft named like the next tag
	rig.must("create", rig.create(rig.id("app", "p")))
	rig.must("propose", rig.update(app("p"), func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed }))
	for _, name := range []string{app("one"), app("two"), nameOf(webID)} {
		pr := rig.get(name)
		w.revisions[name] = string(pr.Spec.Lifecycle) + " " + pr.Status.OCI.Digest
	}
	for _, p := range []string{fuzzPrefix + "/app", fuzzPrefix + "/r/web"} {
		repo, err := rig.layout.Repository(rig.ctx, p)
		rig.must("repository", err)
		var tags []string
		rig.must("tags", repo.Tags(rig.ctx, "", func(t []string) error { tags = append(tags, t...); return nil }))
		for _, tag := range tags {
			d, err := repo.Resolve(rig.ctx, tag)
			rig.must("resolve", err)
			switch {
			case strings.HasPrefix(tag, "ws."): // drafts may change through /v2/
			case tag == "latest": // moves to a new vN pushed with it
				w.latest[p] = d.Digest.String()
			default:
				w.protected[p+":"+tag] = d.Digest.String()
			}
			body, err := content.FetchAll(rig.ctx, repo, d)
			rig.must("fetch", err)
			key := strings.TrimPrefix(p, fuzzPrefix+"/") + ":" + tag
			w.body[key] = byte(len(w.bodies))
			w.bodies = append(w.bodies, body)
			var m ocispec.Manifest
			rig.must("parse", json.Unmarshal(body, &m))
			w.dig[key] = byte(len(w.digests))
			w.dig[key+" config"] = byte(len(w.digests) + 1)
			w.digests = append(w.digests, d.Digest, m.Config.Digest)
			for i, l := range m.Layers {
				w.dig[fmt.Sprintf("%s layer%d", key, i)] = byte(len(w.digests))
				w.digests = append(w.digests, l.Digest)
			}
		}
	}
	// Manifests of other tools, some of pkgserver's own types, some broken.
	for _, typ := range []string{"plain", format.DeletionMarkerType, format.TombstoneType} {
		for _, ws := range []string{"", "d", "one", "fresh"} {
			w.body[typ+" "+ws] = byte(len(w.bodies))
			var ann map[string]string
			if ws != "" {
				ann = map[string]string{format.AnnotationWorkspace: ws}
			}
			w.bodies = append(w.bodies, plainManifest(strings.TrimPrefix(typ, "plain"), ann))
		}
	}
	w.body["broken"] = byte(len(w.bodies))
	w.bodies = append(w.bodies, []byte("{"), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	rig.close()
	return w
}

// plainManifest is a manifest as oras push makes it, of one small file;
// its blobs are pushed by the fuzz target before any manifest.
func plainManifest(artifactType string, annotations map[string]string) []byte {
	if artifactType == "" {
		artifactType = "application/vnd.unknown.artifact.v1"
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: ocispec.DescriptorEmptyJSON, Annotations: annotations,
		Layers: []ocispec.Descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.FromBytes(fuzzFile), Size: int64(len(fuzzFile)),
			Annotations: map[string]string{ocispec.AnnotationTitle: "f.yaml"}}}}
	b, _ := json.Marshal(m)
	return b
}

var fuzzFile = []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n")

// FuzzRegistryGuard sends sequences of /v2/ writes (pushes of manifests
// and tags, deletes of tags, manifests and blobs) built from the input to
// the embedded registry with the engine's lifecycle guard, over published
// revisions, a deletion proposal, a tombstone, a draft and a proposed
// revision. Whatever is accepted, every published revision's tags and
// manifest stay as they were with all their blobs, the API still serves
// them unchanged, no answer is a server fault, and the engine's index
// equals a fresh engine's read of the store.
func FuzzRegistryGuard(f *testing.F) {
	w := newFuzzWorld(f)
	// One request per four bytes: kind, path, tag, manifest or digest
	// (indexes into fuzzPaths, fuzzTags, w.bodies, w.digests).
	const (
		push, delTag, delManifest, delBlob, pushTags = 0, 1, 2, 3, 4
		app, web, appx, other, prefix, config        = 0, 1, 2, 3, 4, 5
		v1, v2, v3, v4, v5, latest, wsD, wsP, wsNew  = 0, 1, 2, 3, 4, 5, 6, 7, 8
		marker, tomb                                 = 9, 10
	)
	at := func(m map[string]byte) func(string) byte {
		return func(k string) byte {
			i, ok := m[k]
			if !ok {
				f.Fatalf("no %q among %v", k, slices.Sorted(maps.Keys(m)))
			}
			return i
		}
	}
	b, d := at(w.body), at(w.dig)
	for _, seed := range [][]byte{
		{push, app, v5, b("plain ")},                                          // not the next number
		{push, app, v3, b("plain ")},                                          // over a tombstone
		{push, app, v1, b("plain ")},                                          // over v1
		{push, app, v4, b("app:v1")},                                          // oras tag v1 v4
		{push, app, v4, b("app:ws.d")},                                        // a draft's manifest as the next vN
		{push, app, latest, b("app:v1")},                                      // latest at an old revision
		{push, app, marker, b(format.DeletionMarkerType + " ")},               // a deletion proposal
		{push, app, v4, b(format.TombstoneType + " ")},                        // a tombstone as the next vN
		{push, app, v4, b("plain one")},                                       // a workspace that is taken
		{push, app, v4, b("plain ")},                                          // named v4 like the draft v4
		{push, app, wsP, b("plain ")},                                         // over a proposed revision
		{push, app, wsNew, b("plain fresh"), push, app, v4, b("plain fresh")}, // one manifest as a draft and as the next vN
		{push, app, wsD, b("broken")},
		{pushTags, app, v4, b("plain ")},
		{delTag, app, v1, 0}, {delTag, app, latest, 0}, {delTag, app, marker, 0}, {delTag, app, tomb, 0},
		{delTag, app, wsD, 0, delTag, app, wsP, 0},
		{delManifest, app, 0, d("app:v1")}, {delManifest, app, 0, d("app:v2")}, {delManifest, app, 0, d("app:ws.p")},
		{delBlob, app, 0, d("app:v1 config")}, {delBlob, app, 0, d("app:v1 layer0")}, {delBlob, app, 0, d("app:ws.d layer0")},
		{delBlob, web, 0, d("r/web:v1 layer0")},
		{push, other, v1, b("plain "), delTag, other, v1, 0}, {push, appx, v1, b("plain ")}, {push, prefix, v1, b("plain ")},
		{push, config, 0, b("plain ")},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(w.dir)); err != nil {
			t.Fatal(err)
		}
		rig := openRig(t, dir, "", "fz")
		reg := fuzzRegistry(t, rig)
		do := func(method, path string, body []byte, ct string) int {
			req := httptest.NewRequest(method, path, bytes.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if os.Getenv("FUZZDEBUG") != "" {
				t.Logf("%s %s: %d %.200s", method, path, rec.Code, rec.Body)
			}
			if rec.Code >= 500 {
				t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
			}
			return rec.Code
		}
		pick := func(i int, n int) int {
			if i < len(ops) {
				return int(ops[i]) % n
			}
			return 0
		}
		for i := 0; i < len(ops); i += 4 {
			path := fuzzPaths[pick(i+1, len(fuzzPaths))]
			tag := fuzzTags[pick(i+2, len(fuzzTags))]
			body := w.bodies[pick(i+3, len(w.bodies))]
			dig := w.digests[pick(i+3, len(w.digests))]
			switch pick(i, 5) {
			case 0: // push a manifest by tag, its blobs first
				for _, b := range [][]byte{ocispec.DescriptorEmptyJSON.Data, fuzzFile} {
					do(http.MethodPost, fmt.Sprintf("/v2/%s/blobs/uploads/?digest=%s", path, digest.FromBytes(b)), b, "application/octet-stream")
				}
				do(http.MethodPut, "/v2/"+path+"/manifests/"+tag, body, ocispec.MediaTypeImageManifest)
			case 1: // delete a tag
				do(http.MethodDelete, "/v2/"+path+"/manifests/"+tag, nil, "")
			case 2: // delete a manifest by digest
				do(http.MethodDelete, "/v2/"+path+"/manifests/"+dig.String(), nil, "")
			case 3: // delete a blob
				do(http.MethodDelete, "/v2/"+path+"/blobs/"+dig.String(), nil, "")
			case 4: // push by digest with two tags
				do(http.MethodPut, fmt.Sprintf("/v2/%s/manifests/%s?tag=%s&tag=latest", path, digest.FromBytes(body), tag), body, ocispec.MediaTypeImageManifest)
			}
		}
		w.check(t, rig)
	})
}

func fuzzRegistry(t *testing.T, rig *crashRig) http.Handler {
	ops := map[registry.Op]engine.RegistryOp{
		registry.OpPutTag: engine.PutTag, registry.OpDeleteTag: engine.DeleteTag,
		registry.OpDeleteManifest: engine.DeleteManifest, registry.OpDeleteBlob: engine.DeleteBlob,
	}
	reg := registry.New(rig.layout, registry.Options{TempDir: t.TempDir(), Lock: rig.eng.LockEmbedded,
		Guard: func(ctx context.Context, req registry.Request) error {
			return rig.eng.CheckRegistryWrite(ctx, engine.RegistryWrite{Path: req.Repo, Op: ops[req.Op], Tag: req.Tag, Tags: req.Tags, Digest: req.Digest, Manifest: req.Manifest})
		}})
	t.Cleanup(func() { reg.Close() })
	return reg
}

// check: every protected tag as it was, manifests and blobs there, the
// revisions served unchanged, and the index as a fresh engine reads it.
func (w *fuzzWorld) check(t *testing.T, rig *crashRig) {
	for _, key := range slices.Sorted(maps.Keys(w.protected)) {
		path, tag, _ := strings.Cut(key, ":")
		repo, err := rig.layout.Repository(rig.ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(rig.ctx, tag)
		if err != nil || d.Digest.String() != w.protected[key] {
			t.Fatalf("%s is %v (%v), was %s", key, d.Digest, err, w.protected[key])
		}
		body, err := content.FetchAll(rig.ctx, repo, d)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var m ocispec.Manifest
		_ = json.Unmarshal(body, &m)
		for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if ok, err := repo.Exists(rig.ctx, b); !ok || err != nil {
				t.Fatalf("%s: blob %s is gone (%v)", key, b.Digest, err)
			}
		}
	}
	for _, path := range []string{fuzzPrefix + "/app", fuzzPrefix + "/r/web"} {
		checkNumbering(t, rig, path, w.latest[path])
	}
	for name, want := range w.revisions {
		pr, err := rig.eng.GetPackageRevision(rig.ctx, testNS, name)
		if err != nil || string(pr.Spec.Lifecycle)+" "+pr.Status.OCI.Digest != want {
			t.Fatalf("%s is %v (%v), was %s", name, pr, err, want)
		}
		if _, err := rig.eng.GetPackageRevisionResources(rig.ctx, testNS, name); err != nil {
			t.Fatalf("files of %s: %v", name, err)
		}
	}
	fresh, err := engine.New(engine.Options{Embedded: rig.layout, EmbeddedAddress: embeddedAddr, Logger: quietLog(), Now: rig.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Start(rig.ctx); err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if a, b := listed(t, rig.eng), listed(t, fresh); !slices.Equal(a, b) {
		t.Fatalf("served %v\nfresh engine %v", a, b)
	}
}

func listed(t *testing.T, e *engine.Engine) []string {
	prs, err := e.ListPackageRevisions(context.Background(), testNS)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, pr := range prs {
		out = append(out, fmt.Sprintf("%s %s %s %s", pr.Name, pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, pr.Status.OCI.Digest))
	}
	slices.Sort(out)
	return out
}

// checkNumbering: revision numbers run 1..N with none used twice (a vN, or
// its tombstone), one manifest is one revision, latest moved only to the
// newest, and every draft's tag is served (none is hidden behind a
// published revision).
func checkNumbering(t *testing.T, rig *crashRig, path, latest string) {
	repo, err := rig.layout.Repository(rig.ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	if err := repo.Tags(rig.ctx, "", func(p []string) error { tags = append(tags, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	numbers, byDigest := map[int]string{}, map[string]string{}
	newest, newestDigest := 0, ""
	for _, tag := range tags {
		d, err := repo.Resolve(rig.ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		_, isWorkspace := names.ParseWorkspaceTag(tag)
		n, isRevision := names.ParseRevision(tag)
		if isWorkspace || isRevision {
			if other, dup := byDigest[d.Digest.String()]; dup {
				t.Fatalf("%s: %s and %s are one manifest", path, other, tag)
			}
			byDigest[d.Digest.String()] = tag
		}
		if isRevision && n > newest {
			newest, newestDigest = n, d.Digest.String()
		}
		n, ok := names.ParseRevision(tag)
		if !ok {
			n, ok = names.ParseDeletedTag(tag)
		}
		if ok {
			if other, dup := numbers[n]; dup {
				t.Fatalf("%s: number %d is %s and %s", path, n, other, tag)
			}
			numbers[n] = tag
		}
	}
	for n := 1; n <= len(numbers); n++ {
		if numbers[n] == "" {
			t.Fatalf("%s: numbers %v skip %d", path, numbers, n)
		}
	}
	if d, err := repo.Resolve(rig.ctx, "latest"); err != nil || d.Digest.String() != latest && d.Digest.String() != newestDigest {
		t.Fatalf("%s: latest is %v (%v), was %s; the newest is %s", path, d.Digest, err, latest, numbers[newest])
	}
	prs, err := rig.eng.ListPackageRevisions(rig.ctx, testNS)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		ws, ok := names.ParseWorkspaceTag(tag)
		if !ok {
			continue
		}
		found := false
		for _, pr := range prs {
			found = found || pr.Status.OCI != nil && strings.HasSuffix(pr.Status.OCI.Reference, path+":"+tag) && pr.Spec.PackageRevID.Workspace == ws
		}
		if !found {
			t.Fatalf("%s:%s is served by no revision (hidden?)", path, tag)
		}
	}
}
