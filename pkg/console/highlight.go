package console

import (
	"bytes"
	"html/template"
	"io"
	"path"
	"strings"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
)

// highlightStyle is chroma's style the stylesheet is made from.
const highlightStyle = "github"

// maxHighlightBytes: larger files are shown as plain text; highlighting
// costs far more than escaping.
const maxHighlightBytes = 1 << 20

// highlighter renders files as HTML on the server. It uses CSS classes,
// never style attributes, so the Content-Security-Policy needs no
// 'unsafe-inline'; chroma escapes every token.
func newFormatter(marked []int) *html.Formatter {
	var ranges [][2]int
	for _, l := range marked {
		ranges = append(ranges, [2]int{l, l})
	}
	return html.New(html.WithClasses(true), html.ClassPrefix("hl-"), html.WithLineNumbers(true),
		html.WithLinkableLineNumbers(true, "L"), html.HighlightLines(ranges), html.TabWidth(8))
}

// writeHighlightCSS writes the stylesheet of the highlighting classes.
func writeHighlightCSS(w io.Writer) error {
	return newFormatter(nil).WriteCSS(w, styles.Get(highlightStyle))
}

// lexerFor picks the lexer by file name: YAML for the Kptfile and *.yaml,
// else chroma's guess, else plain text.
func lexerFor(name string) chroma.Lexer {
	base := path.Base(name)
	var l chroma.Lexer
	switch {
	case base == "Kptfile" || strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml"):
		l = lexers.Get("yaml")
	default:
		l = lexers.Match(base)
	}
	if l == nil {
		l = lexers.Fallback
	}
	return chroma.Coalesce(l)
}

// highlight renders text as HTML lines with linkable numbers (#L12),
// marking the given lines.
func highlight(name, text string, marked ...int) template.HTML {
	lexer := lexerFor(name)
	if len(text) > maxHighlightBytes {
		lexer = lexers.Fallback
	}
	it, err := lexer.Tokenise(nil, text)
	if err == nil {
		var b bytes.Buffer
		if err = newFormatter(marked).Format(&b, styles.Get(highlightStyle), it); err == nil {
			return template.HTML(b.String()) // chroma escaped every token
		}
	}
	// Chroma failed: escaped plain text, never the raw file.
	return template.HTML("<pre>" + template.HTMLEscapeString(text) + "</pre>")
}
