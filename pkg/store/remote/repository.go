package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasErrdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Repository is one repository of a remote registry; it wraps an oras-go
// remote.Repository and translates its errors.
type Repository struct {
	repo *remote.Repository
	name string
}

var (
	_ store.Repository      = (*Repository)(nil)
	_ store.ReferencePusher = (*Repository)(nil)
	_ store.Untagger        = (*Repository)(nil)
	_ store.ReferrerLister  = (*Repository)(nil)
	_ store.Mounter         = (*Repository)(nil)
)

func (r *Repository) op(verb, what string) string {
	return fmt.Sprintf("%s %s/%s %s", verb, r.repo.Reference.Registry, r.name, what)
}

// Fetch fetches a blob or manifest. Without a media type the target is tried
// as a manifest first (the Accept header then lists every manifest type),
// then as a blob, so a manifest can be fetched from a digest and a size.
func (r *Repository) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	if target.MediaType == "" {
		_, rc, err := r.repo.Manifests().FetchReference(ctx, target.Digest.String())
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, orasErrdef.ErrNotFound) {
			return nil, translate(r.op("fetch", target.Digest.String()), err)
		}
		rc, err = r.repo.Blobs().Fetch(ctx, target)
		return rc, translate(r.op("fetch", target.Digest.String()), err)
	}
	rc, err := r.repo.Fetch(ctx, target)
	return rc, translate(r.op("fetch", target.Digest.String()), err)
}

// Exists reports whether the blob or manifest exists; without a media type
// both are tried, like Fetch.
func (r *Repository) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	if target.MediaType == "" {
		ok, err := r.repo.Manifests().Exists(ctx, target)
		if err != nil || ok {
			return ok, translate(r.op("check", target.Digest.String()), err)
		}
		ok, err = r.repo.Blobs().Exists(ctx, target)
		return ok, translate(r.op("check", target.Digest.String()), err)
	}
	ok, err := r.repo.Exists(ctx, target)
	return ok, translate(r.op("check", target.Digest.String()), err)
}

// Push uploads a blob, or a manifest when expected has a manifest media type.
// Pushing existing content again succeeds (registries accept it).
func (r *Repository) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	return translate(r.op("push", expected.Digest.String()), r.repo.Push(ctx, expected, content))
}

// PushReference uploads a manifest and tags it in one PUT.
func (r *Repository) PushReference(ctx context.Context, expected ocispec.Descriptor, content io.Reader, reference string) error {
	return translate(r.op("push", reference), r.repo.PushReference(ctx, expected, content, reference))
}

// Resolve returns the manifest descriptor of a tag or digest.
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	desc, err := r.repo.Resolve(ctx, reference)
	return desc, translate(r.op("resolve", reference), err)
}

// Tag points reference at the manifest desc.
func (r *Repository) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	if desc.MediaType == "" {
		// oras-go needs the media type to re-upload the manifest under the tag.
		d, err := r.repo.Resolve(ctx, desc.Digest.String())
		if err != nil {
			return translate(r.op("tag", reference), err)
		}
		desc = d
	}
	return translate(r.op("tag", reference), r.repo.Tag(ctx, desc, reference))
}

// Tags lists tags in lexical order after last. An unknown repository is errdef.ErrNotFound.
func (r *Repository) Tags(ctx context.Context, last string, fn func(tags []string) error) error {
	return translate(r.op("list tags of", ""), r.repo.Tags(ctx, last, fn))
}

// Delete removes a manifest (the registry drops its tags) or a blob. Without a
// media type the target is tried as a manifest, then as a blob.
func (r *Repository) Delete(ctx context.Context, target ocispec.Descriptor) error {
	if target.MediaType == "" {
		err := r.repo.Manifests().Delete(ctx, target)
		if err == nil || !errors.Is(err, orasErrdef.ErrNotFound) {
			return translate(r.op("delete", target.Digest.String()), err)
		}
		return translate(r.op("delete", target.Digest.String()), r.repo.Blobs().Delete(ctx, target))
	}
	return translate(r.op("delete", target.Digest.String()), r.repo.Delete(ctx, target))
}

