package cli

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

var rpkgPushCmd = &command{
	name:    "push",
	args:    "NAME DIR|-",
	summary: "replace the files of a draft revision with a directory, or with a PackageRevisionResources read from stdin",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 2, 2, "the package revision NAME and a DIR (or - for stdin)"); err != nil {
				return err
			}
			name, src := prName(args[0]), args[1]
			var (
				in  *pkgapi.PackageRevisionResources
				err error
			)
			if src == "-" {
				in, err = readStdinResources(a)
				src = "stdin"
			} else {
				in, err = readDir(src)
			}
			if err != nil {
				return fmt.Errorf("cannot push %s: %w", src, err)
			}
			if len(in.Spec.Resources) == 0 {
				return fmt.Errorf("cannot push %s: it holds no files", src)
			}
			// The resourceVersion read belongs to what was pulled; it guards
			// this write only when that is the revision being pushed to.
			rv := in.ResourceVersion
			if in.Name != "" && (in.Name != name || (in.Namespace != "" && in.Namespace != a.namespace)) {
				fmt.Fprintf(a.stderr, "pkgctl: note: %s was pulled from %q; pushing to %q without checking for changes made since\n", src, in.Name, name)
				rv = ""
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			prr := &pkgapi.PackageRevisionResources{
				TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionResourcesKind},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.namespace, ResourceVersion: rv},
				Spec:       pkgapi.PackageRevisionResourcesSpec{Resources: in.Spec.Resources},
			}
			out, err := c.PackageRevisionResources(a.namespace).Update(ctx, prr)
			if err != nil {
				if rv != "" && apierrors.IsConflict(err) {
					return fmt.Errorf("refusing a stale push: package revision %q has changed on the server since %s was pulled; pull it again, redo your changes there and push", name, src)
				}
				return failed("push to", kindPR, name, err)
			}
			if src != "stdin" {
				if err := updateMetadata(src, out); err != nil {
					return fmt.Errorf("pushed %q, but cannot update %s: %w", name, filepath.Join(src, MetadataFile), err)
				}
			}
			return a.printDone(prrKindName, name, fmt.Sprintf("pushed (%d files)", len(out.Spec.Resources)), out)
		}
	},
}

// readStdinResources reads a PackageRevisionResources in YAML or JSON.
func readStdinResources(a *app) (*pkgapi.PackageRevisionResources, error) {
	data, err := readAll(a.stdin)
	if err != nil {
		return nil, err
	}
	in := &pkgapi.PackageRevisionResources{}
	if err := yaml.UnmarshalStrict(data, in); err != nil {
		return nil, fmt.Errorf("want a PackageRevisionResources in YAML or JSON: %v", err)
	}
	if in.Kind != "" && in.Kind != pkgapi.PackageRevisionResourcesKind {
		return nil, fmt.Errorf("want a %s, got kind %q", pkgapi.PackageRevisionResourcesKind, in.Kind)
	}
	for p := range in.Spec.Resources {
		if err := checkPath(p); err != nil {
			return nil, fmt.Errorf("it has %w", err)
		}
	}
	return in, nil
}

// readDir reads every file under dir into spec.resources, and the metadata
// file, when there is one, into the object's metadata.
func readDir(dir string) (*pkgapi.PackageRevisionResources, error) {
	in := &pkgapi.PackageRevisionResources{Spec: pkgapi.PackageRevisionResourcesSpec{Resources: map[string]string{}}}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file (symbolic links and devices are not pushed)", p)
		}
		data, err := fs.ReadFile(root.FS(), p)
		if err != nil {
			return err
		}
		if p == MetadataFile {
			var meta pkgapi.PackageRevisionResources
			if err := yaml.Unmarshal(data, &meta); err != nil {
				return fmt.Errorf("%s: %v", MetadataFile, err)
			}
			in.ObjectMeta = meta.ObjectMeta
			return nil
		}
		if !utf8.Valid(data) {
			return fmt.Errorf("%s is not a text file", p)
		}
		in.Spec.Resources[p] = string(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// updateMetadata records the resourceVersion of a successful push in dir,
// so the next push from there is not mistaken for a stale one.
func updateMetadata(dir string, out *pkgapi.PackageRevisionResources) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return writeMetadata(root, out)
}
