package format

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/file"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
)

var testFiles = map[string]string{
	"Kptfile":             "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n",
	"deploy.yaml":         "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n",
	"sub/dir/svc.yaml":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n",
	"sub/README.md":       "# app\n",
	"sub/empty.txt":       "",
	"sub/dir/zz/last.yml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: z\n",
}

func TestPackLayerReproducible(t *testing.T) {
	first, err := PackLayer("app", testFiles)
	if err != nil {
		t.Fatal(err)
	}
	// Maps are iterated in random order; build the same content many times
	// through fresh maps filled in different orders.
	for i := 0; i < 20; i++ {
		m := map[string]string{}
		keys := make([]string, 0, len(testFiles))
		for k := range testFiles {
			keys = append(keys, k)
		}
		for j := range keys { // rotate the insertion order
			k := keys[(i+j)%len(keys)]
			m[k] = testFiles[k]
		}
		l, err := PackLayer("app", m)
		if err != nil {
			t.Fatal(err)
		}
		if l.Descriptor.Digest != first.Descriptor.Digest || !bytes.Equal(l.Data, first.Data) {
			t.Fatalf("run %d: digest %s, want %s", i, l.Descriptor.Digest, first.Descriptor.Digest)
		}
	}
	d := first.Descriptor
	if d.MediaType != ocispec.MediaTypeImageLayerGzip || d.Size != int64(len(first.Data)) || d.Digest != digest.FromBytes(first.Data) {
		t.Errorf("descriptor %+v does not describe the data", d)
	}
	if d.Annotations[AnnotationTitle] != "app" || d.Annotations[AnnotationUnpack] != "true" {
		t.Errorf("annotations %v: want title app and unpack true", d.Annotations)
	}
	gr, err := gzip.NewReader(bytes.NewReader(first.Data))
	if err != nil {
		t.Fatal(err)
	}
	var tarBytes bytes.Buffer
	if _, err := tarBytes.ReadFrom(gr); err != nil {
		t.Fatal(err)
	}
	if got, want := d.Annotations[AnnotationUnpackDigest], digest.FromBytes(tarBytes.Bytes()).String(); got != want {
		t.Errorf("unpack digest %s, want the tar's %s", got, want)
	}
}

func TestPackLayerDifferentContentDifferentDigest(t *testing.T) {
	base, err := PackLayer("app", testFiles)
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(m map[string]string) (dir string){
		"file body":    func(m map[string]string) string { m["deploy.yaml"] += "# x\n"; return "app" },
		"file added":   func(m map[string]string) string { m["new.yaml"] = ""; return "app" },
		"file removed": func(m map[string]string) string { delete(m, "sub/empty.txt"); return "app" },
		"file renamed": func(m map[string]string) string {
			m["sub/empty2.txt"] = m["sub/empty.txt"]
			delete(m, "sub/empty.txt")
			return "app"
		},
		"package name": func(m map[string]string) string { return "app2" },
		"bytes swapped": func(m map[string]string) string {
			m["Kptfile"], m["deploy.yaml"] = m["deploy.yaml"], m["Kptfile"]
			return "app"
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			m := maps.Clone(testFiles)
			dir := change(m)
			l, err := PackLayer(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			if l.Descriptor.Digest == base.Descriptor.Digest {
				t.Error("different content, same digest")
			}
		})
	}
}

