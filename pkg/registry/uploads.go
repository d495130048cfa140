package registry

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// uploadPrefix names our temp files, so stale ones can be found and removed
// (by the embedded store's garbage collection too).
const uploadPrefix = layout.UploadFilePrefix

var noModTime time.Time

// upload is one blob upload session: the bytes received so far, in a temp file.
type upload struct {
	mu      sync.Mutex // held while a request writes or finishes the session
	id      string
	repo    string
	client  string // see clientOf
	f       *os.File
	size    int64
	touched time.Time
	done    bool // finished or cancelled; a request that waited on mu must stop
}

// uploads is the session table. Sessions live in memory and in TempDir; a
// restart forgets them and the next sweep removes their files. Their number,
// idle time and size are bounded, so the disk they take is at most
// MaxUploadSessions * MaxBlobBytes.
type uploads struct {
	dir       string
	ttl       time.Duration
	maxBlob   int64
	max       int // sessions open at once
	perClient int // sessions of one client

	mu       sync.Mutex
	sessions map[string]*upload
	swept    time.Time
}

func newUploads(o Options) *uploads {
	u := &uploads{dir: o.TempDir, ttl: o.UploadTTL, maxBlob: o.MaxBlobBytes, max: o.MaxUploadSessions,
		perClient: o.MaxUploadSessionsPerClient, sessions: map[string]*upload{}}
	u.removeStaleFiles()
	return u
}

// removeStaleFiles deletes upload files idle for longer than the TTL, left by
// a crash or by another process that shared TempDir.
func (u *uploads) removeStaleFiles() {
	paths, _ := filepath.Glob(filepath.Join(u.dir, uploadPrefix+"*"))
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > u.ttl {
			_ = os.Remove(p)
		}
	}
}

// start opens a new session for repo, locked; the caller must call release.
// Past the session limits it is TOOMANYREQUESTS, after idle sessions were
// swept to make room.
func (u *uploads) start(repo, client string) (*upload, error) {
	u.sweep(false)
	if err := u.admit(client); err != nil {
		u.sweep(true)
		if err := u.admit(client); err != nil {
			return nil, err
		}
	}
	f, err := os.CreateTemp(u.dir, uploadPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create upload file: %w", err)
	}
	s := &upload{id: rand.Text(), repo: repo, client: client, f: f, touched: time.Now()}
	s.mu.Lock()
	u.mu.Lock()
	defer u.mu.Unlock()
	// Checked again under the lock: others may have started sessions since.
	if err := u.admitLocked(client); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	u.sessions[s.id] = s
	return s, nil
}

// admit checks that client may open one more session.
func (u *uploads) admit(client string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.admitLocked(client)
}

func (u *uploads) admitLocked(client string) error {
	if len(u.sessions) >= u.max {
		return overLimit(CodeTooManyRequests, FlagMaxUploadSessions, int64(u.max), "upload session %d", len(u.sessions)+1)
	}
	n := 0
	for _, s := range u.sessions {
		if s.client == client {
			n++
		}
	}
	if n >= u.perClient {
		return overLimit(CodeTooManyRequests, FlagMaxUploadSessionsPerClient, int64(u.perClient), "upload session %d of client %s", n+1, client)
	}
	return nil
}

// get returns the session id of repo, locked; the caller must call release.
func (u *uploads) get(repo, id string) (*upload, error) {
	u.mu.Lock()
	s, ok := u.sessions[id]
	u.mu.Unlock()
	if !ok || s.repo != repo {
		return nil, newError(CodeBlobUploadUnknown, "upload %s unknown to repository %s", id, repo)
	}
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil, newError(CodeBlobUploadUnknown, "upload %s is finished", id)
	}
	if idle := time.Since(s.touched); idle > u.ttl {
		u.end(s)
		s.mu.Unlock()
		return nil, newError(CodeBlobUploadUnknown, "upload %s was idle for %s, longer than --%s=%s; start again",
			id, idle.Round(time.Second), FlagUploadSessionTTL, u.ttl)
	}
	s.touched = time.Now()
	return s, nil
}

func (s *upload) release() { s.mu.Unlock() }

// end removes a locked session and its file.
func (u *uploads) end(s *upload) {
	u.mu.Lock()
	delete(u.sessions, s.id)
	u.mu.Unlock()
	s.done = true
	s.f.Close()
	os.Remove(s.f.Name())
}

