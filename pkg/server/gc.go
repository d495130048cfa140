package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// GCPath is the on-demand garbage collection endpoint (POST).
const GCPath = "/admin/gc"

// collector runs garbage collection of the embedded store, periodically and
// on demand, and reports each run in the log and on /metrics.
type collector struct {
	store *layout.Store
	opts  layout.GCOptions
	log   *slog.Logger

	runs, blobs, bytes prometheus.Counter
}

func newCollector(s *layout.Store, opts layout.GCOptions, log *slog.Logger) *collector {
	return &collector{
		store: s, opts: opts, log: log,
		runs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pkgserver_gc_runs_total",
			Help: "Garbage collections of the embedded store.",
		}),
		blobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pkgserver_gc_blobs_removed_total",
			Help: "Unreferenced blobs removed by garbage collection.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pkgserver_gc_bytes_freed_total",
			Help: "Bytes freed by garbage collection (blobs and abandoned uploads).",
		}),
	}
}

func (c *collector) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.runs, c.blobs, c.bytes}
}

// run collects once. A partial failure still counts what was removed.
func (c *collector) run(ctx context.Context) (layout.GCResult, error) {
	start := time.Now()
	res, err := c.store.GC(ctx, c.opts)
	c.runs.Inc()
	c.blobs.Add(float64(res.BlobsRemoved))
	c.bytes.Add(float64(res.BytesFreed))
	attrs := []any{"repositories", res.Repositories, "blobsRemoved", res.BlobsRemoved,
		"uploadsRemoved", res.UploadsRemoved, "bytesFreed", res.BytesFreed, "duration", time.Since(start)}
	if err != nil {
		c.log.Warn("garbage collection failed", append(attrs, "err", err)...)
		return res, err
	}
	c.log.Info("garbage collection", attrs...)
	return res, nil
}

func (c *collector) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = c.run(ctx) // logged by run
		}
	}
}

// mount adds POST GCPath, answering the GCResult as JSON. It is an operator
// action outside the API groups: the security work puts it under
// authorization as a nonResourceURL, like /metrics.
func (c *collector) mount(e *echo.Echo) {
	e.POST(GCPath, func(ec echo.Context) error {
		res, err := c.run(ec.Request().Context())
		if err != nil {
			return err
		}
		return ec.JSON(http.StatusOK, res)
	})
}

// RequestGC asks the pkgserver at baseURL (http://host:port) to collect
// garbage now, and returns what it removed.
func RequestGC(ctx context.Context, client *http.Client, baseURL string) (layout.GCResult, error) {
	var res layout.GCResult
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+GCPath, nil)
	if err != nil {
		return res, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("POST %s: %s: %s", req.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("POST %s: %w", req.URL, err)
	}
	return res, nil
}

// OfflineGC collects garbage in the data directory dataDir while no server
// holds it; if one does (the flock tells), it fails with an error wrapping
// errdef.ErrLocked that says to use the server instead.
func OfflineGC(ctx context.Context, dataDir string, opts layout.GCOptions) (layout.GCResult, error) {
	// Open would create a missing directory: a typo must not look like an empty store.
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		return layout.GCResult{}, fmt.Errorf("data directory %s: %w", dataDir, errors.Join(err, errdef.ErrNotFound))
	}
	s, err := layout.Open(dataDir)
	if errors.Is(err, errdef.ErrLocked) {
		return layout.GCResult{}, fmt.Errorf("%w; ask that server instead: pkgserver gc --server URL", err)
	}
	if err != nil {
		return layout.GCResult{}, err
	}
	defer s.Close()
	return s.GC(ctx, opts)
}
