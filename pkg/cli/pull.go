package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// MetadataFile is the file pull writes next to the package's files: the
// PackageRevisionResources object without its files, so push can send back
// the name and resourceVersion that were pulled (porchctl does the same with
// the same file name). push never sends it as a package file.
const MetadataFile = ".KptRevisionMetadata"

var rpkgPullCmd = &command{
	name:    "pull",
	args:    "NAME [DIR|-]",
	summary: "write the files of a package revision to a new directory, or its PackageRevisionResources to stdout",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, 2, "the package revision NAME and a DIR"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			name := prName(args[0])
			prr, err := c.PackageRevisionResources(a.namespace).Get(ctx, name)
			if err != nil {
				return failed("pull", kindPR, name, err)
			}
			if len(args) == 1 || args[1] == "-" {
				format := a.output
				if format != "json" {
					format = "yaml"
				}
				return printObject(a.stdout, format, prr)
			}
			dir := args[1]
			if err := writeDir(dir, prr); err != nil {
				return fmt.Errorf("cannot pull package revision %q into %s: %w", name, dir, err)
			}
			fmt.Fprintf(a.stdout, "%s pulled into %s (%d files)\n", name, dir, len(prr.Spec.Resources))
			return nil
		}
	},
}

// writeDir writes the files of prr and the metadata file into dir, which
// must not exist or be empty: files left over from something else would be
// pushed back as part of the package.
func writeDir(dir string, prr *pkgapi.PackageRevisionResources) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return errors.New("the directory is not empty; pull into a new directory")
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(prr.Spec.Resources)) {
		if err := checkPath(p); err != nil {
			return fmt.Errorf("the server sent %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// os.Root keeps every write inside dir, whatever the paths and symlinks.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for p, text := range prr.Spec.Resources {
		if d := path.Dir(p); d != "." {
			if err := root.MkdirAll(filepath.FromSlash(d), 0o755); err != nil {
				return err
			}
		}
		if err := root.WriteFile(filepath.FromSlash(p), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return writeMetadata(root, prr)
}

// writeMetadata writes prr without its files to the metadata file.
func writeMetadata(root *os.Root, prr *pkgapi.PackageRevisionResources) error {
	meta := &pkgapi.PackageRevisionResources{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionResourcesKind},
		ObjectMeta: metav1.ObjectMeta{
			Name: prr.Name, Namespace: prr.Namespace, ResourceVersion: prr.ResourceVersion,
			UID: prr.UID, Labels: prr.Labels, Annotations: prr.Annotations,
		},
		Spec: pkgapi.PackageRevisionResourcesSpec{PackageRevID: prr.Spec.PackageRevID},
	}
	data, err := yaml.Marshal(meta)
	if err != nil {
		return err
	}
	return root.WriteFile(MetadataFile, data, 0o644)
}

// checkPath refuses file paths that are not relative, clean, forward-slash
// paths inside the package, and the metadata file's own name.
func checkPath(p string) error {
	switch {
	case p == "" || strings.Contains(p, `\`) || path.Clean(p) != p || !filepath.IsLocal(filepath.FromSlash(p)):
		return fmt.Errorf("a file path %q that is not a relative path inside the package", p)
	case p == MetadataFile:
		return fmt.Errorf("a file named %s, which pkgctl keeps for its own use", MetadataFile)
	}
	return nil
}

// readAll reads the whole of r, the standard input.
func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no standard input")
	}
	return io.ReadAll(r)
}
