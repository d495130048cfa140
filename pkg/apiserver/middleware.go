package apiserver

import (
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
)

// logRequests logs each request at debug level. It hands errors to the error
// handler itself so the logged status is the one the client got.
func (s *server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req := c.Request()
		s.metrics.observe(c, start)
		s.log.Debug("request",
			"method", req.Method,
			"path", req.URL.Path,
			"query", req.URL.RawQuery,
			"status", c.Response().Status,
			"bytes", c.Response().Size,
			"duration", time.Since(start),
			"user", userName(req),
		)
		return nil
	}
}

// recoverPanics turns a panic in a handler into a 500 Status instead of a
// dropped connection.
func (s *server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler { // net/http's deliberate abort; let it through
				panic(r)
			}
			s.log.Error("panic serving request", "path", c.Request().URL.Path, "panic", r, "stack", string(debug.Stack()))
			err = panicError{value: r}
		}()
		return next(c)
	}
}