func TestPackLayerRefuses(t *testing.T) {
	tests := []struct {
		name  string
		dir   string
		files map[string]string
	}{
		{"absolute path", "app", map[string]string{"/etc/passwd": ""}},
		{"dot dot", "app", map[string]string{"../x.yaml": ""}},
		{"inner dot dot", "app", map[string]string{"a/../../x.yaml": ""}},
		{"unclean", "app", map[string]string{"a//b.yaml": ""}},
		{"backslash", "app", map[string]string{`a\b.yaml`: ""}},
		{"empty path", "app", map[string]string{"": ""}},
		{"file is also a directory", "app", map[string]string{"a": "", "a/b.yaml": ""}},
		{"empty dir", "", map[string]string{"a.yaml": ""}},
		{"dir with slash", "a/b", map[string]string{"a.yaml": ""}},
		{"dir dot dot", "..", map[string]string{"a.yaml": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PackLayer(tt.dir, tt.files)
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Errorf("PackLayer = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestPackLayerEmptyPackage(t *testing.T) {
	l, err := PackLayer("app", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := ReadLayer(l.Descriptor, l.Data, got); err != nil || len(got) != 0 {
		t.Errorf("ReadLayer = %v, %v; want no files", got, err)
	}
}

func TestReadLayerOfPackLayer(t *testing.T) {
	l, err := PackLayer("app", testFiles)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := ReadLayer(l.Descriptor, l.Data, got); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, testFiles) {
		t.Errorf("ReadLayer = %v, want %v", got, testFiles)
	}
}

// TestPackLayerOrasPull checks that oras-go's file store (what `oras pull`
// uses) unpacks our layer into <dir>/<files>.
func TestPackLayerOrasPull(t *testing.T) {
	l, err := PackLayer("app", testFiles)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	fs, err := file.New(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if err := fs.Push(context.Background(), l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatalf("file store push: %v", err)
	}
	for p, body := range testFiles {
		b, err := os.ReadFile(filepath.Join(out, "app", filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("oras unpack: %v", err)
			continue
		}
		if string(b) != body {
			t.Errorf("%s = %q, want %q", p, b, body)
		}
	}
}

// orasLayer builds a layer the way `oras push` does, with oras-go's file store.
func orasLayer(t *testing.T, name, mediaType string, setup func(dir string)) (ocispec.Descriptor, []byte) {
	t.Helper()
	work := t.TempDir()
	setup(work)
	fs, err := file.New(work)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	desc, err := fs.Add(ctx, name, mediaType, filepath.Join(work, name))
	if err != nil {
		t.Fatal(err)
	}
	data, err := content.FetchAll(ctx, fs, desc)
	if err != nil {
		t.Fatal(err)
	}
	return desc, data
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadLayerOrasPushFile(t *testing.T) {
	for _, mt := range []string{"", ocispec.MediaTypeImageLayer, "application/yaml"} {
		t.Run("mediaType="+mt, func(t *testing.T) {
			desc, data := orasLayer(t, "deploy.yaml", mt, func(dir string) {
				writeFiles(t, dir, map[string]string{"deploy.yaml": testFiles["deploy.yaml"]})
			})
			if k := Classify(desc); k != KindFile {
				t.Fatalf("Classify = %v, want KindFile", k)
			}
			got := map[string]string{}
			if err := ReadLayer(desc, data, got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"deploy.yaml": testFiles["deploy.yaml"]}
			if !maps.Equal(got, want) {
				t.Errorf("ReadLayer = %v, want %v", got, want)
			}
		})
	}
}

func TestReadLayerOrasPushDirectory(t *testing.T) {
	desc, data := orasLayer(t, "app", "", func(dir string) {
		writeFiles(t, filepath.Join(dir, "app"), testFiles)
	})
	if k := Classify(desc); k != KindDirectory {
		t.Fatalf("Classify = %v, want KindDirectory", k)
	}
	got := map[string]string{}
	if err := ReadLayer(desc, data, got); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, testFiles) {
		t.Errorf("ReadLayer = %v, want %v", got, testFiles)
	}
}

// tarEntry is one entry of a hand-made tar.
type tarEntry struct {
	name     string
	typ      byte
	body     string
	linkname string
}

func makeTar(t testing.TB, gz bool, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.linkname}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !gz {
		return buf.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(buf.Bytes())
	zw.Close()
	return z.Bytes()
}

func TestReadLayerFluxStyle(t *testing.T) {
	entries := []tarEntry{
		{name: "./", typ: tar.TypeDir},
		{name: "deploy.yaml", body: testFiles["deploy.yaml"]},
		{name: "sub/", typ: tar.TypeDir},
		{name: "./sub/README.md", body: testFiles["sub/README.md"]},
	}
	want := map[string]string{"deploy.yaml": testFiles["deploy.yaml"], "sub/README.md": testFiles["sub/README.md"]}
	for _, tc := range []struct {
		name      string
		mediaType string
		gz        bool
	}{
		{"flux tar+gzip", "application/vnd.cncf.flux.content.v1.tar+gzip", true},
		{"oci tar+gzip", ocispec.MediaTypeImageLayerGzip, true},
		{"plain tar", ocispec.MediaTypeImageLayer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := makeTar(t, tc.gz, entries...)
			desc := content.NewDescriptorFromBytes(tc.mediaType, data)
			if k := Classify(desc); k != KindTar {
				t.Fatalf("Classify = %v, want KindTar", k)
			}
			got := map[string]string{}
			if err := ReadLayer(desc, data, got); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("ReadLayer = %v, want %v", got, want)
			}
		})
	}
}

func TestReadLayerIgnored(t *testing.T) {
	desc := content.NewDescriptorFromBytes("application/vnd.example.config.v1+json", []byte("{}"))
	got := map[string]string{}
	if err := ReadLayer(desc, []byte("{}"), got); err != nil || len(got) != 0 {
		t.Errorf("ReadLayer = %v, %v; want nothing", got, err)
	}
}

func TestReadLayerRefuses(t *testing.T) {
	dirDesc := func(data []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data)
		d.Annotations = map[string]string{AnnotationTitle: "app", AnnotationUnpack: "true"}
		return d
	}
	tarDesc := func(data []byte) ocispec.Descriptor {
		return content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data)
	}
	fileDesc := func(title string) func([]byte) ocispec.Descriptor {
		return func(data []byte) ocispec.Descriptor {
			d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, data)
			d.Annotations = map[string]string{AnnotationTitle: title}
			return d
		}
	}
	tests := []struct {
		name string
		desc func([]byte) ocispec.Descriptor
		data []byte
		want string // in the error
	}{
		{"dot dot in tar", tarDesc, makeTar(t, true, tarEntry{name: "../evil.yaml"}), ".."},
		{"dot dot inside dir", dirDesc, makeTar(t, true, tarEntry{name: "app/../../evil.yaml"}), ".."},
		{"dot dot after dir prefix", dirDesc, makeTar(t, true, tarEntry{name: "app/a/../../x"}), ".."},
		{"absolute in tar", tarDesc, makeTar(t, true, tarEntry{name: "/etc/passwd"}), "relative"},
		{"absolute in dir", dirDesc, makeTar(t, false, tarEntry{name: "/app/x.yaml"}), "outside"},
		{"outside the title dir", dirDesc, makeTar(t, true, tarEntry{name: "other/x.yaml"}), "outside"},
		{"symlink", tarDesc, makeTar(t, true, tarEntry{name: "link", typ: tar.TypeSymlink, linkname: "/etc/passwd"}), "regular"},
		{"symlink in dir", dirDesc, makeTar(t, true, tarEntry{name: "app/", typ: tar.TypeDir}, tarEntry{name: "app/l", typ: tar.TypeSymlink, linkname: "../../x"}), "regular"},
		{"hard link", tarDesc, makeTar(t, true, tarEntry{name: "a"}, tarEntry{name: "b", typ: tar.TypeLink, linkname: "a"}), "regular"},
		{"device", tarDesc, makeTar(t, false, tarEntry{name: "dev", typ: tar.TypeChar}), "regular"},
		{"duplicate file", tarDesc, makeTar(t, true, tarEntry{name: "a.yaml"}, tarEntry{name: "./a.yaml"}), "twice"},
		{"file title dot dot", fileDesc("../x.yaml"), []byte("x"), ".."},
		{"file title absolute", fileDesc("/x.yaml"), []byte("x"), "relative"},
		{"file title backslash", fileDesc(`..\x.yaml`), []byte("x"), `"\"`},
		{"bad gzip", tarDesc, []byte{0x1f, 0x8b, 0, 1, 2}, "gzip"},
		{"not a tar", tarDesc, bytes.Repeat([]byte("x"), 1024), "tar"},
		{"truncated tar", tarDesc, makeTar(t, false, tarEntry{name: "a", body: strings.Repeat("x", 2000)})[:1024], "tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			err := ReadLayer(tt.desc(tt.data), tt.data, files)
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("ReadLayer = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestReadLayerSizeLimit(t *testing.T) {
	// A lower limit keeps this fast (also under -race); the code is the same.
	const maxBytes = 1 << 20
	lim := WithLimits(krm.Limits{MaxBytes: maxBytes})
	big := strings.Repeat("\x00", maxBytes+1)
	t.Run("gzip bomb", func(t *testing.T) {
		data := makeTar(t, true, tarEntry{name: "big", body: big})
		if len(data) > maxBytes/8 {
			t.Fatalf("test setup: compressed %d bytes", len(data))
		}
		err := ReadLayer(content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data), data, map[string]string{}, lim)
		if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), "(--max-package-bytes)") {
			t.Fatalf("ReadLayer = %v, want ErrInvalid naming the size limit", err)
		}
	})
	t.Run("gzip bomb of headers", func(t *testing.T) {
		// Directory entries hold no bytes, but the stream is bounded too.
		entries := make([]tarEntry, 3000)
		for i := range entries {
			entries[i] = tarEntry{name: fmt.Sprintf("d%d/", i), typ: tar.TypeDir}
		}
		data := makeTar(t, true, entries...)
		small := WithLimits(krm.Limits{MaxBytes: 1024, MaxFiles: 10})
		err := ReadLayer(content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data), data, map[string]string{}, small)
		if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), "unpacks to more than") {
			t.Fatalf("ReadLayer = %v, want ErrInvalid naming the stream limit", err)
		}
	})
	t.Run("file layer", func(t *testing.T) {
		d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, []byte(big))
		d.Annotations = map[string]string{AnnotationTitle: "big"}
		if err := ReadLayer(d, []byte(big), map[string]string{}, lim); !errors.Is(err, errdef.ErrInvalid) {
			t.Fatalf("ReadLayer = %v, want ErrInvalid", err)
		}
	})
	t.Run("sum over layers", func(t *testing.T) {
		half := []byte(big[:maxBytes/2+1])
		files := map[string]string{}
		for i, name := range []string{"a", "b"} {
			d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, half)
			d.Annotations = map[string]string{AnnotationTitle: name}
			err := ReadLayer(d, half, files, lim)
			if i == 0 && err != nil {
				t.Fatal(err)
			}
			if i == 1 && !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("second layer: %v, want ErrInvalid", err)
			}
		}
	})
	t.Run("many small files", func(t *testing.T) {
		// 20000 empty files (10 MB of tar headers) under a limit that allows
		// them: accepted, and fast (a quadratic size check would take minutes).
		entries := make([]tarEntry, 20000)
		for i := range entries {
			entries[i] = tarEntry{name: "f" + strings.Repeat("x", i%7) + "/" + digest.FromBytes([]byte{byte(i), byte(i >> 8)}).Encoded()[:12]}
		}
		data := makeTar(t, true, entries...)
		files := map[string]string{}
		if err := ReadLayer(content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data), data, files, WithLimits(krm.Limits{MaxFiles: 20000})); err != nil {
			t.Fatal(err)
		}
		if len(files) != 20000 {
			t.Errorf("%d files, want 20000", len(files))
		}
	})
}