// Referrers lists the manifests whose subject is subject, through the
// referrers API or, on registries without it, the referrers tag schema.
func (r *Repository) Referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string, fn func(referrers []ocispec.Descriptor) error) error {
	return translate(r.op("list referrers of", subject.Digest.String()), r.repo.Referrers(ctx, subject, artifactType, fn))
}

// Mount asks the registry to mount a blob from fromRepo (cross-repository
// blob mount); if it will not, getContent (or a pull from fromRepo) is pushed.
func (r *Repository) Mount(ctx context.Context, desc ocispec.Descriptor, fromRepo string, getContent func() (io.ReadCloser, error)) error {
	return translate(r.op("mount", desc.Digest.String()+" from "+fromRepo), r.repo.Mount(ctx, desc, fromRepo, getContent))
}

// errTagDeleteRefused explains a registry that does not support deleting tags.
var errTagDeleteRefused = errors.New("registry refused to delete the tag (tag deletion, distribution spec v1.1, is unsupported or disabled; the manifest is unchanged)")

// Untag deletes one tag with DELETE /v2/<name>/manifests/<tag> (distribution
// spec v1.1, "Deleting tags"); the manifest stays. oras-go has no call for it.
func (r *Repository) Untag(ctx context.Context, tag string) error {
	op := r.op("untag", tag)
	ref := r.repo.Reference
	ref.Reference = tag
	if err := ref.ValidateReferenceAsTag(); err != nil {
		return fmt.Errorf("remote: %s: %w: %w", op, errdef.ErrInvalid, err)
	}
	err := r.deleteManifest(ctx, op, tag)
	if errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("%w: %w", errTagDeleteRefused, err)
	}
	return err
}

// DeleteSubjectless deletes a manifest that has no subject with one DELETE:
// oras-go would first GET it to keep a referrers tag index on registries
// without the referrers API, which a manifest without subject never needs.
func (r *Repository) DeleteSubjectless(ctx context.Context, target ocispec.Descriptor) error {
	return r.deleteManifest(ctx, r.op("delete", target.Digest.String()), target.Digest.String())
}

// deleteManifest sends DELETE /v2/<name>/manifests/<reference>.
func (r *Repository) deleteManifest(ctx context.Context, op, reference string) error {
	ref := r.repo.Reference
	ref.Reference = reference
	ctx = auth.AppendRepositoryScope(ctx, ref, auth.ActionDelete)
	scheme := "https"
	if r.repo.PlainHTTP {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: ref.Registry, Path: "/v2/" + ref.Repository + "/manifests/" + reference}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return fmt.Errorf("remote: %s: %w", op, err)
	}
	resp, err := r.repo.Client.Do(req)
	if err != nil {
		return translate(op, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
		return nil
	}
	errResp := &errcode.ErrorResponse{Method: req.Method, URL: req.URL, StatusCode: resp.StatusCode}
	var body struct {
		Errors errcode.Errors `json:"errors"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) == nil {
		errResp.Errors = body.Errors
	}
	switch resp.StatusCode {
	case http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusNotImplemented:
		if !isNotFound(errResp) {
			return fmt.Errorf("remote: %s: %w: %w", op, errors.ErrUnsupported, errResp)
		}
	}
	return translate(op, errResp)
}

func isNotFound(resp *errcode.ErrorResponse) bool {
	for _, e := range resp.Errors {
		if notFoundCodes[e.Code] {
			return true
		}
	}
	return resp.StatusCode == http.StatusNotFound
}

// FetchReference gets a manifest by tag or digest in one GET.
func (r *Repository) FetchReference(ctx context.Context, reference string) (ocispec.Descriptor, io.ReadCloser, error) {
	desc, rc, err := r.repo.FetchReference(ctx, reference)
	return desc, rc, translate(r.op("fetch", reference), err)
}
