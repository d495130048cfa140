package krm

import (
	"fmt"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// Defaults of Limits; docs/operations.md lists them with their flags.
const (
	DefaultMaxFiles       = 1000
	DefaultMaxBytes int64 = 8 << 20
)

// Names of the package limits: the pkgserver flags that set them.
const (
	FlagMaxFiles = "max-package-files"
	FlagMaxBytes = "max-package-bytes"
)

// Limits bound the files of one package. A zero field takes its default.
type Limits struct {
	// MaxFiles is the most files a package may hold.
	MaxFiles int
	// MaxBytes is the most bytes its files may hold together.
	MaxBytes int64
	// YAML bounds the parsing of its YAML files; the node budget is for the
	// whole package.
	YAML yamlbound.Limits
}

// DefaultLimits returns the limits pkgserver uses unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{MaxFiles: DefaultMaxFiles, MaxBytes: DefaultMaxBytes, YAML: yamlbound.DefaultLimits()}
}

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	l.YAML = l.YAML.WithDefaults()
	return l
}

// CheckSize refuses a package of more than MaxFiles files or MaxBytes bytes
// with an errdef.LimitError.
func (l Limits) CheckSize(files, bytes int64) error {
	switch {
	case files > int64(l.MaxFiles):
		return &errdef.LimitError{Name: FlagMaxFiles, Limit: int64(l.MaxFiles), What: fmt.Sprintf("a package of %d files", files)}
	case bytes > l.MaxBytes:
		return &errdef.LimitError{Name: FlagMaxBytes, Limit: l.MaxBytes, What: fmt.Sprintf("a package of %d bytes", bytes)}
	}
	return nil
}

// checkPackage checks the size of resources.
func (l Limits) checkPackage(resources map[string]string) error {
	var total int64
	for _, text := range resources {
		total += int64(len(text))
	}
	return l.CheckSize(int64(len(resources)), total)
}

// Option configures Validate.
type Option func(*options)

type options struct {
	limits Limits
}

// WithLimits validates against l instead of DefaultLimits.
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l }
}
