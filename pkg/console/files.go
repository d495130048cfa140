package console

import (
	"maps"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// fileNode is a directory or a file of a package, for the file tree.
type fileNode struct {
	Name     string
	Path     string // of a file; empty for a directory
	Children []*fileNode
}

// fileTree arranges file paths as a tree: directories first, then files,
// each by name.
func fileTree(paths []string) []*fileNode {
	root := &fileNode{}
	for _, p := range slices.Sorted(slices.Values(paths)) {
		n := root
		parts := strings.Split(p, "/")
		for i, part := range parts {
			if i == len(parts)-1 {
				n.Children = append(n.Children, &fileNode{Name: part, Path: p})
				break
			}
			var dir *fileNode
			for _, ch := range n.Children {
				if ch.Path == "" && ch.Name == part {
					dir = ch
				}
			}
			if dir == nil {
				dir = &fileNode{Name: part}
				n.Children = append(n.Children, dir)
			}
			n = dir
		}
	}
	sortTree(root)
	return root.Children
}

func sortTree(n *fileNode) {
	slices.SortStableFunc(n.Children, func(a, b *fileNode) int {
		if (a.Path == "") != (b.Path == "") {
			if a.Path == "" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, ch := range n.Children {
		sortTree(ch)
	}
}

// isYAML says which files hold KRM resources: *.yaml, *.yml and Kptfiles,
// as the API validates them.
func isYAML(p string) bool {
	base := path.Base(p)
	return base == "Kptfile" || strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}

// krmResource is one KRM object of a package.
type krmResource struct {
	APIVersion, Kind, Name, Namespace string
	Path                              string
	Line                              int
}

// maxResources bounds the resources a revision page lists (and reads the
// files for): a package of thousands of small documents made a page of
// seconds, again on every live update.
const maxResources = 1000

// resourcesOf lists the first max KRM objects of a package's YAML files, in
// path order; more says there are others. The files passed the API's YAML
// limits; they are read through the same bounded decoder anyway, and a
// file that does not parse is left out (its page shows it as text).
func resourcesOf(files map[string]string, max int) (out []krmResource, more bool) {
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !isYAML(p) {
			continue
		}
		docs, err := yamlbound.Documents(files[p], yamlbound.NewBudget(yamlbound.Limits{}))
		if err != nil {
			continue
		}
		for _, doc := range docs {
			var obj struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name      string `yaml:"name"`
					Namespace string `yaml:"namespace"`
				} `yaml:"metadata"`
			}
			if doc.Decode(&obj) != nil || obj.Kind == "" {
				continue
			}
			if len(out) == max {
				return out, true
			}
			out = append(out, krmResource{APIVersion: obj.APIVersion, Kind: obj.Kind, Name: obj.Metadata.Name,
				Namespace: obj.Metadata.Namespace, Path: p, Line: docLine(doc)})
		}
	}
	return out, false
}

// docLine is the first line of a document's content.
func docLine(doc *yaml.Node) int {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return doc.Line
}
