package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/client"
	"pkgserver.dev/pkgserver/pkg/client/clienttest"
)

// newServer starts the in-memory fake API with a catalog repository.
func newServer() *httptest.Server {
	fake := clienttest.NewServer()
	fake.AddRepository("default", "blueprints", false)
	return httptest.NewServer(fake)
}

// Register a repository; an empty registry means the server's embedded store.
func ExampleRepositoryClient_create() {
	srv := newServer()
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	repo, err := c.Repositories("default").Create(ctx, &configapi.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "edge"},
		Spec:       configapi.RepositorySpec{Deployment: true, Description: "edge sites"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered", repo.Name, "deployment:", repo.Spec.Deployment)

	list, err := c.Repositories("default").List(ctx, client.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range list.Items {
		fmt.Println(r.Name)
	}
	// Output:
	// registered edge deployment: true
	// blueprints
	// edge
}

// The whole life of a revision: create a draft, change its files, propose it
// and approve it, which publishes it as v1.
func ExamplePackageRevisionClient_Approve() {
	srv := newServer()
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithUser("alice"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	prs := c.PackageRevisions("default")

	pr, err := prs.Create(ctx, &pkgapi.PackageRevision{
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Package: "vpc", Workspace: "first"},
			Tasks:        []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "a network"}}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", pr.Name, pr.Spec.Lifecycle)

	// Contents change only in draft; the resourceVersion read guards the write.
	res, err := c.PackageRevisionResources("default").Get(ctx, pr.Name)
	if err != nil {
		log.Fatal(err)
	}
	res.Spec.Resources["cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
	if _, err := c.PackageRevisionResources("default").Update(ctx, res); err != nil {
		log.Fatal(err)
	}

	if _, err := prs.Propose(ctx, pr.Name); err != nil {
		log.Fatal(err)
	}
	pr, err = prs.Approve(ctx, pr.Name)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pr.Name, pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, "by", pr.Status.PublishedBy)
	// Output:
	// created catalog.blueprints..vpc.first draft
	// catalog.blueprints..vpc.first published v1 by alice
}

// List with a field selector on the identity and lifecycle of revisions.
func ExampleResource_List() {
	srv := newServer()
	defer srv.Close()
	c, _ := client.New(srv.URL)
	ctx := context.Background()
	prs := c.PackageRevisions("default")
	for _, ws := range []string{"a", "b"} {
		_, err := prs.Create(ctx, &pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "vpc", Workspace: ws},
		}})
		if err != nil {
			log.Fatal(err)
		}
	}
	if _, err := prs.Propose(ctx, "catalog.blueprints..vpc.b"); err != nil {
		log.Fatal(err)
	}

	list, err := prs.List(ctx, client.ListOptions{FieldSelector: "spec.packageRevID.package=vpc,spec.lifecycle=draft"})
	if err != nil {
		log.Fatal(err)
	}
	for _, pr := range list.Items {
		fmt.Println(pr.Name, pr.Spec.Lifecycle)
	}
	// Output:
	// catalog.blueprints..vpc.a draft
}

// Errors are Kubernetes StatusErrors: test them with k8s.io/apimachinery/pkg/api/errors.
func ExampleResource_Get_notFound() {
	srv := newServer()
	defer srv.Close()
	c, _ := client.New(srv.URL)

	_, err := c.PackageRevisions("default").Get(context.Background(), "catalog.blueprints..nope.ws")
	fmt.Println(apierrors.IsNotFound(err))
	fmt.Println(apierrors.ReasonForError(err))
	// Output:
	// true
	// NotFound
}

// A stale resourceVersion is refused with 409 Conflict rather than
// overwriting a change made since the object was read.
func ExampleResource_Update_conflict() {
	srv := newServer()
	defer srv.Close()
	c, _ := client.New(srv.URL)
	ctx := context.Background()
	prs := c.PackageRevisions("default")
	pr, err := prs.Create(ctx, &pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{
		PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "vpc", Workspace: "ws"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := prs.Propose(ctx, pr.Name); err != nil { // changes the resourceVersion
		log.Fatal(err)
	}

	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	_, err = prs.Update(ctx, pr) // still carries the old resourceVersion
	fmt.Println(apierrors.IsConflict(err))
	// Output:
	// true
}

// Patch sends a JSON merge patch (or a JSON patch) to the server.
func ExampleResource_Patch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"metadata":{"name":"catalog.blueprints..vpc.ws"},"spec":{"lifecycle":"proposed"}}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)

	pr, err := c.PackageRevisions("default").Patch(context.Background(), "catalog.blueprints..vpc.ws",
		types.MergePatchType, []byte(`{"spec":{"lifecycle":"proposed"}}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pr.Spec.Lifecycle)
	// Output:
	// PATCH /apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/catalog.blueprints..vpc.ws application/merge-patch+json
	// proposed
}

// Watch returns a watch.Interface whose events carry typed objects.
func ExampleResource_Watch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		const tm = `"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevision",`
		fmt.Fprintln(w, `{"type":"ADDED","object":{`+tm+`"metadata":{"name":"catalog.blueprints..vpc.ws","resourceVersion":"1"},"spec":{"lifecycle":"draft"}}}`)
		fmt.Fprintln(w, `{"type":"MODIFIED","object":{`+tm+`"metadata":{"name":"catalog.blueprints..vpc.ws","resourceVersion":"2"},"spec":{"lifecycle":"proposed"}}}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)

	w, err := c.PackageRevisions("default").Watch(context.Background(), client.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		pr := ev.Object.(*pkgapi.PackageRevision)
		fmt.Println(ev.Type, pr.Name, pr.Spec.Lifecycle)
	}
	// Output:
	// ADDED catalog.blueprints..vpc.ws draft
	// MODIFIED catalog.blueprints..vpc.ws proposed
}
