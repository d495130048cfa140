package main

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

func revision(lc pkgapi.Lifecycle, gates []string, trueConds ...string) *pkgapi.PackageRevision {
	pr := &pkgapi.PackageRevision{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "catalog.blueprints.apps.web.main"},
		Spec:       pkgapi.PackageRevisionSpec{Lifecycle: lc},
	}
	for _, g := range gates {
		pr.Spec.ReadinessGates = append(pr.Spec.ReadinessGates, pkgapi.ReadinessGate{ConditionType: g})
	}
	for _, c := range trueConds {
		pr.Status.Conditions = append(pr.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue})
	}
	return pr
}

func TestReconcile(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: pkgapi.Group, Resource: "packagerevisions"}, "x", errors.New("stale"))
	for _, c := range []struct {
		name         string
		pr           *pkgapi.PackageRevision
		withoutGates bool
		approveErr   error
		wantApproved bool
		wantErr      bool
	}{
		{name: "proposed, every gate True", pr: revision(pkgapi.LifecycleProposed, []string{"Tested", "Scanned"}, "Tested", "Scanned"), wantApproved: true},
		{name: "proposed, a gate missing", pr: revision(pkgapi.LifecycleProposed, []string{"Tested", "Scanned"}, "Tested")},
		{name: "proposed, a gate False", pr: func() *pkgapi.PackageRevision {
			pr := revision(pkgapi.LifecycleProposed, []string{"Tested"})
			pr.Status.Conditions = []metav1.Condition{{Type: "Tested", Status: metav1.ConditionFalse}}
			return pr
		}()},
		{name: "draft with its gates True", pr: revision(pkgapi.LifecycleDraft, []string{"Tested"}, "Tested")},
		{name: "published", pr: revision(pkgapi.LifecyclePublished, []string{"Tested"}, "Tested")},
		{name: "proposed without gates", pr: revision(pkgapi.LifecycleProposed, nil)},
		{name: "proposed without gates, allowed", pr: revision(pkgapi.LifecycleProposed, nil), withoutGates: true, wantApproved: true},
		{name: "changed since read", pr: revision(pkgapi.LifecycleProposed, []string{"Tested"}, "Tested"), approveErr: conflict, wantApproved: true},
		{name: "server fails", pr: revision(pkgapi.LifecycleProposed, []string{"Tested"}, "Tested"), approveErr: errors.New("unavailable"), wantApproved: true, wantErr: true},
		{name: "gone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := pkgapi.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			b := fake.NewClientBuilder().WithScheme(scheme)
			if c.pr != nil {
				b = b.WithObjects(c.pr)
			}
			approved := false
			r := &Reconciler{
				Reader:       b.Build(),
				WithoutGates: c.withoutGates,
				Approve: func(_ context.Context, pr *pkgapi.PackageRevision) error {
					approved = true
					return c.approveErr
				},
			}
			req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "default", Name: "catalog.blueprints.apps.web.main"}}
			_, err := r.Reconcile(context.Background(), req)
			if (err != nil) != c.wantErr {
				t.Errorf("err = %v, want an error: %v", err, c.wantErr)
			}
			if approved != c.wantApproved {
				t.Errorf("approved = %v, want %v", approved, c.wantApproved)
			}
		})
	}
}
