package format

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
)

// tarOverheadPerFile is what a tar stream may spend per file beyond its
// bytes: a header, padding, a PAX record for a long path, parent directories.
const tarOverheadPerFile = 6 << 10

// MaxUnpackedBytes bounds the unpacked tar stream of a package within the
// default package limits (krm.DefaultLimits): a larger layer cannot hold one.
const MaxUnpackedBytes = krm.DefaultMaxBytes + krm.DefaultMaxFiles*tarOverheadPerFile

// MaxLayerBytes bounds a layer that can hold a package within limits l.
func MaxLayerBytes(l krm.Limits) int64 {
	return l.MaxBytes + int64(l.MaxFiles)*tarOverheadPerFile
}

// ReadOption configures ReadLayer.
type ReadOption func(*readOptions)

type readOptions struct {
	limits krm.Limits
}

// WithLimits reads under the package limits l (files and bytes) instead of
// krm.DefaultLimits, so that what is read back obeys what may be written.
func WithLimits(l krm.Limits) ReadOption {
	return func(o *readOptions) { o.limits = l }
}

// epoch is the fixed modification time of every tar entry: same files, same bytes.
var epoch = time.Unix(0, 0).UTC()

// Layer is a packed content layer: its bytes and descriptor.
type Layer struct {
	Data       []byte
	Descriptor ocispec.Descriptor
}