// sweep ends sessions idle for longer than the TTL, at most once a minute
// (or half a TTL, if shorter) unless forced.
func (u *uploads) sweep(force bool) {
	u.mu.Lock()
	if !force && time.Since(u.swept) < min(time.Minute, u.ttl/2) {
		u.mu.Unlock()
		return
	}
	u.swept = time.Now()
	var idle []*upload
	for _, s := range u.sessions {
		idle = append(idle, s)
	}
	u.mu.Unlock()
	for _, s := range idle {
		if !s.mu.TryLock() { // busy: not idle
			continue
		}
		if !s.done && time.Since(s.touched) > u.ttl {
			u.end(s)
		}
		s.mu.Unlock()
	}
}

// closeAll ends every session.
func (u *uploads) closeAll() error {
	u.mu.Lock()
	all := make([]*upload, 0, len(u.sessions))
	for _, s := range u.sessions {
		all = append(all, s)
	}
	u.mu.Unlock()
	for _, s := range all {
		s.mu.Lock()
		if !s.done {
			u.end(s)
		}
		s.mu.Unlock()
	}
	return nil
}

// write appends a request body to the session. With a Content-Range it must
// start at the current offset ("Pushing a blob in chunks"); a short or long
// body is rolled back so the session stays consistent. The blob may not grow
// past maxBlob: refused from the headers when they tell, else once read.
func (s *upload) write(req *http.Request, maxBlob int64) error {
	start, end, hasRange, err := parseContentRange(req.Header.Get("Content-Range"))
	if err != nil {
		return s.rangeError(err.Error())
	}
	limit := int64(-1)
	if hasRange {
		if start != s.size {
			return s.rangeError(fmt.Sprintf("chunk starts at %d, upload is at %d", start, s.size))
		}
		limit = end - start + 1
		if req.ContentLength >= 0 && req.ContentLength != limit {
			return s.rangeError(fmt.Sprintf("Content-Length %d does not match Content-Range %d-%d", req.ContentLength, start, end))
		}
	}
	tooLarge := func(size int64) error {
		return overLimit(CodeSizeInvalid, FlagMaxBlobBytes, maxBlob, "a blob of %d bytes", size)
	}
	if hasRange && end+1 > maxBlob {
		return tooLarge(end + 1)
	}
	if req.ContentLength > 0 && s.size+req.ContentLength > maxBlob {
		return tooLarge(s.size + req.ContentLength)
	}
	if _, err := s.f.Seek(s.size, io.SeekStart); err != nil {
		return err
	}
	room := maxBlob - s.size // what may still be written
	src := io.LimitReader(req.Body, room+1)
	if limit >= 0 {
		src = io.LimitReader(req.Body, min(limit, room)+1)
	}
	n, err := io.Copy(s.f, src)
	switch {
	case err == nil && n > room:
		err = overLimit(CodeSizeInvalid, FlagMaxBlobBytes, maxBlob, "a blob of more than %d bytes", maxBlob)
	case err == nil && limit >= 0 && n != limit:
		err = newError(CodeSizeInvalid, "chunk of %d bytes, Content-Range says %d", n, limit)
	}
	if err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			return errors.Join(err, terr)
		}
		var e *Error
		if !errors.As(err, &e) {
			err = &Error{Code: CodeBlobUploadInvalid, Message: "reading the request body failed", err: err}
		}
		return err
	}
	s.size += n
	return nil
}

// rangeError is a 416 that tells the client where the upload stands.
func (s *upload) rangeError(msg string) error {
	e := newError(CodeRangeInvalid, "%s", msg)
	e.header = http.Header{}
	e.header.Set("Location", uploadPath(s.repo, s.id))
	e.header.Set("Range", s.rangeHeader())
	e.header.Set("Docker-Upload-UUID", s.id)
	return e
}

// rangeHeader is "0-<last byte>"; "0-0" when empty, as distribution does.
func (s *upload) rangeHeader() string {
	return "0-" + strconv.FormatInt(max(s.size-1, 0), 10)
}

// parseContentRange parses "<start>-<end>" (spec "Pushing a blob in chunks");
// also accepted with a "bytes " or "bytes=" unit.
func parseContentRange(v string) (start, end int64, ok bool, err error) {
	if v == "" {
		return 0, 0, false, nil
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "bytes="), "bytes ")
	a, b, found := strings.Cut(v, "-")
	if !found {
		return 0, 0, false, fmt.Errorf("invalid Content-Range %q", v)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false, fmt.Errorf("invalid Content-Range %q", v)
	}
	return start, end, true, nil
}

