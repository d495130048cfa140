package engine_test

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"testing"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestRepositoryValidation(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	tests := []struct {
		name  string
		repo  configapi.Repository
		field string
	}{
		{"bad name", configapi.Repository{ObjectMeta: metaNS("Bad_Name")}, "metadata.name"},
		{"dotted name", configapi.Repository{ObjectMeta: metaNS("a.b")}, "metadata.name"},
		{"empty name", configapi.Repository{ObjectMeta: metaNS("")}, "metadata.name"},
		{"bad namespace", configapi.Repository{ObjectMeta: metav1NS("NS!", "r")}, "metadata.namespace"},
		{"empty namespace", configapi.Repository{ObjectMeta: metav1NS("", "r")}, "metadata.namespace"},
		{"type", configapi.Repository{ObjectMeta: metaNS("r"), Spec: configapi.RepositorySpec{Type: "git"}}, "spec.type"},
		{"registry scheme", configapi.Repository{ObjectMeta: metaNS("r"), Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{Registry: "https://example.com/x"}}}, "spec.oci.registry"},
		{"registry no host", configapi.Repository{ObjectMeta: metaNS("r"), Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{Registry: "/x"}}}, "spec.oci.registry"},
		{"registry bad path", configapi.Repository{ObjectMeta: metaNS("r"), Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{Registry: "example.com/Upper//x"}}}, "spec.oci.registry"},
		{"plainHTTP alone", configapi.Repository{ObjectMeta: metaNS("r"), Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{PlainHTTP: true}}}, "spec.oci.plainHTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.eng.CreateRepository(h.ctx, &tt.repo)
			wantErr(t, err, errdef.ErrInvalid, tt.field)
			_, err = h.eng.UpdateRepository(h.ctx, &tt.repo)
			wantErr(t, err, errdef.ErrInvalid, tt.field)
		})
	}
	if repos, err := h.eng.ListRepositories(h.ctx, ""); err != nil || len(repos) != 0 {
		t.Errorf("refused repositories were stored: %v %v", repos, err)
	}
}

func metav1NS(ns, name string) (m metav1.ObjectMeta) {
	m.Namespace, m.Name = ns, name
	return m
}

