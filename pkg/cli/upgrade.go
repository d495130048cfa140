package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/client"
)

var rpkgUpgradeCmd = &command{
	name:    "upgrade",
	args:    "LOCAL-NAME --workspace W [--upstream NAME] [--strategy S] | --discover=upstream|downstream [NAME]",
	summary: "rebase a deployment package onto a newer upstream revision, or find what can be upgraded",
	setup: func(fs *flag.FlagSet) runFunc {
		workspace := fs.String("workspace", "", "workspace of the new draft (required to upgrade)")
		upstream := fs.String("upstream", "", "upstream revision to move to (default: the newest published one)")
		strategy := fs.String("strategy", "", "resource-merge (default), fast-forward, force-delete-replace or copy-merge")
		discover := fs.String("discover", "", "upstream: revisions with a newer upstream; downstream: revisions made from each upstream (or from NAME)")
		return func(ctx context.Context, a *app, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			switch *discover {
			case "upstream":
				if err := wantArgs(args, 0, 0, "no names"); err != nil {
					return err
				}
				return a.discoverUpstream(ctx, c)
			case "downstream":
				if err := wantArgs(args, 0, 1, "at most one upstream NAME"); err != nil {
					return err
				}
				name := ""
				if len(args) == 1 {
					name = prName(args[0])
				}
				return a.discoverDownstream(ctx, c, name)
			case "":
			default:
				return usageErrorf("--discover takes upstream or downstream, not %q", *discover)
			}
			if err := wantArgs(args, 1, 1, "the LOCAL-NAME of the published revision to upgrade"); err != nil {
				return err
			}
			if *workspace == "" {
				return usageErrorf("--workspace is required")
			}
			local := prName(args[0])
			pr, err := c.PackageRevisions(a.namespace).Get(ctx, local)
			if err != nil {
				return failed("read", kindPR, local, err)
			}
			to := prName(*upstream)
			if to == "" {
				if pr.Status.UpgradeAvailable == nil {
					return fmt.Errorf("package revision %q has no newer upstream revision to upgrade to", local)
				}
				to = pr.Status.UpgradeAvailable.Name
			}
			id := pr.Spec.PackageRevID
			id.Workspace, id.Revision = *workspace, ""
			return a.createRevision(ctx, c, id, pkgapi.Task{Type: pkgapi.TaskTypeUpgrade, Upgrade: &pkgapi.UpgradeTask{
				NewUpstream:             pkgapi.UpstreamRef{Name: to},
				LocalPackageRevisionRef: pkgapi.UpstreamRef{Name: local},
				Strategy:                *strategy,
			}})
		}
	},
}

// discoverUpstream prints the revisions whose upstream has a newer revision.
func (a *app) discoverUpstream(ctx context.Context, c *client.Client) error {
	list, err := c.PackageRevisions(a.namespace).List(ctx, client.ListOptions{FieldSelector: "status.upgradeAvailable=true"})
	if err != nil {
		return failed("list", kindPR+"s", "", err)
	}
	if len(list.Items) == 0 {
		fmt.Fprintln(a.stderr, "All package revisions are up to date.")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUPSTREAM\tAVAILABLE\tREVISION")
	for _, pr := range list.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pr.Name, pr.Spec.Upstream.Name, pr.Status.UpgradeAvailable.Name, pr.Status.UpgradeAvailable.Revision)
	}
	return tw.Flush()
}

// discoverDownstream prints, for each upstream (or just name), the revisions made from it.
func (a *app) discoverDownstream(ctx context.Context, c *client.Client, name string) error {
	opts := client.ListOptions{}
	if name != "" {
		opts.FieldSelector = "spec.upstream.name=" + name
	}
	list, err := c.PackageRevisions(a.namespace).List(ctx, opts)
	if err != nil {
		return failed("list", kindPR+"s", "", err)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	n := 0
	for _, pr := range list.Items {
		if pr.Spec.Upstream == nil || pr.Spec.Upstream.Name == "" {
			continue
		}
		if n == 0 {
			fmt.Fprintln(tw, "UPSTREAM\tDOWNSTREAM\tLIFECYCLE\tUPGRADE")
		}
		n++
		upg := ""
		if pr.Status.UpgradeAvailable != nil {
			upg = pr.Status.UpgradeAvailable.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pr.Spec.Upstream.Name, pr.Name, pr.Spec.Lifecycle, upg)
	}
	if n == 0 {
		fmt.Fprintln(a.stderr, "No downstream package revisions found.")
		return nil
	}
	return tw.Flush()
}
