package apiserver

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
)

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes int64 = 8 << 20

// Options configure New. The zero value is usable.
type Options struct {
	// MaxBodyBytes caps request bodies of the /apis routes, and what a
	// PATCH may make; larger ones get a 413. Zero or less means
	// DefaultMaxBodyBytes (8 MiB).
	MaxBodyBytes int64
	// MaxPatchOperations caps the operations of a JSON patch (413). Zero
	// means DefaultMaxPatchOperations.
	MaxPatchOperations int
	// MaxPatchCopyBytes caps what the copy operations of a JSON patch may
	// add (413). Zero means MaxBodyBytes.
	MaxPatchCopyBytes int64
	// Package bounds the files of a PackageRevisionResources and the YAML
	// of request bodies (422 or 413 naming the limit). Zero fields take
	// krm's defaults.
	Package krm.Limits
	// Logger receives request logs at debug level and failures at error
	// level. Nil discards them.
	Logger *slog.Logger
	// Ready reports whether the server can take traffic; /readyz answers 503
	// with its error. Nil means always ready.
	Ready func() error
	// Mount, if set, is called last to add more routes (for example the OCI
	// /v2/ API). Those routes get the logging, panic recovery and
	// authentication middleware but not the body limit, and should write
	// their own error bodies.
	Mount func(e *echo.Echo)
	// Collectors are served on /metrics beside the server's own metrics.
	Collectors []prometheus.Collector
	// Auth authenticates, authorizes and audits every request (auth.go);
	// the zero value lets everyone do everything.
	Auth Auth
	// Stop, once closed, ends every open watch (as kube-apiserver does on
	// shutdown): clients watch again, on another replica or after the
	// restart, instead of holding the shutdown for its whole timeout.
	Stop <-chan struct{}
}

// server holds what the handlers share.
type server struct {
	svc     engine.Service
	maxBody int64
	limits  limits
	log     *slog.Logger
	ready   func() error
	metrics *metrics
	stop    <-chan struct{}
	auth    Auth
	// typeConverter gives the field managers the schemas of the served kinds.
	typeConverter managedfields.TypeConverter
	reaper        reaper
}

// New returns an Echo instance serving svc under /apis, the discovery
// documents, /healthz and /readyz.
func New(svc engine.Service, opts Options) *echo.Echo {
	lim := newLimits(opts)
	s := &server{svc: svc, maxBody: lim.body, limits: lim, log: opts.Logger, ready: opts.Ready, metrics: newMetrics(opts.Collectors...), auth: opts.Auth, stop: opts.Stop}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	// Logging wraps recovery so a recovered panic is logged with its 500;
	// nothing runs before authentication and authorization.
	e.Use(s.logRequests, s.recoverPanics, s.authenticate)

	live := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	e.GET("/healthz", live)
	e.GET("/livez", live) // kube-apiserver's name for it
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics.handler())
	// kubectl looks a namespace up after a 404 to word its message; there are
	// no Namespace objects here, so every namespace exists.
	e.GET("/api/v1/namespaces/:namespace", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": c.Param("namespace")},
			"status":   map[string]any{"phase": "Active"},
		})
	})

	groups := apiGroups(svc, lim.pkg)
	tc, err := newTypeConverter(groups)
	if err != nil {
		panic(err) // the schemas come from the compiled types
	}
	s.typeConverter = tc
	registerReviews(e, s)
	registerDiscovery(e, groups)
	registerOpenAPI(e, groups)
	for _, g := range groups {
		for _, r := range g.resources {
			r.register(e, s)
		}
	}
	if opts.Mount != nil {
		opts.Mount(e)
	}
	return e
}

func (s *server) readyz(c echo.Context) error {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			return newError(errdef.ErrUnavailable, "not ready: %v", err)
		}
	}
	return c.String(http.StatusOK, "ok")
}

// userName is who asked: the authenticated (or impersonated) user.
func userName(r *http.Request) string {
	if u, ok := authn.UserFrom(r.Context()); ok {
		return u.GetName()
	}
	return ""
}

// panicError reports a recovered panic as an internal error. The panic value
// goes to the log, not to the client.
type panicError struct{ value any }

func (e panicError) Error() string { return "internal error while serving the request" }
