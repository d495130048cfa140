package layout

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// manifestInfo is what Referrers and garbage collection need from a
// manifest, kept in memory so that neither reads blobs.
type manifestInfo struct {
	subject      digest.Digest
	artifactType string
	annotations  map[string]string
	// blobs are the config and layers of an image manifest that a registry
	// must hold (foreign layers excepted).
	blobs []digest.Digest
	// children are the manifests of an image index.
	children []digest.Digest
}

// index is the in-memory copy of one repository's index.json. We are the only
// writer (the directory is flock'ed), so memory is authoritative after load.
type index struct {
	// entries are the index.json manifests: one per tag, and one without a
	// ref.name annotation for each manifest that has no tag.
	entries []ocispec.Descriptor
	// infos holds manifestInfo of manifests listed in entries, read on
	// first use (see info): a load reads index.json alone, so a scan of
	// every repository reads no manifest.
	infos map[digest.Digest]manifestInfo
	read  func(digest.Digest) (manifestInfo, error) // one listed manifest's info
}

// parseManifestInfo reads the fields of an image manifest or image index that
// the referrers API returns (distribution spec, "Listing Referrers") and the
// digests it refers to.
func parseManifestInfo(data []byte) (manifestInfo, error) {
	var m struct {
		ArtifactType string               `json:"artifactType"`
		Config       *ocispec.Descriptor  `json:"config"`
		Layers       []ocispec.Descriptor `json:"layers"`
		Manifests    []ocispec.Descriptor `json:"manifests"`
		Subject      *ocispec.Descriptor  `json:"subject"`
		Annotations  map[string]string    `json:"annotations"`
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
	if m.Config != nil {
		info.blobs = append(info.blobs, m.Config.Digest)
	}
	for _, l := range m.Layers {
		if !foreign(l) {
			info.blobs = append(info.blobs, l.Digest)
		}
	}
	for _, c := range m.Manifests {
		info.children = append(info.children, c.Digest)
	}
	return info, nil
}

// foreign reports a layer that registries need not hold: non-distributable
// (image-spec "Layer" media types, deprecated) or with external urls.
func foreign(d ocispec.Descriptor) bool {
	return len(d.URLs) > 0 || strings.Contains(d.MediaType, ".nondistributable.") ||
		strings.Contains(d.MediaType, ".foreign.")
}

// loadIndex reads index.json of repoDir; the manifests it lists are read on
// first use (see info). A missing index.json is an empty index.
func loadIndex(fsy fsys.FS, repoDir string) (*index, error) {
	idx := &index{infos: map[digest.Digest]manifestInfo{}, read: func(d digest.Digest) (manifestInfo, error) {
		path, err := blobPath(repoDir, d)
		if err != nil {
			return manifestInfo{}, err
		}
		b, err := readFile(fsy, path)
		if err != nil {
			return manifestInfo{}, err
		}
		return parseManifestInfo(b)
	}}
	data, err := readFile(fsy, filepath.Join(repoDir, ocispec.ImageIndexFile))
	if isNotExist(err) {
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
	return idx, nil
}

// info returns the manifestInfo of listed manifest d, reading the manifest
// the first time.
func (idx *index) info(d digest.Digest) (manifestInfo, error) {
	if info, ok := idx.infos[d]; ok {
		return info, nil
	}
	info, err := idx.read(d)
	if err != nil {
		return manifestInfo{}, fmt.Errorf("read manifest %s listed in index.json: %w", d, err)
	}
	idx.infos[d] = info
	return info, nil
}

// save writes index.json atomically; see writeFileAtomic.
func (idx *index) save(fsy fsys.FS, repoDir string) error {
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
	return writeFileAtomic(fsy, filepath.Join(repoDir, ocispec.ImageIndexFile), data)
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
	return index{entries: slices.Clone(idx.entries), infos: maps.Clone(idx.infos), read: idx.read}
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
		info, err := idx.info(old.Digest)
		if err != nil {
			// Unreadable: the entry keeps what index.json said of it.
			info = manifestInfo{artifactType: old.ArtifactType}
		}
		idx.entries = append(idx.entries, entry(old, info, ""))
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

// readFile reads a whole file.
func readFile(fsy fsys.FS, path string) ([]byte, error) {
	f, err := fsy.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
