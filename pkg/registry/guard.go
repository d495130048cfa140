package registry

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// WriteCheck is the shape of the engine's package-rule check
// (engine.CheckRegistryWrite): dgst is the manifest pushed (tag set) or
// deleted (tag empty); deleteTag marks a tag delete.
type WriteCheck func(ctx context.Context, repo, tag string, dgst digest.Digest, deleteTag bool) error

// GuardFrom adapts a WriteCheck to a Guard, so the rule that published vN tags
// are immutable (product.md, "Lifecycle and versioning") lives in one place,
// the engine, which knows the registered repository prefixes.
func GuardFrom(check WriteCheck) Guard {
	return func(ctx context.Context, repo, tag string, op Op, dgst digest.Digest) error {
		switch op {
		case OpPutTag:
			return check(ctx, repo, tag, dgst, false)
		case OpDeleteTag:
			return check(ctx, repo, tag, dgst, true)
		default:
			return check(ctx, repo, "", dgst, false)
		}
	}
}
