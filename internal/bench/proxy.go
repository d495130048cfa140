package bench

import (
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Proxy is a reverse proxy in front of a registry that counts the requests
// going through it by method and kind of path (distribution spec endpoints).
type Proxy struct {
	Addr string // host:port to give clients

	srv *http.Server
	mu  sync.Mutex
	n   Counts
}

// Counts are request counts keyed "METHOD kind", e.g. "GET manifest".
type Counts map[string]int

// Total is the sum of all counts.
func (c Counts) Total() int {
	t := 0
	for _, v := range c {
		t += v
	}
	return t
}

// Sub returns c minus before, dropping zeros.
func (c Counts) Sub(before Counts) Counts {
	out := Counts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// String lists the counts in a stable order, "GET manifest=2 PUT manifest=1".
func (c Counts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(c[k])
	}
	return strings.Join(parts, " ")
}

// StartProxy serves a counting reverse proxy to the registry at target (host:port).
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), n: Counts{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + PathKind(r.URL.Path)
		p.mu.Lock()
		p.n[key]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Snapshot returns a copy of the counts so far.
func (p *Proxy) Snapshot() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.n)
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// PathKind classifies a distribution API path (distribution spec, "Endpoints").
func PathKind(path string) string {
	switch {
	case path == "/v2/" || path == "/v2":
		return "base"
	case path == "/v2/_catalog":
		return "catalog"
	case strings.HasSuffix(path, "/tags/list"):
		return "tags"
	case strings.Contains(path, "/blobs/uploads"):
		return "upload"
	case strings.Contains(path, "/blobs/"):
		return "blob"
	case strings.Contains(path, "/manifests/"):
		return "manifest"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	}
	return "other"
}