// TestReadLayerDefaultLimits: read back, a package obeys the limits of a
// write; the defaults are the package defaults.
func TestReadLayerDefaultLimits(t *testing.T) {
	tests := []struct {
		name    string
		entries func() []tarEntry
		limit   string // "" means read
	}{
		{"files at the limit", func() []tarEntry { return files(krm.DefaultMaxFiles, 0) }, ""},
		{"files over the limit", func() []tarEntry { return files(krm.DefaultMaxFiles+1, 0) }, krm.FlagMaxFiles},
		{"bytes at the limit", func() []tarEntry { return files(2, int(krm.DefaultMaxBytes/2)) }, ""},
		{"bytes over the limit", func() []tarEntry { return files(2, int(krm.DefaultMaxBytes/2)+1) }, krm.FlagMaxBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := makeTar(t, true, tt.entries()...)
			if int64(len(data)) > MaxUnpackedBytes {
				t.Fatalf("compressed layer of %d bytes is over MaxUnpackedBytes", len(data))
			}
			err := ReadLayer(content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data), data, map[string]string{})
			if tt.limit == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var le *errdef.LimitError
			if !errors.Is(err, errdef.ErrInvalid) || !errors.As(err, &le) || le.Name != tt.limit {
				t.Fatalf("ReadLayer = %v, want ErrInvalid naming --%s", err, tt.limit)
			}
		})
	}
}

// files makes n tar entries of size bytes each, under directories.
func files(n, size int) []tarEntry {
	out := make([]tarEntry, n)
	for i := range out {
		out[i] = tarEntry{name: fmt.Sprintf("d%d/f%d.txt", i%10, i), body: strings.Repeat("x", size)}
	}
	return out
}
