// Command approval-bot is an example controller for pkgserver, built with
// controller-runtime: it watches PackageRevisions and approves (publishes)
// the proposed ones whose readiness gates are all True.
//
// It needs no Kubernetes cluster: point a kubeconfig (or --kubeconfig) at
// pkgserver, e.g.
//
//	kubectl config set-cluster pkgserver --server http://127.0.0.1:8080
//	kubectl config set-context pkgserver --cluster pkgserver && kubectl config use-context pkgserver
//	approval-bot --namespace default
//
// See docs/controllers.md in the pkgserver repository.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "approval-bot:", err)
		os.Exit(1)
	}
}

func run() error {
	namespace := flag.String("namespace", "", "namespace to watch (empty: all)")
	withoutGates := flag.Bool("approve-without-gates", false, "also approve proposed revisions that have no readiness gates")
	metrics := flag.String("metrics-bind-address", "0", `address of the controller's metrics endpoint ("0": off)`)
	verbose := flag.Bool("v", false, "log every decision, not only approvals")
	flag.Parse() // controller-runtime adds --kubeconfig

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	cfg.UserAgent = "approval-bot"

	scheme := runtime.NewScheme()
	if err := pkgapi.AddToScheme(scheme); err != nil {
		return err
	}
	opts := ctrl.Options{
		Scheme: scheme,
		// pkgserver serves no Leases, and its default port is the
		// controller-runtime metrics default: leader election and metrics
		// are off unless asked for.
		LeaderElection: false,
		Metrics:        metricsserver.Options{BindAddress: *metrics},
	}
	if *namespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return err
	}
	r := &Reconciler{Reader: mgr.GetClient(), Approve: ApproveWith(mgr.GetClient()), WithoutGates: *withoutGates}
	if err := ctrl.NewControllerManagedBy(mgr).For(&pkgapi.PackageRevision{}).Named("approval").Complete(r); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
