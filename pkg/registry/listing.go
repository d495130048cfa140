package registry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/store"
)

// maxPage bounds one page of tags or repositories when n is not given or larger.
const maxPage = 1000

// errPageFull stops a page walk once n+1 names are collected.
var errPageFull = errors.New("page full")

// page collects up to n names from walk (which lists names after last), and
// reports whether more follow.
func page(ctx context.Context, n int, walk func(fn func([]string) error) error) ([]string, bool, error) {
	names := []string{}
	if n == 0 {
		return names, false, nil
	}
	err := walk(func(batch []string) error {
		names = append(names, batch...)
		if len(names) > n {
			return errPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, false, err
	}
	if len(names) > n {
		return names[:n], true, nil
	}
	return names, false, nil
}

// pageParams reads ?n= and ?last= ("Listing Tags"); n defaults to maxPage.
func pageParams(req *http.Request) (n int, last string, err error) {
	q := req.URL.Query()
	n, last = maxPage, q.Get("last")
	if v := q.Get("n"); v != "" {
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", newError(CodeSizeInvalid, "invalid n=%q", v)
		}
		n = min(n, maxPage)
	}
	return n, last, nil
}

// setLink adds the RFC 8288 Link to the next page ("Listing Tags", end-8b).
func setLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// listTags is GET /v2/<name>/tags/list (end-8a, end-8b).
func (r *Registry) listTags(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	n, last, err := pageParams(req)
	if err != nil {
		return err
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	tags, more, err := page(ctx, n, func(fn func([]string) error) error { return repo.Tags(ctx, last, fn) })
	if err != nil {
		return err
	}
	if more {
		setLink(w, rt.path(), n, tags[len(tags)-1])
	}
	writeJSON(w, req, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
	return nil
}

// catalog is GET /v2/_catalog with n and last, as distribution serves it.
func (r *Registry) catalog(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	l, ok := r.s.(store.Lister)
	if !ok {
		return newError(CodeUnsupported, "this store cannot list repositories")
	}
	n, last, err := pageParams(req)
	if err != nil {
		return err
	}
	repos, more, err := page(ctx, n, func(fn func([]string) error) error { return l.Repositories(ctx, last, fn) })
	if err != nil {
		return err
	}
	if more {
		setLink(w, rt.path(), n, repos[len(repos)-1])
	}
	writeJSON(w, req, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

// referrers is GET /v2/<name>/referrers/<digest> ("Listing Referrers",
// end-12a/b): an image index of the manifests whose subject is digest.
func (r *Registry) referrers(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	rl, ok := repo.(store.ReferrerLister)
	if !ok {
		// A 404 tells clients to fall back to the referrers tag schema.
		return newError(CodeManifestUnknown, "this store does not index referrers")
	}
	at := req.URL.Query().Get("artifactType")
	manifests := []ocispec.Descriptor{}
	err = rl.Referrers(ctx, ocispec.Descriptor{Digest: d}, at, func(refs []ocispec.Descriptor) error {
		manifests = append(manifests, refs...)
		return nil
	})
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, req, http.StatusOK, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specsV2,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
	return nil
}
