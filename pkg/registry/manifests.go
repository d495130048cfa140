package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Media types of the manifests the registry stores; others are refused
// because the store would keep them as plain blobs.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

var manifestMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest: true,
	ocispec.MediaTypeImageIndex:    true,
	mediaTypeDockerManifest:        true,
	mediaTypeDockerManifestList:    true,
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

// reference is a parsed <reference>: a digest or a tag.
type reference struct {
	digest digest.Digest
	tag    string
}

func (ref reference) String() string {
	if ref.tag != "" {
		return ref.tag
	}
	return ref.digest.String()
}

// parseReference tells a digest (it has a ":") from a tag.
func parseReference(s string) (reference, error) {
	if strings.Contains(s, ":") {
		d, err := parseDigest(s)
		return reference{digest: d}, err
	}
	if err := names.ValidateOCITag(s); err != nil {
		return reference{}, wrap(CodeManifestInvalid, err)
	}
	return reference{tag: s}, nil
}

// getManifest serves GET and HEAD of a manifest by tag or digest ("Pulling
// manifests", end-3), with the stored media type and digest.
func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	ref, err := parseReference(rt.ref)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeManifestInvalid {
			e.Code = CodeManifestUnknown // nothing can be stored under an invalid tag
		}
		return err
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	desc, err := repo.Resolve(ctx, ref.String())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", desc.MediaType)
	h.Set("Docker-Content-Digest", desc.Digest.String())
	h.Set("ETag", `"`+desc.Digest.String()+`"`)
	h.Set("Content-Length", strconv.FormatInt(desc.Size, 10))
	if req.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return err
	}
	if int64(len(body)) != desc.Size {
		return fmt.Errorf("manifest %s: stored size %d, listed %d", desc.Digest, len(body), desc.Size)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// manifestFields are the parts of an image manifest or index the registry checks.
type manifestFields struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
}

