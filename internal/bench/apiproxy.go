package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kinds of API request the informer proxy counts.
const (
	reqList      = "list"      // GET of a collection (its first page)
	reqPage      = "page"      // a further page of a list (continue=…): client-go pages with limit=500
	reqWatchList = "watchlist" // a watch with sendInitialEvents=true (client-go's WatchList)
	reqWatchNew  = "watch"     // a watch from the current state (no resourceVersion or 0)
	reqResume    = "resume"    // a watch from a resourceVersion
)

// apiProxy is a reverse proxy in front of pkgserver that counts API requests
// per client (User-Agent), kind and answer, as the server sees them. It can
// shorten watches: a run of minutes then resumes them as often as hours of
// client-go's 5–10 minute watches would.
type apiProxy struct {
	URL string

	srv          *http.Server
	watchTimeout time.Duration

	mu       sync.Mutex
	counts   map[string]map[string]int // user agent → "kind status" → count
	rejected map[string]string         // "kind status" → the first answer's body
}

// kindKey is how the request's kind travels to ModifyResponse.
type kindKey struct{}

func startAPIProxy(target string, watchTimeout time.Duration) (*apiProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{URL: "http://" + ln.Addr().String(), watchTimeout: watchTimeout,
		counts: map[string]map[string]int{}, rejected: map[string]string{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.FlushInterval = -1 // watch events pass at once
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	rp.ModifyResponse = func(resp *http.Response) error {
		kind, ok := resp.Request.Context().Value(kindKey{}).(string)
		if !ok {
			return nil
		}
		key := kind + " " + strconv.Itoa(resp.StatusCode)
		p.count(resp.Request.UserAgent(), key)
		if resp.StatusCode/100 != 2 {
			// Errors are small; keep the first of each kind for the report.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			msg := string(bytes.TrimSpace(body))
			var st struct{ Message string }
			if json.Unmarshal(body, &st) == nil && st.Message != "" {
				msg = st.Message
			}
			p.mu.Lock()
			if _, seen := p.rejected[key]; !seen {
				p.rejected[key] = msg
			}
			p.mu.Unlock()
		}
		return nil
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			watch, _ := strconv.ParseBool(q.Get("watch"))
			kind := reqList
			switch {
			case !watch && q.Get("continue") != "":
				kind = reqPage
			case !watch:
			case q.Get("sendInitialEvents") == "true":
				kind = reqWatchList
			case q.Get("resourceVersion") == "" || q.Get("resourceVersion") == "0":
				kind = reqWatchNew
			default:
				kind = reqResume
			}
			if watch && p.watchTimeout > 0 {
				// Random in [t, 2t), as client-go spreads its own timeouts. A
				// WatchList gets four times as long: cut before its initial
				// events end (a hundred sync at once on 2 cores), the client
				// must start it again, a relist the server did not cause.
				base := p.watchTimeout
				if kind == reqWatchList {
					base *= 4
				}
				t := base + rand.N(base)
				q.Set("timeoutSeconds", strconv.Itoa(max(1, int(t.Seconds()))))
				r.URL.RawQuery = q.Encode()
			}
			r = r.WithContext(context.WithValue(r.Context(), kindKey{}, kind))
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *apiProxy) count(agent, key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts[agent] == nil {
		p.counts[agent] = map[string]int{}
	}
	p.counts[agent][key]++
}

// of returns the counts of one client: kind → answers, "kind 200" → the
// successful ones, and so on.
func (p *apiProxy) of(agent string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.counts[agent] {
		out[k] = v
		kind, code, _ := strings.Cut(k, " ")
		out[kind] += v
		if !strings.HasPrefix(code, "2") {
			out["rejected"] += v
		}
		if code == "410" {
			out["410"] += v
		}
	}
	return out
}

// rejections describes the first rejected request of each kind and answer,
// "answered watchlist 400: <message>".
func (p *apiProxy) rejections() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k, body := range p.rejected {
		out = append(out, "answered "+k+": "+body)
	}
	slices.Sort(out)
	return out
}

func (p *apiProxy) Close() error { return p.srv.Close() }
