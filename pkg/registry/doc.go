// Package registry serves the OCI distribution API (distribution-spec v1.1,
// "spec.md") on /v2/ over any store.Store, so that oras, crane and skopeo push
// to and pull from pkgserver's embedded store directly.
//
// It is a plain http.Handler with its own route parser (repository names have
// any number of "/"-separated components, which path routers cannot split);
// Mount hangs it on an Echo server. Handlers return errors and one writer turns
// them into the spec's JSON error body through one table (errors.go).
//
// Optional store abilities are found by type assertion and have fallbacks:
// store.ReferencePusher, store.Untagger (tag delete), store.ReferrerLister
// (referrers API), store.Mounter (cross-repository mount) and store.Lister
// (_catalog and anonymous mount).
package registry
