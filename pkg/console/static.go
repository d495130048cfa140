package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"time"
)

// The console's only script is htmx, vendored: static/htmx.min.js is
// dist/htmx.min.js of the npm package htmx.org at htmxVersion, with its
// license in static/htmx.LICENSE. A test keeps the file equal to that pin.
const (
	htmxVersion = "2.0.11"
	htmxSHA256  = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
)

//go:embed static/console.css static/htmx.min.js static/favicon.svg
var staticFS embed.FS

// asset is one static file, served from memory.
type asset struct {
	body []byte
	typ  string
	hash string // of the content, in URLs, so a new version is fetched at once
}

// assets are the static files, with the highlighting stylesheet made from
// chroma's style.
var assets = loadAssets()

func loadAssets() map[string]asset {
	out := map[string]asset{}
	add := func(name string, body []byte) {
		sum := sha256.Sum256(body)
		out[name] = asset{body: body, typ: mime.TypeByExtension(path.Ext(name)), hash: hex.EncodeToString(sum[:8])}
	}
	for _, n := range []string{"console.css", "htmx.min.js", "favicon.svg"} {
		b, err := staticFS.ReadFile("static/" + n)
		if err != nil {
			panic(err) // embedded at build time
		}
		add(n, b)
	}
	var css bytes.Buffer
	if err := writeHighlightCSS(&css); err != nil {
		panic(err)
	}
	add("highlight.css", css.Bytes())
	return out
}

// staticURL is the URL of an asset, with its hash.
func staticURL(name string) string {
	a, ok := assets[name]
	if !ok {
		return Prefix + "static/" + name
	}
	return Prefix + "static/" + name + "?v=" + a.hash
}

// static serves an asset; URLs carry the content's hash, so it may be
// cached for long.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.typ)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, r.PathValue("file"), time.Time{}, bytes.NewReader(a.body))
}
