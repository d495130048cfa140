package registry

import (
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 with go-digest
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"

	"pkgserver.dev/pkgserver/pkg/names"
)

// validateName checks the <name> grammar of the spec ("Pulling manifests").
func validateName(name string) error {
	if err := names.ValidateOCIRepository(name); err != nil {
		return wrap(CodeNameInvalid, err)
	}
	return nil
}

// parseDigest parses a digest of a supported algorithm (sha256, sha384, sha512).
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", newError(CodeDigestInvalid, "invalid digest %q: %v", s, err)
	}
	return d, nil
}

// writeJSON writes v with its Content-Length; HEAD gets the headers only.
func writeJSON(w http.ResponseWriter, req *http.Request, status int, mediaType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are written
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// empty writes a bodyless response with Content-Length 0.
func empty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

var specsV2 = specs.Versioned{SchemaVersion: 2}
