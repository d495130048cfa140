package apiserver

import (
	"context"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned"
)

// TestGeneratedClientset calls every method of the generated clientset
// against the routes, so the generated paths, verbs and subresources are the
// ones served.
func TestGeneratedClientset(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(New(f, Options{}))
	t.Cleanup(srv.Close)
	cs, err := versioned.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	repos := cs.ConfigV1alpha1().Repositories("default")
	prs := cs.PkgV1alpha1().PackageRevisions("default")
	prrs := cs.PkgV1alpha1().PackageRevisionResources("default")
	stale := "0"
	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
		want func(error) bool // nil: success
	}{
		{"list repositories", func(ctx context.Context) error {
			l, err := repos.List(ctx, metav1.ListOptions{FieldSelector: "spec.deployment=true"})
			if err == nil && len(l.Items) != 1 {
				t.Errorf("listed %d repositories, want 1", len(l.Items))
			}
			return err
		}, nil},
		{"create repository with a field manager", func(ctx context.Context) error {
			r, err := repos.Create(ctx, &configapi.Repository{ObjectMeta: metav1.ObjectMeta{Name: "made"}, Spec: configapi.RepositorySpec{Description: "d"}},
				metav1.CreateOptions{FieldManager: "tool"})
			if err == nil && (len(r.ManagedFields) != 1 || r.ManagedFields[0].Manager != "tool") {
				t.Errorf("managed fields = %+v", r.ManagedFields)
			}
			return err
		}, nil},
		{"create repository dry run", func(ctx context.Context) error {
			_, err := repos.Create(ctx, &configapi.Repository{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			f.mu.Lock()
			defer f.mu.Unlock()
			if _, ok := f.repos[key("default", "dry")]; ok {
				t.Error("the dry run created the repository")
			}
			return err
		}, nil},
		{"get repository", func(ctx context.Context) error { _, err := repos.Get(ctx, "deploy", metav1.GetOptions{}); return err }, nil},
		{"refresh repository", func(ctx context.Context) error {
			_, err := repos.Refresh(ctx, "deploy", &configapi.Repository{}, metav1.CreateOptions{})
			return err
		}, nil},
		{"patch repository", func(ctx context.Context) error {
			_, err := repos.Patch(ctx, "deploy", types.MergePatchType, []byte(`{"spec":{"description":"x"}}`), metav1.PatchOptions{})
			return err
		}, nil},
		{"apply repository", func(ctx context.Context) error {
			force := true
			_, err := repos.Patch(ctx, "deploy", types.ApplyYAMLPatchType,
				[]byte("apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nspec: {description: applied}\n"),
				metav1.PatchOptions{FieldManager: "tool", Force: &force})
			return err
		}, nil},
		{"delete repository with a stale precondition", func(ctx context.Context) error {
			return repos.Delete(ctx, "deploy", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}})
		}, apierrors.IsConflict},
		{"update revision status", func(ctx context.Context) error {
			pr, err := prs.Get(ctx, site1, metav1.GetOptions{})
			if err != nil {
				return err
			}
			pr.Status.Conditions = []metav1.Condition{{Type: "Tested", Status: "True", Reason: "CI", Message: "ok", LastTransitionTime: metav1.Now()}}
			_, err = prs.UpdateStatus(ctx, pr, metav1.UpdateOptions{})
			return err
		}, nil},
		{"approve revision", func(ctx context.Context) error {
			pr, err := prs.Get(ctx, site1, metav1.GetOptions{})
			if err != nil {
				return err
			}
			pr.Spec.Lifecycle = pkgapi.LifecyclePublished
			out, err := prs.UpdateApproval(ctx, pr.Name, pr, metav1.UpdateOptions{})
			if err == nil && out.Spec.Lifecycle != pkgapi.LifecyclePublished {
				t.Errorf("approved revision is %s", out.Spec.Lifecycle)
			}
			return err
		}, nil},
		{"delete a published revision", func(ctx context.Context) error {
			return prs.Delete(ctx, nginx, metav1.DeleteOptions{})
		}, apierrors.IsForbidden},
		{"list contents", func(ctx context.Context) error { _, err := prrs.List(ctx, metav1.ListOptions{}); return err }, nil},
		{"update contents", func(ctx context.Context) error {
			prr, err := prrs.Get(ctx, redis, metav1.GetOptions{})
			if err != nil {
				return err
			}
			prr.Spec.Resources["cm.yaml"] = "kind: ConfigMap\n"
			_, err = prrs.Update(ctx, prr, metav1.UpdateOptions{})
			return err
		}, nil},
		{"delete a draft revision", func(ctx context.Context) error { return prs.Delete(ctx, redis, metav1.DeleteOptions{}) }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(t.Context())
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("err = %v", err)
			case c.want != nil && !c.want(err):
				t.Fatalf("err = %v, not the error wanted", err)
			}
		})
	}
}
