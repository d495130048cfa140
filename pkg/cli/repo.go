package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/client"
)

var repoRegisterCmd = &command{
	name:    "register",
	args:    "NAME [--registry HOST/PREFIX] [--plain-http] [--deployment] [--description TEXT]",
	summary: "register a repository: a namespace of an OCI registry that holds packages",
	setup: func(fs *flag.FlagSet) runFunc {
		registry := fs.String("registry", "", "registry namespace `host[:port]/prefix`; empty uses the server's embedded store")
		plainHTTP := fs.Bool("plain-http", false, "talk plain HTTP instead of HTTPS to the registry")
		deployment := fs.Bool("deployment", false, "a deployment repository; without it, a catalog (blueprint) repository")
		description := fs.String("description", "", "free text for people")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, 1, "the repository NAME"); err != nil {
				return err
			}
			if *plainHTTP && *registry == "" {
				return usageErrorf("--plain-http needs --registry")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			name := repoName(args[0])
			repo := &configapi.Repository{
				TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.namespace},
				Spec: configapi.RepositorySpec{
					Type:        configapi.RepositoryTypeOCI,
					Deployment:  *deployment,
					Description: *description,
				},
			}
			if *registry != "" {
				repo.Spec.OCI = &configapi.OCIRepository{Registry: *registry, PlainHTTP: *plainHTTP}
			}
			out, err := c.Repositories(a.namespace).Create(ctx, repo)
			if err != nil {
				return failed("register", kindRepo, name, err)
			}
			return a.printDone(repoKindName, out.Name, "registered", out)
		}
	},
}

var repoGetCmd = &command{
	name:    "get",
	args:    "[NAME] [-A]",
	summary: "list repositories, or show one",
	setup: func(fs *flag.FlagSet) runFunc {
		all := fs.Bool("all-namespaces", false, "list the repositories of every namespace")
		fs.BoolVar(all, "A", false, "shorthand for --all-namespaces")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 0, 1, "at most one repository NAME"); err != nil {
				return err
			}
			if *all && len(args) == 1 {
				return usageErrorf("a NAME cannot be combined with --all-namespaces")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var items []configapi.Repository
			if len(args) == 1 {
				name := repoName(args[0])
				repo, err := c.Repositories(a.namespace).Get(ctx, name)
				if err != nil {
					return failed("get", kindRepo, name, err)
				}
				if a.output == "yaml" || a.output == "json" {
					return printObject(a.stdout, a.output, repo)
				}
				items = []configapi.Repository{*repo}
			} else {
				ns := a.namespace
				if *all {
					ns = ""
				}
				if items, err = listAll(ctx, c.Repositories(ns), func(l *configapi.RepositoryList) ([]configapi.Repository, string) {
					return l.Items, l.Continue
				}, client.ListOptions{}); err != nil {
					return err
				}
				if len(items) == 0 && a.output == "table" {
					fmt.Fprintln(a.stderr, a.noneFound("repositories", *all))
					return nil
				}
			}
			header := []string{"NAME", "TYPE", "DEPLOYMENT", "READY", "ADDRESS"}
			if *all {
				header = append([]string{"NAMESPACE"}, header...)
			}
			return printList(a, "RepositoryList", configapi.SchemeGroupVersion.String(), repoKindName, items,
				func(r *configapi.Repository) string { return r.Name },
				header,
				func(r *configapi.Repository) []string {
					row := []string{r.Name, r.Spec.Type, strconv.FormatBool(r.Spec.Deployment), ready(r.Status.Conditions), r.Status.Address}
					if *all {
						row = append([]string{r.Namespace}, row...)
					}
					return row
				})
		}
	},
}

var repoUnregisterCmd = &command{
	name:    "unregister",
	args:    "NAME...",
	summary: "unregister repositories (the packages stay in the registry)",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, -1, "the repository NAME"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(args, repoName, func(name string) error {
				if err := c.Repositories(a.namespace).Delete(ctx, name); err != nil {
					return failed("unregister", kindRepo, name, err)
				}
				return a.printDone(repoKindName, name, "unregistered", nil)
			})
		}
	},
}

// ready is the status of the Ready condition, or "Unknown".
func ready(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == "Ready" {
			return string(c.Status)
		}
	}
	return "Unknown"
}

func (a *app) noneFound(what string, all bool) string {
	if all {
		return fmt.Sprintf("No %s found.", what)
	}
	return fmt.Sprintf("No %s found in namespace %q.", what, a.namespace)
}

// each runs do for every name, reports each failure as it happens and
// fails at the end when any did.
func (a *app) each(names []string, normalize func(string) string, do func(name string) error) error {
	bad := 0
	for _, n := range names {
		if err := do(normalize(n)); err != nil {
			fmt.Fprintf(a.stderr, "pkgctl: %s\n", a.describe(err))
			bad++
		}
	}
	if bad > 0 {
		return errReported
	}
	return nil
}

// lister is the List of one kind's client.
type lister[L any] interface {
	List(ctx context.Context, opts client.ListOptions) (L, error)
}

// listAll lists every page.
func listAll[T any, L any](ctx context.Context, r lister[L], page func(L) ([]T, string), opts client.ListOptions) ([]T, error) {
	var out []T
	for {
		l, err := r.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		items, next := page(l)
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		opts.Continue = next
	}
}
