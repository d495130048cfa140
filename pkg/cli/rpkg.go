package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/client"
)

var rpkgGetCmd = &command{
	name:    "get",
	args:    "[NAME] [--name PACKAGE] [--revision N] [--lifecycle L] [--repository R] [--workspace W] [--target T] [--realm R] [-l SELECTOR] [-A]",
	summary: "list package revisions, or show one",
	setup: func(fs *flag.FlagSet) runFunc {
		filters := []struct{ flag, field, usage string }{
			{"name", "spec.packageRevID.package", "only revisions of this package"},
			{"revision", "spec.packageRevID.revision", "only this published revision: vN or N"},
			{"lifecycle", "spec.lifecycle", "only revisions in this lifecycle: draft, proposed, published or deletionProposed"},
			{"repository", "spec.packageRevID.repository", "only revisions of this repository"},
			{"workspace", "spec.packageRevID.workspace", "only revisions of this workspace"},
			{"target", "spec.packageRevID.target", "only revisions of this deployment target (catalog for catalog packages)"},
			{"realm", "spec.packageRevID.realm", "only revisions of this realm"},
		}
		values := make([]*string, len(filters))
		for i, f := range filters {
			values[i] = fs.String(f.flag, "", f.usage)
		}
		selector := fs.String("selector", "", "label selector, e.g. pkg.pkgserver.dev/latest-revision=true")
		fs.StringVar(selector, "l", "", "shorthand for --selector")
		all := fs.Bool("all-namespaces", false, "list the revisions of every namespace")
		fs.BoolVar(all, "A", false, "shorthand for --all-namespaces")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, 1, "at most one package revision NAME"); err != nil {
				return err
			}
			var sel []string
			for i, f := range filters {
				v := *values[i]
				if v == "" {
					continue
				}
				switch f.flag {
				case "revision":
					if _, err := strconv.Atoi(v); err == nil {
						v = "v" + v
					}
				case "lifecycle":
					if !slices.Contains(lifecycles, pkgapi.Lifecycle(v)) {
						return usageErrorf("--lifecycle %q: use draft, proposed, published or deletionProposed", v)
					}
				}
				sel = append(sel, f.field+"="+v)
			}
			if len(args) == 1 && (len(sel) > 0 || *selector != "" || *all) {
				return usageErrorf("a NAME cannot be combined with filters or --all-namespaces")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var items []pkgapi.PackageRevision
			if len(args) == 1 {
				name := prName(args[0])
				pr, err := c.PackageRevisions(a.namespace).Get(ctx, name)
				if err != nil {
					return failed("get", kindPR, name, err)
				}
				if a.output == "yaml" || a.output == "json" {
					return printObject(a.stdout, a.output, pr)
				}
				items = []pkgapi.PackageRevision{*pr}
			} else {
				ns := a.namespace
				if *all {
					ns = ""
				}
				opts := client.ListOptions{FieldSelector: strings.Join(sel, ","), LabelSelector: *selector}
				if items, err = listAll(ctx, c.PackageRevisions(ns), func(l *pkgapi.PackageRevisionList) ([]pkgapi.PackageRevision, string) {
					return l.Items, l.Continue
				}, opts); err != nil {
					return err
				}
				if len(items) == 0 && a.output == "table" {
					fmt.Fprintln(a.stderr, a.noneFound("package revisions", *all))
					return nil
				}
			}
			header := []string{"NAME", "PACKAGE", "WORKSPACE", "REVISION", "LATEST", "LIFECYCLE", "REPOSITORY"}
			if *all {
				header = append([]string{"NAMESPACE"}, header...)
			}
			return printList(a, "PackageRevisionList", pkgapi.SchemeGroupVersion.String(), prKindName, items,
				func(pr *pkgapi.PackageRevision) string { return pr.Name },
				header,
				func(pr *pkgapi.PackageRevision) []string {
					id := pr.Spec.PackageRevID
					row := []string{pr.Name, id.Package, id.Workspace, id.Revision,
						strconv.FormatBool(pr.Labels[pkgapi.LatestRevisionLabel] == "true"), string(pr.Spec.Lifecycle), id.Repository}
					if *all {
						row = append([]string{pr.Namespace}, row...)
					}
					return row
				})
		}
	},
}

