package v1alpha1

import _ "embed"

// Source is this package's types.go: the OpenAPI document takes its field
// descriptions from these doc comments, so they can never drift apart.
//
//go:embed types.go
var Source string