// accepted answers 202 with the session's state (end-4a, end-5, end-13 use 204).
func (s *upload) accepted(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Location", uploadPath(s.repo, s.id))
	h.Set("Range", s.rangeHeader())
	h.Set("Docker-Upload-UUID", s.id)
	empty(w, status)
}

// startUpload is POST /v2/<name>/blobs/uploads/ ("Pushing blobs"): a mount
// (?mount=, ?from=), a monolithic push (?digest= with the body) or a new session.
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	q := req.URL.Query()
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	if m := q.Get("mount"); m != "" {
		// A bad or unknown mount falls through to a new session, as the spec allows.
		if d, err := digest.Parse(m); err == nil {
			from := q.Get("from")
			if from == "" {
				// Anonymous mount: already here, or anywhere in the store.
				if ok, err := repo.Exists(ctx, ocispec.Descriptor{Digest: d}); err == nil && ok {
					return created(w, rt.name, d)
				}
				if from, err = r.locate(ctx, d); err != nil {
					return err
				}
			}
			if from != "" && validateName(from) == nil {
				ok, err := r.mount(ctx, repo, d, from)
				if err != nil {
					return err
				}
				if ok {
					return created(w, rt.name, d)
				}
			}
		}
	}
	s, err := r.uploads.start(rt.name, clientOf(req))
	if err != nil {
		return err
	}
	defer s.release()
	if dv := q.Get("digest"); dv != "" {
		// Monolithic POST: the session only exists for this request.
		defer r.uploads.end(s)
		d, err := parseDigest(dv)
		if err != nil {
			return err
		}
		if err := s.write(req, r.opts.MaxBlobBytes); err != nil {
			return err
		}
		if err := r.finish(req, repo, s, d); err != nil {
			return err
		}
		return created(w, rt.name, d)
	}
	s.accepted(w, http.StatusAccepted)
	return nil
}

// uploadStatus is GET on a session ("Pushing a blob in chunks", end-13).
func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	s, err := r.uploads.get(rt.name, rt.ref)
	if err != nil {
		return err
	}
	defer s.release()
	s.accepted(w, http.StatusNoContent)
	return nil
}

// patchUpload appends a chunk or a stream (end-5).
func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	s, err := r.uploads.get(rt.name, rt.ref)
	if err != nil {
		return err
	}
	defer s.release()
	if err := s.write(req, r.opts.MaxBlobBytes); err != nil {
		return err
	}
	s.accepted(w, http.StatusAccepted)
	return nil
}

// putUpload closes a session with an optional last chunk and ?digest= (end-6).
func (r *Registry) putUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	s, err := r.uploads.get(rt.name, rt.ref)
	if err != nil {
		return err
	}
	defer s.release()
	d, err := parseDigest(req.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	if err := s.write(req, r.opts.MaxBlobBytes); err != nil {
		return err
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	// Success or a digest mismatch ends the session; the client starts over.
	err = r.finish(req, repo, s, d)
	var e *Error
	if err == nil || errors.As(err, &e) && e.Code == CodeDigestInvalid {
		r.uploads.end(s)
	}
	if err != nil {
		return err
	}
	return created(w, rt.name, d)
}

// cancelUpload is DELETE on a session ("Canceling an upload").
func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	s, err := r.uploads.get(rt.name, rt.ref)
	if err != nil {
		return err
	}
	defer s.release()
	r.uploads.end(s)
	empty(w, http.StatusNoContent)
	return nil
}

// finish checks the session's bytes against d and stores them as a blob.
func (r *Registry) finish(req *http.Request, repo content.Pusher, s *upload, d digest.Digest) error {
	v := d.Verifier()
	if _, err := io.Copy(v, io.NewSectionReader(s.f, 0, s.size)); err != nil {
		return err
	}
	if !v.Verified() {
		return newError(CodeDigestInvalid, "uploaded content does not match digest %s", d)
	}
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: s.size}
	return repo.Push(req.Context(), desc, io.NewSectionReader(s.f, 0, s.size))
}

// created answers 201 for a stored blob (end-4b, end-6, end-11).
func created(w http.ResponseWriter, name string, d digest.Digest) error {
	w.Header().Set("Location", blobPath(name, d.String()))
	w.Header().Set("Docker-Content-Digest", d.String())
	empty(w, http.StatusCreated)
	return nil
}