// parseManifest validates body as a manifest of mediaType (from Content-Type
// or, without one, from the body) and returns its fields and media type.
func parseManifest(body []byte, contentType string) (manifestFields, string, error) {
	var m manifestFields
	if err := json.Unmarshal(body, &m); err != nil {
		return m, "", newError(CodeManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	switch {
	case mt == "" && m.MediaType == "":
		return m, "", newError(CodeManifestInvalid, "no media type: set Content-Type or mediaType")
	case mt == "":
		mt = m.MediaType
	case m.MediaType != "" && m.MediaType != mt:
		// image-spec: mediaType, when present, must match the descriptor's (Content-Type here).
		return m, "", newError(CodeManifestInvalid, "mediaType %q does not match Content-Type %q", m.MediaType, mt)
	}
	if !manifestMediaTypes[mt] {
		return m, "", newError(CodeManifestInvalid, "unsupported manifest media type %q", mt)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return m, "", newError(CodeManifestInvalid, "schemaVersion must be 2")
	}
	var descs []ocispec.Descriptor
	if isIndex(mt) {
		if m.Manifests == nil {
			return m, "", newError(CodeManifestInvalid, "index has no manifests field")
		}
		descs = m.Manifests
	} else {
		if m.Config == nil {
			return m, "", newError(CodeManifestInvalid, "image manifest has no config")
		}
		descs = append([]ocispec.Descriptor{*m.Config}, m.Layers...)
	}
	if m.Subject != nil {
		descs = append(descs, *m.Subject)
	}
	for _, d := range descs {
		if err := d.Digest.Validate(); err != nil {
			return m, "", newError(CodeManifestInvalid, "descriptor digest %q: %v", d.Digest, err)
		}
		if d.Size < 0 {
			return m, "", newError(CodeManifestInvalid, "descriptor %s has a negative size", d.Digest)
		}
	}
	return m, mt, nil
}

// foreign reports a layer that registries need not hold: non-distributable
// (image-spec "Layer" media types, deprecated) or with external urls.
func foreign(d ocispec.Descriptor) bool {
	return len(d.URLs) > 0 || strings.Contains(d.MediaType, ".nondistributable.") ||
		strings.Contains(d.MediaType, ".foreign.")
}

// checkReferences makes sure what the manifest points at is stored ("Pushing
// Manifests": MANIFEST_BLOB_UNKNOWN). The subject may be missing (it may be
// pushed later, "Pushing Manifests with Subject").
func checkReferences(ctx context.Context, repo store.Repository, m manifestFields, mt string) error {
	if isIndex(mt) {
		for _, d := range m.Manifests {
			if _, err := repo.Resolve(ctx, d.Digest.String()); err != nil {
				if errors.Is(err, errdef.ErrNotFound) {
					return &Error{Code: CodeManifestBlobUnknown, Message: fmt.Sprintf("manifest %s unknown to repository", d.Digest), Detail: map[string]string{"digest": d.Digest.String()}}
				}
				return err
			}
		}
		return nil
	}
	for _, d := range append([]ocispec.Descriptor{*m.Config}, m.Layers...) {
		if foreign(d) {
			continue
		}
		ok, err := repo.Exists(ctx, d)
		if err != nil {
			return err
		}
		if !ok {
			return &Error{Code: CodeManifestBlobUnknown, Message: fmt.Sprintf("blob %s unknown to repository", d.Digest), Detail: map[string]string{"digest": d.Digest.String()}}
		}
	}
	return nil
}

// putManifest stores a manifest by tag or digest, with extra tags from ?tag=
// ("Pushing Manifests", end-7).
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	ref, err := parseReference(rt.ref)
	if err != nil {
		return err
	}
	tags := req.URL.Query()["tag"]
	if len(tags) > r.opts.MaxTagsPerPush {
		return overLimit(CodeManifestInvalid, FlagMaxTagsPerPush, int64(r.opts.MaxTagsPerPush), "a push with %d tags", len(tags))
	}
	for _, t := range tags {
		if err := names.ValidateOCITag(t); err != nil {
			return wrap(CodeManifestInvalid, err)
		}
	}
	if ref.tag != "" {
		tags = append([]string{ref.tag}, tags...)
	}
	tags = dedupe(tags)
	maxBytes := r.opts.MaxManifestBytes
	if req.ContentLength > maxBytes {
		return overLimit(CodeManifestInvalid, FlagMaxManifestBytes, maxBytes, "a manifest of %d bytes", req.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBytes+1))
	if err != nil {
		return &Error{Code: CodeManifestInvalid, Message: "reading the request body failed", err: err}
	}
	if int64(len(body)) > maxBytes {
		return overLimit(CodeManifestInvalid, FlagMaxManifestBytes, maxBytes, "a manifest of more than %d bytes", maxBytes)
	}
	m, mt, err := parseManifest(body, req.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	// The digest is computed with the algorithm of the URL when pushing by digest.
	alg := digest.Canonical
	if ref.digest != "" {
		alg = ref.digest.Algorithm()
	}
	d := alg.FromBytes(body)
	if ref.digest != "" && d != ref.digest {
		return newError(CodeDigestInvalid, "manifest digest is %s, not %s", d, ref.digest)
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx, rt.name)
	if err != nil {
		return err
	}
	changed := false
	defer func() { unlock(changed) }()
	if err := checkReferences(ctx, repo, m, mt); err != nil {
		return err
	}
	for _, t := range tags {
		if err := r.guard(ctx, Request{Repo: rt.name, Op: OpPutTag, Tag: t, Tags: tags, Digest: d, Manifest: body}); err != nil {
			return err
		}
	}
	desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}
	changed = true // even a failed push may have stored part of it
	if err := pushManifest(ctx, repo, desc, body, tags); err != nil {
		// The store checks references again under its lock: a blob garbage
		// collection removed since checkReferences is missing after all.
		if errors.Is(err, errdef.ErrNotFound) {
			return &Error{Code: CodeManifestBlobUnknown, Message: err.Error(), err: err}
		}
		return err
	}
	h := w.Header()
	h.Set("Location", manifestPath(rt.name, d.String()))
	h.Set("Docker-Content-Digest", d.String())
	if m.Subject != nil {
		// We index referrers ourselves ("Pushing Manifests with Subject").
		h.Set("OCI-Subject", m.Subject.Digest.String())
	}
	for _, t := range tags {
		if t != ref.tag {
			h.Add("OCI-Tag", t)
		}
	}
	empty(w, http.StatusCreated)
	return nil
}

// pushManifest stores desc and points tags at it, in one write when the store
// can push by reference.
func pushManifest(ctx context.Context, repo store.Repository, desc ocispec.Descriptor, body []byte, tags []string) error {
	if rp, ok := repo.(store.ReferencePusher); ok && len(tags) > 0 {
		if err := rp.PushReference(ctx, desc, bytes.NewReader(body), tags[0]); err != nil {
			return err
		}
		tags = tags[1:]
	} else if err := repo.Push(ctx, desc, bytes.NewReader(body)); err != nil {
		return err
	}
	for _, t := range tags {
		if err := repo.Tag(ctx, desc, t); err != nil {
			return err
		}
	}
	return nil
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// deleteManifest deletes a manifest by digest or untags a tag ("Deleting
// Manifests" and "Deleting Tags", end-9).
func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	ref, err := parseReference(rt.ref)
	if err != nil {
		return err
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx, rt.name)
	if err != nil {
		return err
	}
	changed := false
	defer func() { unlock(changed) }()
	desc, err := repo.Resolve(ctx, ref.String())
	if err != nil {
		return err
	}
	if ref.tag != "" {
		u, ok := repo.(store.Untagger)
		if !ok {
			return newError(CodeUnsupported, "this store cannot delete tags")
		}
		if err := r.guard(ctx, Request{Repo: rt.name, Op: OpDeleteTag, Tag: ref.tag, Digest: desc.Digest}); err != nil {
			return err
		}
		changed = true
		if err := u.Untag(ctx, ref.tag); err != nil {
			return err
		}
	} else {
		if err := r.guard(ctx, Request{Repo: rt.name, Op: OpDeleteManifest, Digest: desc.Digest}); err != nil {
			return err
		}
		changed = true
		if err := repo.Delete(ctx, desc); err != nil {
			return err
		}
	}
	empty(w, http.StatusAccepted)
	return nil
}
