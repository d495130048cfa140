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

// hlOptions say how to render a file: from which line number, with line
// anchors (#L12, once a page) or not, and which lines to mark.
type hlOptions struct {
	base    int
	anchors bool
	marked  []int
}

// newFormatter renders with CSS classes, never style attributes, so the
// Content-Security-Policy needs no 'unsafe-inline'; chroma escapes every
// token.
func newFormatter(o hlOptions) *html.Formatter {
	var ranges [][2]int
	for _, l := range o.marked {
		ranges = append(ranges, [2]int{l, l})
	}
	if o.base < 1 {
		o.base = 1
	}
	return html.New(html.WithClasses(true), html.ClassPrefix("hl-"), html.WithLineNumbers(true), html.BaseLineNumber(o.base),
		html.WithLinkableLineNumbers(o.anchors, "L"), html.HighlightLines(ranges), html.TabWidth(8))
}

// writeHighlightCSS writes the stylesheet of the highlighting classes.
func writeHighlightCSS(w io.Writer) error {
	return newFormatter(hlOptions{}).WriteCSS(w, styles.Get(highlightStyle))
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

// highlight renders a whole file with linkable line numbers (#L12),
// marking the given lines.
func highlight(name, text string, marked ...int) template.HTML {
	return render(name, text, hlOptions{base: 1, anchors: true, marked: marked})
}

// excerptLines is how many lines an excerpt shows before and after its line.
const excerptLines = 2

// excerpt renders the lines around line, marking it: where a validation
// error is, next to the error.
func excerpt(name, text string, line int) template.HTML {
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	from, to := max(1, line-excerptLines), min(len(lines), line+excerptLines)
	return render(name, strings.Join(lines[from-1:to], "\n"), hlOptions{base: from, marked: []int{line}})
}

func render(name, text string, o hlOptions) template.HTML {
	lexer := lexerFor(name)
	if len(text) > maxHighlightBytes {
		lexer = lexers.Fallback
	}
	it, err := lexer.Tokenise(nil, text)
	if err == nil {
		var b bytes.Buffer
		if err = newFormatter(o).Format(&b, styles.Get(highlightStyle), it); err == nil {
			return template.HTML(b.String()) // chroma escaped every token
		}
	}
	// Chroma failed: escaped plain text, never the raw file.
	return template.HTML("<pre>" + template.HTMLEscapeString(text) + "</pre>")
}
