package layout

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"golang.org/x/sync/errgroup"
)

// walkParallelism is how many directories a walk reads at once before
// anything is served: the cost is system calls, and the system answers many
// at once.
const walkParallelism = 16

// errStopWalk ends a walk early without an error.
var errStopWalk = errors.New("layout: stop the walk")

// walk calls visit for dir and for every directory below it except layout
// directories, with the directory's entries, on up to parallel goroutines
// (visit must be safe for that; the order is not defined). A visit that
// returns errStopWalk ends the walk, and walk returns nil.
func (s *Store) walk(ctx context.Context, dir string, parallel int, visit func(dir string, entries []fs.DirEntry) error) error {
	g, ctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, parallel-1) // the first goroutine is one
	var one func(dir string) error
	one = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := s.fs.ReadDir(dir)
		if err != nil {
			return err
		}
		if err := visit(dir, entries); err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() || e.Name() == layoutDirName {
				continue
			}
			sub := filepath.Join(dir, e.Name())
			select {
			case sem <- struct{}{}: // another goroutine takes it
				g.Go(func() error {
					defer func() { <-sem }()
					return one(sub)
				})
			default:
				if err := one(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	g.Go(func() error { return one(dir) })
	if err := g.Wait(); err != nil && !errors.Is(err, errStopWalk) {
		return err
	}
	return nil
}
