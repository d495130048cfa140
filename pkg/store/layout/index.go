package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// manifestInfo is what Referrers needs from a manifest, kept in memory so
// that listing referrers never reads blobs.
type manifestInfo struct {
	subject      digest.Digest
	artifactType string
	annotations  map[string]string
}

// index is the in-memory copy of one repository's index.json. We are the only
// writer (the directory is flock'ed), so memory is authoritative after load.
type index struct {
	// entries are the index.json manifests: one per tag, and one without a
	// ref.name annotation for each manifest that has no tag.
	entries []ocispec.Descriptor
	// infos holds manifestInfo for every manifest digest in entries.
	infos map[digest.Digest]manifestInfo
}

// parseManifestInfo reads the fields of an image manifest or image index that
// the referrers API returns (distribution spec, "Listing Referrers").
func parseManifestInfo(data []byte) (manifestInfo, error) {
	var m struct {
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return manifestInfo{}, fmt.Errorf("parse manifest: %w: %w", errdef.ErrInvalid, err)
	}
	info := manifestInfo{artifactType: m.ArtifactType, annotations: m.Annotations}
	// The referrers API falls back to the config media type of an image manifest.
	if info.artifactType == "" && m.Config != nil {
		info.artifactType = m.Config.MediaType
	}
	if m.Subject != nil {
		info.subject = m.Subject.Digest
	}
	return info, nil
}

// loadIndex reads index.json of repoDir and the manifests it lists (once, for
// their subject and artifactType). A missing index.json is an empty index.
func loadIndex(repoDir string) (*index, error) {
	idx := &index{infos: map[digest.Digest]manifestInfo{}}
	data, err := os.ReadFile(filepath.Join(repoDir, ocispec.ImageIndexFile))
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	var ix ocispec.Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("parse %s: %w", ocispec.ImageIndexFile, err)
	}
	idx.entries = ix.Manifests
	for _, e := range ix.Manifests {
		if _, ok := idx.infos[e.Digest]; ok {
			continue
		}
		path, err := blobPath(repoDir, e.Digest)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s listed in index.json: %w", e.Digest, err)
		}
		info, err := parseManifestInfo(b)
		if err != nil {
			return nil, err
		}
		idx.infos[e.Digest] = info
	}
	return idx, nil
}

// save writes index.json atomically; see writeFileAtomic.
func (idx *index) save(repoDir string) error {
	ix := ocispec.Index{
		Versioned: specsVersioned,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: idx.entries,
	}
	if ix.Manifests == nil {
		ix.Manifests = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(repoDir, ocispec.ImageIndexFile), data)
}

// tagOf returns the tag of an index entry, "" when untagged.
func tagOf(e ocispec.Descriptor) string { return e.Annotations[ocispec.AnnotationRefName] }

// find returns the entry for tag, or the first entry with the digest when tag is "".
func (idx *index) find(tag string, d digest.Digest) (ocispec.Descriptor, bool) {
	for _, e := range idx.entries {
		if tag != "" && tagOf(e) == tag || tag == "" && e.Digest == d {
			return e, true
		}
	}
	return ocispec.Descriptor{}, false
}

// snapshot returns a copy of idx so that a failed save can be rolled back.
func (idx *index) snapshot() index {
	return index{entries: slices.Clone(idx.entries), infos: maps.Clone(idx.infos)}
}

// addManifest lists desc untagged unless it is already listed.
func (idx *index) addManifest(desc ocispec.Descriptor, info manifestInfo) {
	if _, ok := idx.find("", desc.Digest); ok {
		return
	}
	idx.infos[desc.Digest] = info
	idx.entries = append(idx.entries, entry(desc, info, ""))
}

// tag points tag at desc, moving it if needed; a manifest left without
// tags stays listed untagged so it can still be fetched and referred to.
func (idx *index) tag(desc ocispec.Descriptor, info manifestInfo, tag string) {
	old, moved := idx.find(tag, "")
	idx.entries = slices.DeleteFunc(idx.entries, func(e ocispec.Descriptor) bool {
		t := tagOf(e)
		return t == tag || t == "" && e.Digest == desc.Digest
	})
	idx.infos[desc.Digest] = info
	idx.entries = append(idx.entries, entry(desc, info, tag))
	if moved && old.Digest != desc.Digest {
		idx.keepListed(old)
	}
}

// untag removes tag and reports whether it existed.
func (idx *index) untag(tag string) bool {
	old, ok := idx.find(tag, "")
	if !ok {
		return false
	}
	idx.entries = slices.DeleteFunc(idx.entries, func(e ocispec.Descriptor) bool { return tagOf(e) == tag })
	idx.keepListed(old)
	return true
}

// keepListed adds an untagged entry for old if no entry lists its digest any more.
func (idx *index) keepListed(old ocispec.Descriptor) {
	if _, ok := idx.find("", old.Digest); !ok {
		idx.entries = append(idx.entries, entry(old, idx.infos[old.Digest], ""))
	}
}

// remove drops every entry of digest d and reports whether there was one.
func (idx *index) remove(d digest.Digest) bool {
	n := len(idx.entries)
	idx.entries = slices.DeleteFunc(idx.entries, func(e ocispec.Descriptor) bool { return e.Digest == d })
	delete(idx.infos, d)
	return len(idx.entries) != n
}

// entry builds an index.json descriptor; the tag is the ref.name annotation
// (image-spec image-layout.md, "index.json file").
func entry(desc ocispec.Descriptor, info manifestInfo, tag string) ocispec.Descriptor {
	e := ocispec.Descriptor{
		MediaType:    desc.MediaType,
		Digest:       desc.Digest,
		Size:         desc.Size,
		ArtifactType: info.artifactType,
	}
	if tag != "" {
		e.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	}
	return e
}
