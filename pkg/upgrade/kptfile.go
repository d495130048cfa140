package upgrade

import (
	"bytes"
	"path"

	"go.yaml.in/yaml/v3"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// localKptfileFields are the Kptfile fields that describe the downstream
// package rather than its content; an upgrade never takes them from
// upstream, and fast-forward does not count them as local edits (kpt's
// hasKfDiff does the same).
var localKptfileFields = []string{"upstream", "upstreamLock"}

// keepLocalKptfileFields copies the downstream-owned fields of the local
// Kptfile src into dst: metadata.name, upstream and upstreamLock. A field
// absent from src is removed from dst.
func keepLocalKptfileFields(dst, src *yaml.Node) {
	if name := field(field(src, "metadata"), "name"); name != nil {
		set(dst, []step{{key: "metadata"}, {key: "name"}}, deepCopy(name))
	}
	for _, k := range localKptfileFields {
		if v := field(src, k); v != nil {
			set(dst, []step{{key: k}}, deepCopy(v))
		} else {
			remove(dst, []step{{key: k}})
		}
	}
}

// singleKptfile returns the one Kptfile object of a Kptfile's text, or nil
// (also when it is over a YAML limit: then it is kept as it is).
func singleKptfile(p, text string, lim yamlbound.Limits) *doc {
	docs, err := parseDocs(p, text, yamlbound.NewBudget(lim))
	if err != nil || len(docs) != 1 || docs[0].id != kptfileName+":"+p {
		return nil
	}
	return docs[0]
}

// withLocalKptfiles returns files with every Kptfile carrying the
// downstream-owned fields of the local Kptfile at the same path. A Kptfile
// that is not exactly one KRM object is left as it is.
func withLocalKptfiles(files, local map[string]string, lim yamlbound.Limits) map[string]string {
	for p, text := range files {
		if path.Base(p) != kptfileName {
			continue
		}
		l, ok := local[p]
		if !ok {
			continue
		}
		ld, fd := singleKptfile(p, l, lim), singleKptfile(p, text, lim)
		if ld == nil || fd == nil {
			continue
		}
		before := deepCopy(fd.body())
		keepLocalKptfileFields(fd.body(), ld.body())
		if equal(before, fd.body()) {
			continue
		}
		var b bytes.Buffer
		if err := encode(&b, wideLists(text), fd.node); err == nil {
			files[p] = b.String()
		}
	}
	return files
}

// wideLists reports whether a file indents list items under their key
// (kyaml's "wide" style); files written again keep their style.
func wideLists(text string) bool {
	return kyaml.DeriveSeqIndentStyle(text) == string(kyaml.WideSequenceStyle)
}
