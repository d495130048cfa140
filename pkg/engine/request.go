package engine

import "context"

// WriteOptions are the Kubernetes options of one write request, carried to
// the engine in its context so every Service method keeps its signature.
type WriteOptions struct {
	// DryRun validates the request fully and returns the object that would
	// result, writing nothing (dryRun=All).
	DryRun bool
	// UID and ResourceVersion are the preconditions of a delete
	// (DeleteOptions.preconditions); empty ones are not checked.
	UID, ResourceVersion string
}

type writeOptionsKey struct{}

// WithWriteOptions returns ctx carrying o.
func WithWriteOptions(ctx context.Context, o WriteOptions) context.Context {
	return context.WithValue(ctx, writeOptionsKey{}, o)
}

// WriteOptionsFrom returns the options ctx carries (the zero value if none).
func WriteOptionsFrom(ctx context.Context) WriteOptions {
	o, _ := ctx.Value(writeOptionsKey{}).(WriteOptions)
	return o
}