func TestRepositoryCRUD(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	ctx := h.ctx

	created := h.createRepo("blueprints", false)
	if created.ResourceVersion == "" || created.UID == "" || created.Generation != 1 || created.Spec.Type != configapi.RepositoryTypeOCI {
		t.Fatalf("created %+v", created)
	}
	if created.APIVersion != configapi.SchemeGroupVersion.String() || created.Kind != configapi.RepositoryKind {
		t.Errorf("type meta %+v", created.TypeMeta)
	}
	if created.Status.Address != embeddedAddr+"/"+testNS+"/blueprints" {
		t.Errorf("status.address %q", created.Status.Address)
	}

	t.Run("create twice", func(t *testing.T) {
		_, err := h.eng.CreateRepository(ctx, &configapi.Repository{ObjectMeta: metaNS("blueprints")})
		wantErr(t, err, errdef.ErrAlreadyExists, "blueprints")
	})
	t.Run("get and list", func(t *testing.T) {
		got, err := h.eng.GetRepository(ctx, testNS, "blueprints")
		if err != nil || got.ResourceVersion != created.ResourceVersion || got.UID != created.UID {
			t.Fatalf("get: %+v %v", got, err)
		}
		_, err = h.eng.GetRepository(ctx, testNS, "nope")
		wantErr(t, err, errdef.ErrNotFound)
		_, err = h.eng.GetRepository(ctx, "other", "blueprints")
		wantErr(t, err, errdef.ErrNotFound)
		h.createRepo("alpha", true)
		list, err := h.eng.ListRepositories(ctx, testNS)
		if err != nil || len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "blueprints" {
			t.Fatalf("list: %v %v", list, err)
		}
	})
	t.Run("update changes resourceVersion and generation", func(t *testing.T) {
		cur, _ := h.eng.GetRepository(ctx, testNS, "blueprints")
		upd := cur.DeepCopy()
		upd.Labels = map[string]string{"a": "b"}
		out, err := h.eng.UpdateRepository(ctx, upd)
		if err != nil {
			t.Fatal(err)
		}
		if out.ResourceVersion == cur.ResourceVersion || out.Generation != cur.Generation || out.UID != cur.UID || out.Labels["a"] != "b" {
			t.Errorf("metadata-only update: rv %s->%s gen %d->%d", cur.ResourceVersion, out.ResourceVersion, cur.Generation, out.Generation)
		}
		upd = out.DeepCopy()
		upd.Spec.Description = "templates"
		out2, err := h.eng.UpdateRepository(ctx, upd)
		if err != nil {
			t.Fatal(err)
		}
		if out2.ResourceVersion == out.ResourceVersion || out2.Generation != out.Generation+1 || out2.Spec.Description != "templates" {
			t.Errorf("spec update: rv %s->%s gen %d->%d", out.ResourceVersion, out2.ResourceVersion, out.Generation, out2.Generation)
		}
		if !out2.CreationTimestamp.Equal(&created.CreationTimestamp) {
			t.Errorf("creationTimestamp changed")
		}
	})
	t.Run("stale resourceVersion is a conflict", func(t *testing.T) {
		stale := created.DeepCopy() // the first version
		stale.Spec.Description = "lost update"
		_, err := h.eng.UpdateRepository(ctx, stale)
		wantErr(t, err, errdef.ErrConflict, "resourceVersion")
		got, _ := h.eng.GetRepository(ctx, testNS, "blueprints")
		if got.Spec.Description == "lost update" {
			t.Error("stale update was applied")
		}
	})
	t.Run("update of a missing repository", func(t *testing.T) {
		_, err := h.eng.UpdateRepository(ctx, &configapi.Repository{ObjectMeta: metaNS("nope")})
		wantErr(t, err, errdef.ErrNotFound)
	})
	t.Run("unreachable remote registry", func(t *testing.T) {
		// The harness engine has a remote factory; a registry that does not
		// answer is still accepted (its status reports the failure on use).
		r := &configapi.Repository{ObjectMeta: metaNS("far"), Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{Registry: "127.0.0.1:1/x", PlainHTTP: true}}}
		out, err := h.eng.CreateRepository(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if out.Status.Address != "127.0.0.1:1/x" {
			t.Errorf("address %q", out.Status.Address)
		}
		// Listing packages skips the unreachable repository rather than failing.
		if _, err := h.eng.ListPackageRevisions(ctx, testNS); err != nil {
			t.Errorf("list with an unreachable repository: %v", err)
		}
		got, _ := h.eng.GetRepository(ctx, testNS, "far")
		if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Status != "False" {
			t.Errorf("conditions %+v, want Ready False", got.Status.Conditions)
		}
		if err := h.eng.DeleteRepository(ctx, testNS, "far"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("delete keeps the packages; registering again finds them", func(t *testing.T) {
		pr := h.mustCreate(catalogID)
		if err := h.eng.DeleteRepository(ctx, testNS, "blueprints"); err != nil {
			t.Fatal(err)
		}
		_, err := h.eng.GetRepository(ctx, testNS, "blueprints")
		wantErr(t, err, errdef.ErrNotFound)
		err = h.eng.DeleteRepository(ctx, testNS, "blueprints")
		wantErr(t, err, errdef.ErrNotFound)
		_, err = h.eng.GetPackageRevision(ctx, testNS, pr.Name)
		wantErr(t, err, errdef.ErrNotFound)
		h.createRepo("blueprints", false)
		if got := h.get(pr.Name); got.Status.OCI.Digest != pr.Status.OCI.Digest {
			t.Errorf("digest %s, want %s", got.Status.OCI.Digest, pr.Status.OCI.Digest)
		}
	})
}