var lifecycles = []pkgapi.Lifecycle{pkgapi.LifecycleDraft, pkgapi.LifecycleProposed, pkgapi.LifecyclePublished, pkgapi.LifecycleDeletionProposed}

// placement holds the flags that say where a new revision goes.
type placement struct {
	repository, workspace, target, realm *string
}

func addPlacement(fs *flag.FlagSet) placement {
	return placement{
		repository: fs.String("repository", "", "repository of the new revision (required)"),
		workspace:  fs.String("workspace", "", "workspace of the new revision, unique in its package (required)"),
		target:     fs.String("target", "", "deployment target; default: catalog for a catalog repository, required for a deployment one"),
		realm:      fs.String("realm", "", "grouping path of the package, e.g. infra/network"),
	}
}

// id checks the flags and returns the identity of the new revision. Without
// --target it reads the repository to choose: catalog for a catalog
// repository; a deployment repository needs --target.
func (p placement) id(ctx context.Context, a *app, c *client.Client, pkg string) (pkgapi.PackageRevID, error) {
	if *p.repository == "" {
		return pkgapi.PackageRevID{}, usageErrorf("--repository is required")
	}
	if *p.workspace == "" {
		return pkgapi.PackageRevID{}, usageErrorf("--workspace is required")
	}
	target := *p.target
	if target == "" {
		repo, err := c.Repositories(a.namespace).Get(ctx, *p.repository)
		if err != nil {
			return pkgapi.PackageRevID{}, failed("read", kindRepo, *p.repository, err)
		}
		if repo.Spec.Deployment {
			return pkgapi.PackageRevID{}, usageErrorf("repository %q is a deployment repository: give the deployment target with --target", repo.Name)
		}
		target = pkgapi.CatalogTarget
	}
	return pkgapi.PackageRevID{Target: target, Repository: *p.repository, Realm: *p.realm, Package: pkg, Workspace: *p.workspace}, nil
}

// createRevision creates a draft and reports it.
func (a *app) createRevision(ctx context.Context, c *client.Client, id pkgapi.PackageRevID, task pkgapi.Task) error {
	pr := &pkgapi.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.namespace},
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: id,
			Lifecycle:    pkgapi.LifecycleDraft,
			Tasks:        []pkgapi.Task{task},
		},
	}
	out, err := c.PackageRevisions(a.namespace).Create(ctx, pr)
	if err != nil {
		return failed("create", kindPR, revisionName(id), err)
	}
	return a.printDone(prKindName, out.Name, "created", out)
}

// revisionName is the object name of id:
// <target>.<repository>.<realm with "/" as ":">.<package>.<workspace>.
func revisionName(id pkgapi.PackageRevID) string {
	return strings.Join([]string{id.Target, id.Repository, strings.ReplaceAll(id.Realm, "/", ":"), id.Package, id.Workspace}, ".")
}

var rpkgInitCmd = &command{
	name:    "init",
	args:    "PACKAGE --repository R --workspace W [--realm R] [--target T] [--description TEXT] [--keywords K,...] [--site URL]",
	summary: "create a new, empty package as a draft revision",
	setup: func(fs *flag.FlagSet) runFunc {
		p := addPlacement(fs)
		description := fs.String("description", "", "description of the package, written to its Kptfile")
		keywords := fs.String("keywords", "", "comma-separated keywords of the package")
		site := fs.String("site", "", "URL of the package's documentation")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, 1, "the PACKAGE name"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := p.id(ctx, a, c, args[0])
			if err != nil {
				return err
			}
			init := &pkgapi.InitTask{Description: *description, Site: *site}
			if *keywords != "" {
				init.Keywords = strings.Split(*keywords, ",")
			}
			return a.createRevision(ctx, c, id, pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: init})
		}
	},
}