// PackLayer writes files as one reproducible tar+gzip layer. Entries sit under
// dir/ (the package name) because that is how oras unpacks a directory layer:
// `oras pull` writes <out>/<dir>/<files>. Sorted entries, fixed times, modes and
// owners, and a fixed gzip header make the digest a function of the files only.
func PackLayer(dir string, files map[string]string) (Layer, error) {
	// dir is one path segment: "" or "a/b" would make entries that are
	// absolute or that oras unpacks somewhere else than <out>/<dir>.
	if err := krm.ValidatePath(dir); err != nil || strings.Contains(dir, "/") {
		return Layer{}, fmt.Errorf("%w: layer directory %q must be one valid path segment", errdef.ErrInvalid, dir)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		if err := krm.ValidatePath(p); err != nil {
			return Layer{}, err
		}
		// A path that is both a file and a parent directory cannot be unpacked.
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := files[d]; ok {
				return Layer{}, fmt.Errorf("%w: path %q: %q is a file, not a directory", errdef.ErrInvalid, p, d)
			}
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	dirs := map[string]bool{}
	addDir := func(d string) error {
		if dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	if err := addDir(dir); err != nil {
		return Layer{}, err
	}
	for _, p := range paths {
		// Parent directories first, so extractors that do not create them still work.
		parts := strings.Split(p, "/")
		for i := 1; i < len(parts); i++ {
			if err := addDir(dir + "/" + strings.Join(parts[:i], "/")); err != nil {
				return Layer{}, err
			}
		}
		body := files[p]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dir + "/" + p, Mode: 0o644, Size: int64(len(body)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return Layer{}, err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return Layer{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Layer{}, err
	}
	tarDigest := digest.FromBytes(tarBuf.Bytes())

	var gzBuf bytes.Buffer
	gw, err := gzip.NewWriterLevel(&gzBuf, gzip.BestCompression)
	if err != nil {
		return Layer{}, err
	}
	if _, err := gw.Write(tarBuf.Bytes()); err != nil {
		return Layer{}, err
	}
	if err := gw.Close(); err != nil {
		return Layer{}, err
	}
	data := gzBuf.Bytes()
	return Layer{
		Data: data,
		Descriptor: ocispec.Descriptor{
			MediaType: LayerType,
			Digest:    digest.FromBytes(data),
			Size:      int64(len(data)),
			Annotations: map[string]string{
				AnnotationTitle:        dir,
				AnnotationUnpack:       "true",
				AnnotationUnpackDigest: tarDigest.String(),
			},
		},
	}, nil
}

// LayerKind says how ReadLayer treats a layer.
type LayerKind int

// Layer kinds, in the order ReadLayer tests for them.
const (
	// KindDirectory: a tar (optionally gzip) whose entries sit under the title directory.
	KindDirectory LayerKind = iota
	// KindFile: one file named by its title annotation (plain `oras push a.yaml`).
	KindFile
	// KindTar: a tar without title (Flux-style artifacts); entries are package paths.
	KindTar
	// KindIgnored: none of the above (config-like blobs); it adds no files.
	KindIgnored
)

// Classify tells how a layer descriptor is read.
func Classify(desc ocispec.Descriptor) LayerKind {
	title := desc.Annotations[AnnotationTitle]
	switch {
	case desc.Annotations[AnnotationUnpack] == "true":
		return KindDirectory
	case title != "":
		return KindFile
	case strings.Contains(desc.MediaType, "tar"):
		return KindTar
	default:
		return KindIgnored
	}
}

// ReadLayer adds the files of one layer to files. Paths are checked as on
// write: anything absolute, with "..", or otherwise escaping is refused. The
// package, with what files already holds, must stay within the package
// limits (files and bytes; see WithLimits), however much a layer expands.
func ReadLayer(desc ocispec.Descriptor, data []byte, files map[string]string, opts ...ReadOption) error {
	o := readOptions{limits: krm.DefaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	// Sum what files already holds once: recounting for every entry would make
	// a tar of many tiny files cost quadratic time.
	acc := &accumulator{files: files, lim: o.limits.WithDefaults()}
	for _, v := range files {
		acc.bytes += int64(len(v))
	}
	switch Classify(desc) {
	case KindFile:
		p := desc.Annotations[AnnotationTitle]
		if err := krm.ValidatePath(p); err != nil {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		return acc.add(desc, p, data)
	case KindDirectory:
		return readTar(desc, data, desc.Annotations[AnnotationTitle], acc)
	case KindTar:
		return readTar(desc, data, "", acc)
	}
	return nil
}

func readTar(desc ocispec.Descriptor, data []byte, dir string, acc *accumulator) error {
	var r io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		gr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("layer %s: %w: gzip: %v", desc.Digest, errdef.ErrInvalid, err)
		}
		defer gr.Close()
		r = gr
	}
	// The stream may hold the package's bytes and a tar's overhead per file.
	maxStream := acc.lim.MaxBytes + int64(acc.lim.MaxFiles)*tarOverheadPerFile
	limited := &io.LimitedReader{R: r, N: maxStream + 1}
	tr := tar.NewReader(limited)
	tarErr := func(err error) error {
		if limited.N <= 0 {
			return fmt.Errorf("layer %s: %w: unpacks to more than %d bytes", desc.Digest, errdef.ErrInvalid, maxStream)
		}
		return fmt.Errorf("layer %s: %w: tar: %v", desc.Digest, errdef.ErrInvalid, err)
	}
	prefix := ""
	if dir != "" && dir != "." {
		prefix = strings.TrimSuffix(path.Clean(dir), "/") + "/"
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return tarErr(err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return fmt.Errorf("layer %s: %w: entry %q: only regular files are allowed", desc.Digest, errdef.ErrInvalid, hdr.Name)
		}
		if prefix != "" {
			if !strings.HasPrefix(name, prefix) {
				return fmt.Errorf("layer %s: %w: entry %q is outside directory %q", desc.Digest, errdef.ErrInvalid, hdr.Name, dir)
			}
			name = strings.TrimPrefix(name, prefix)
		}
		if err := krm.ValidatePath(name); err != nil {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		// The header says how much to read; refuse before reading past the limit.
		if err := acc.fits(desc, hdr.Size); err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(tr, acc.lim.MaxBytes-acc.bytes+1))
		if err != nil {
			return tarErr(err)
		}
		if err := acc.add(desc, name, body); err != nil {
			return err
		}
	}
}

// accumulator is the package read so far and the limits it must stay in.
type accumulator struct {
	files map[string]string
	bytes int64
	lim   krm.Limits
}

// fits refuses one more file of size bytes if the package would go over a limit.
func (a *accumulator) fits(desc ocispec.Descriptor, size int64) error {
	if err := a.lim.CheckSize(int64(len(a.files))+1, a.bytes+size); err != nil {
		return fmt.Errorf("layer %s: %w: %w", desc.Digest, errdef.ErrInvalid, err)
	}
	return nil
}

// add adds one file.
func (a *accumulator) add(desc ocispec.Descriptor, p string, body []byte) error {
	if err := a.fits(desc, int64(len(body))); err != nil {
		return err
	}
	if _, dup := a.files[p]; dup {
		return fmt.Errorf("%w: file %q appears twice", errdef.ErrInvalid, p)
	}
	a.files[p] = string(body)
	a.bytes += int64(len(body))
	return nil
}
