package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported means the command already told the user what failed.
var errReported = errors.New("failure already reported")

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by run
	fs.Usage = func() {}
	return fs
}

// parseInterspersed parses flags wherever they are among the arguments, as
// kubectl does ("rpkg init vpc --repository blueprints"), and returns the
// positional arguments. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, min, max int, what string) error {
	switch {
	case len(args) < min:
		return usageErrorf("missing %s", what)
	case max >= 0 && len(args) > max:
		return usageErrorf("unexpected arguments %q (want %s)", args[max:], what)
	}
	return nil
}