var rpkgCloneCmd = &command{
	name:    "clone",
	args:    "UPSTREAM-NAME PACKAGE --repository R --workspace W [--target T] [--realm R]",
	summary: "create a draft revision from a published revision of any repository",
	setup: func(fs *flag.FlagSet) runFunc {
		p := addPlacement(fs)
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 2, 2, "the UPSTREAM-NAME and the PACKAGE name"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := p.id(ctx, a, c, args[1])
			if err != nil {
				return err
			}
			task := pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: prName(args[0])}}}
			return a.createRevision(ctx, c, id, task)
		}
	},
}

var rpkgCopyCmd = &command{
	name:    "copy",
	args:    "SOURCE-NAME --workspace W",
	summary: "create a new draft revision of a package from one of its published revisions",
	setup: func(fs *flag.FlagSet) runFunc {
		workspace := fs.String("workspace", "", "workspace of the new revision, unique in its package (required)")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, 1, "the SOURCE-NAME"); err != nil {
				return err
			}
			if *workspace == "" {
				return usageErrorf("--workspace is required")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			src := prName(args[0])
			pr, err := c.PackageRevisions(a.namespace).Get(ctx, src)
			if err != nil {
				return failed("read", kindPR, src, err)
			}
			if pr.Spec.Lifecycle != pkgapi.LifecyclePublished {
				return fmt.Errorf("cannot copy package revision %q: it is %s; only published revisions can be copied", src, pr.Spec.Lifecycle)
			}
			id := pr.Spec.PackageRevID
			id.Workspace, id.Revision = *workspace, ""
			return a.createRevision(ctx, c, id, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: src}}})
		}
	},
}

// lifecycleVerbs are the verbs that move revisions through their lifecycle.
var lifecycleVerbs = map[string]struct {
	words string // the verb in a sentence
	do    func(prs *client.PackageRevisionClient, ctx context.Context, name string) (*pkgapi.PackageRevision, error)
	done  func(*pkgapi.PackageRevision) string
}{
	"propose": {"propose", (*client.PackageRevisionClient).Propose,
		func(*pkgapi.PackageRevision) string { return "proposed" }},
	"approve": {"approve", (*client.PackageRevisionClient).Approve,
		func(pr *pkgapi.PackageRevision) string {
			return "approved (published as " + pr.Spec.PackageRevID.Revision + ")"
		}},
	"reject": {"reject", (*client.PackageRevisionClient).Reject,
		func(pr *pkgapi.PackageRevision) string { return "rejected (back to " + string(pr.Spec.Lifecycle) + ")" }},
	"propose-delete": {"propose for deletion", (*client.PackageRevisionClient).ProposeDelete,
		func(*pkgapi.PackageRevision) string { return "proposed for deletion" }},
	"del": {"delete", func(prs *client.PackageRevisionClient, ctx context.Context, name string) (*pkgapi.PackageRevision, error) {
		return nil, prs.Delete(ctx, name)
	}, func(*pkgapi.PackageRevision) string { return "deleted" }},
}

// lifecycleCmd is one of lifecycleVerbs; it takes one or more names.
func lifecycleCmd(verb, summary string) *command {
	v, ok := lifecycleVerbs[verb]
	if !ok {
		panic("pkgctl: no lifecycle verb " + verb)
	}
	return &command{
		name:    verb,
		args:    "NAME...",
		summary: summary,
		setup: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, a *app, args []string) error {
				if err := wantArgs(args, 1, -1, "the package revision NAME"); err != nil {
					return err
				}
				c, err := a.client()
				if err != nil {
					return err
				}
				prs := c.PackageRevisions(a.namespace)
				return a.each(args, prName, func(name string) error {
					out, err := v.do(prs, ctx, name)
					if err != nil {
						return failed(v.words, kindPR, name, err)
					}
					if out == nil {
						return a.printDone(prKindName, name, v.done(out), nil)
					}
					return a.printDone(prKindName, name, v.done(out), out)
				})
			}
		},
	}
}
