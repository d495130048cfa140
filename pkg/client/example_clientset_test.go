package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned/fake"
	"pkgserver.dev/pkgserver/pkg/generated/informers/externalversions"
)

// The generated clientset talks to pkgserver like to any Kubernetes API
// server; a rest.Config needs only the server's address (or comes from a
// kubeconfig with k8s.io/client-go/tools/clientcmd).
func Example_clientset() {
	cs, err := versioned.NewForConfig(&rest.Config{Host: "http://127.0.0.1:8080", UserAgent: "my-tool"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	prs := cs.PkgV1alpha1().PackageRevisions("default")

	// Publish a proposed revision through the approval subresource.
	pr, err := prs.Get(ctx, "catalog.blueprints..vpc.first", metav1.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	pr.Spec.Lifecycle = pkgapi.LifecyclePublished
	if _, err := prs.UpdateApproval(ctx, pr.Name, pr, metav1.UpdateOptions{}); err != nil {
		log.Fatal(err)
	}

	// Server-side apply of labels, owned by the field manager "my-tool".
	_, err = prs.Patch(ctx, pr.Name, types.ApplyYAMLPatchType, []byte(`apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevision
metadata:
  name: catalog.blueprints..vpc.first
  labels: {team: network}
`), metav1.PatchOptions{FieldManager: "my-tool"})
	if err != nil {
		log.Fatal(err)
	}

	// Delete only the revision that was read: 409 Conflict if it changed since.
	err = prs.Delete(ctx, "catalog.blueprints..vpc.draft", metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &pr.ResourceVersion},
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Informers keep a cache of the objects up to date from one list and a
// watch; listers read it. Here on the generated fake clientset, as in unit
// tests of a controller.
func Example_informers() {
	cs := fake.NewSimpleClientset(&pkgapi.PackageRevision{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "catalog.blueprints..vpc.first"},
		Spec:       pkgapi.PackageRevisionSpec{Lifecycle: pkgapi.LifecycleProposed},
	})
	factory := externalversions.NewSharedInformerFactoryWithOptions(cs, 10*time.Minute, externalversions.WithNamespace("default"))
	revisions := factory.Pkg().V1alpha1().PackageRevisions()
	handler, err := revisions.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pr := obj.(*pkgapi.PackageRevision)
			fmt.Println("added", pr.Name, pr.Spec.Lifecycle)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	// Synced: the cache holds the list, and the handler has seen it.
	cache.WaitForCacheSync(ctx.Done(), handler.HasSynced)

	proposed, err := revisions.Lister().PackageRevisions("default").List(labels.Everything())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(proposed), "in the cache")
	cancel() // stops the informers
	factory.Shutdown()
	// Output:
	// added catalog.blueprints..vpc.first proposed
	// 1 in the cache
}
