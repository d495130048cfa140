package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// Op is the change a Guard is asked about.
type Op int

const (
	// OpPutTag: a manifest PUT that points a tag at digest (by tag, or by
	// digest with ?tag=); Guard is called once per tag.
	OpPutTag Op = iota + 1
	// OpDeleteTag: a tag delete (DELETE /v2/<name>/manifests/<tag>); digest is
	// the manifest the tag points at.
	OpDeleteTag
	// OpDeleteManifest: a manifest delete by digest, which also drops every
	// tag pointing at it; tag is "".
	OpDeleteManifest
	// OpDeleteBlob: a blob delete (DELETE /v2/<name>/blobs/<digest>).
	OpDeleteBlob
)

func (o Op) String() string {
	switch o {
	case OpPutTag:
		return "put-tag"
	case OpDeleteTag:
		return "delete-tag"
	case OpDeleteManifest:
		return "delete-manifest"
	case OpDeleteBlob:
		return "delete-blob"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Request is a change of tags, manifests or blobs a Guard is asked about.
type Request struct {
	Repo string
	Op   Op
	// Tag is the tag set or deleted; "" for deletes by digest.
	Tag string
	// Tags are all the tags a manifest PUT sets (OpPutTag).
	Tags []string
	// Digest is the manifest pushed or deleted, or the blob deleted.
	Digest digest.Digest
	// Manifest is the body of a manifest PUT.
	Manifest []byte
}

// Guard decides whether a change is allowed. A non-nil error refuses it
// with the spec's DENIED (403) and the error's text.
type Guard func(ctx context.Context, req Request) error

// Options configure a Registry. The zero value is valid.
type Options struct {
	// Guard, when set, is asked before every manifest PUT by tag (and per
	// ?tag=), tag delete, manifest delete and blob delete.
	Guard Guard
	// Lock, when set, is held around each manifest write or delete and each
	// blob delete of a repository (the Guard's check and the change), so the
	// check cannot be overtaken by another writer between the two. unlock
	// is told whether the repository's tags or manifests changed.
	Lock func(ctx context.Context, repo string) (unlock func(changed bool), err error)
	// TempDir holds upload sessions as temp files. Default os.TempDir().
	TempDir string
	// Logger logs server faults. Default slog.Default().
	Logger *slog.Logger
	// MaxManifestBytes bounds a manifest PUT body. Default 4 MiB, the limit
	// of distribution and of the embedded store.
	MaxManifestBytes int64
	// UploadTTL is how long an idle upload session is kept. Default 1 hour.
	UploadTTL time.Duration
	// MaxBlobBytes bounds one blob upload. Default DefaultMaxBlobBytes.
	MaxBlobBytes int64
	// MaxUploadSessions bounds the upload sessions open at once, and
	// MaxUploadSessionsPerClient those of one client (remote address).
	// Defaults DefaultMaxUploadSessions and DefaultMaxUploadSessionsPerClient.
	MaxUploadSessions          int
	MaxUploadSessionsPerClient int
	// MaxTagsPerPush bounds the ?tag= parameters of a manifest PUT.
	// Default DefaultMaxTagsPerPush.
	MaxTagsPerPush int
}

// Defaults of Options; docs/operations.md lists them with their flags.
const (
	DefaultMaxManifestBytes           = 4 << 20
	DefaultUploadTTL                  = time.Hour
	DefaultMaxBlobBytes               = 512 << 20
	DefaultMaxUploadSessions          = 64
	DefaultMaxUploadSessionsPerClient = 16
	DefaultMaxTagsPerPush             = 16
)

// Registry is the /v2/ handler. It is safe for concurrent use.
type Registry struct {
	s       store.Store
	opts    Options
	log     *slog.Logger
	uploads *uploads
}

var _ http.Handler = (*Registry)(nil)

// New returns the OCI distribution API over s. Call Close to drop the
// upload sessions still open.
func New(s store.Store, opts Options) *Registry {
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts = opts.withDefaults()
	r := &Registry{s: s, opts: opts, log: opts.Logger}
	r.uploads = newUploads(opts)
	return r
}

// Close removes the temp files of every open upload session.
func (r *Registry) Close() error { return r.uploads.closeAll() }

// Mount routes /v2 and everything under it on e to h.
func Mount(e *echo.Echo, h http.Handler) {
	wh := echo.WrapHandler(h)
	e.Any("/v2", wh)
	e.Any("/v2/*", wh)
}

// MountEmbedded is a server.Config.Mount hook: the registry over the embedded store.
func MountEmbedded(opts Options) func(e *echo.Echo, embedded *layout.Store) {
	return func(e *echo.Echo, embedded *layout.Store) { Mount(e, New(embedded, opts)) }
}

// handler serves one endpoint; returned errors go to writeError.
type handler func(w http.ResponseWriter, req *http.Request, rt route) error

// endpoint is what a route kind accepts and what its errors mean.
type endpoint struct {
	methods map[string]handler
	codes   kindCodes
}

func (r *Registry) endpoints(k kind) endpoint {
	blob := kindCodes{notFound: CodeBlobUnknown, invalid: CodeDigestInvalid}
	manifest := kindCodes{notFound: CodeManifestUnknown, invalid: CodeManifestInvalid}
	upload := kindCodes{notFound: CodeBlobUploadUnknown, invalid: CodeBlobUploadInvalid}
	name := kindCodes{notFound: CodeNameUnknown, invalid: CodeNameInvalid}
	switch k {
	case kindBase:
		return endpoint{map[string]handler{"GET": r.ping, "HEAD": r.ping}, name}
	case kindCatalog:
		return endpoint{map[string]handler{"GET": r.catalog}, name}
	case kindBlob:
		return endpoint{map[string]handler{"GET": r.getBlob, "HEAD": r.getBlob, "DELETE": r.deleteBlob}, blob}
	case kindUploads:
		return endpoint{map[string]handler{"POST": r.startUpload}, upload}
	case kindUpload:
		return endpoint{map[string]handler{"GET": r.uploadStatus, "PATCH": r.patchUpload, "PUT": r.putUpload, "DELETE": r.cancelUpload}, upload}
	case kindManifest:
		return endpoint{map[string]handler{"GET": r.getManifest, "HEAD": r.getManifest, "PUT": r.putManifest, "DELETE": r.deleteManifest}, manifest}
	case kindTags:
		return endpoint{map[string]handler{"GET": r.listTags}, name}
	case kindReferrers:
		return endpoint{map[string]handler{"GET": r.referrers}, kindCodes{notFound: CodeManifestUnknown, invalid: CodeDigestInvalid}}
	}
	return endpoint{codes: name}
}

// ServeHTTP routes a /v2/ request (spec "Endpoints").
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// Clients probe this header on /v2/ to recognise a registry ("Determining Support").
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(req.URL.Path)
	ep := r.endpoints(rt.kind)
	if !ok {
		drain(req)
		r.writeError(w, req, newError(CodeNameUnknown, "no such endpoint %s", req.URL.Path), ep.codes)
		return
	}
	h, ok := ep.methods[req.Method]
	if !ok {
		drain(req)
		r.writeError(w, req, newError(CodeUnsupported, "method %s not allowed on %s", req.Method, req.URL.Path), ep.codes)
		return
	}
	if rt.kind != kindBase && rt.kind != kindCatalog {
		if err := validateName(rt.name); err != nil {
			drain(req)
			r.writeError(w, req, err, ep.codes)
			return
		}
	}
	if err := h(w, req, rt); err != nil {
		drain(req)
		r.writeError(w, req, err, ep.codes)
	}
}

// drain reads a little of an unread body so the connection can be reused.
func drain(req *http.Request) {
	if req.Body != nil {
		_, _ = io.CopyN(io.Discard, req.Body, 64<<10)
	}
}

// ping answers "Determining Support" (end-1).
func (r *Registry) ping(w http.ResponseWriter, req *http.Request, _ route) error {
	writeJSON(w, req, http.StatusOK, "application/json", struct{}{})
	return nil
}

// repo opens the repository of a validated name.
func (r *Registry) repo(ctx context.Context, name string) (store.Repository, error) {
	repo, err := r.s.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return repo, nil
}

// lock takes Options.Lock for repo, if set. A failure to lock is a server
// fault (the coordinator is unreachable), not the client's.
func (r *Registry) lock(ctx context.Context, repo string) (func(changed bool), error) {
	if r.opts.Lock == nil {
		return func(bool) {}, nil
	}
	unlock, err := r.opts.Lock(ctx, repo)
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "cannot take the repository's write lock: " + err.Error(), err: err}
	}
	return unlock, nil
}

// guard asks Options.Guard; a refusal is DENIED.
func (r *Registry) guard(ctx context.Context, req Request) error {
	if r.opts.Guard == nil {
		return nil
	}
	if err := r.opts.Guard(ctx, req); err != nil {
		return wrap(CodeDenied, err)
	}
	return nil
}
