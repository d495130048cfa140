package console

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
)

// highlightStyle is chroma's style the stylesheet is made from.
const highlightStyle = "github"

// What a file may cost to show. Chroma's lexers are regular expressions
// that backtrack, some superlinearly on hostile text (a line of "- [" or
// an unclosed quote), and every line gets its own markup. So a file is
// highlighted only when it is small enough and its lexing ends within
// highlightBudget; otherwise it is shown as plain escaped text, and only
// its first maxShownBytes.
const (
	maxHighlightBytes = 256 << 10
	maxHighlightLines = 10_000
	highlightBudget   = time.Second
	maxShownBytes     = 1 << 20
)

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
// plain text (numbered lines, no colours) for the rest. Chroma's other
// lexers are left out on purpose: they are regular expressions of varying
// care, some of them slow on hostile text (markdown's on blank lines).
func lexerFor(name string) chroma.Lexer {
	if isYAML(name) {
		if l := lexers.Get("yaml"); l != nil {
			return chroma.Coalesce(l)
		}
	}
	return lexers.Fallback
}

// highlight renders a whole file with linkable line numbers (#L12),
// marking the given lines.
func highlight(name, text string, marked ...int) template.HTML {
	return render(name, text, hlOptions{base: 1, anchors: true, marked: marked})
}

// excerptLines is how many lines an excerpt shows before and after its
// line; excerptLineBytes how much of each.
const (
	excerptLines     = 2
	excerptLineBytes = 1 << 10
)

// excerpt renders the lines around line, marking it: where a validation
// error is, next to the error. It reads the file up to those lines only.
func excerpt(name, text string, line int) template.HTML {
	if line < 1 {
		return ""
	}
	from := max(1, line-excerptLines)
	var lines []string
	for n, rest := 1, text; n <= line+excerptLines; n++ {
		l, after, found := strings.Cut(rest, "\n")
		if n >= from {
			lines = append(lines, cutBytes(l, excerptLineBytes))
		}
		if !found {
			break
		}
		rest = after
	}
	if len(lines) < line-from+1 {
		return ""
	}
	return render(name, strings.Join(lines, "\n"), hlOptions{base: from, marked: []int{line}})
}

// cutBytes keeps at most n bytes of s, cut at a character, and says so.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + " …"
}

func render(name, text string, o hlOptions) template.HTML {
	text = visible(text)
	if len(text) > maxHighlightBytes || strings.Count(text, "\n") >= maxHighlightLines {
		return plain(text)
	}
	lexer := lexerFor(name)
	h := sha256.New()
	io.WriteString(h, lexer.Config().Name+"\x00")
	io.WriteString(h, text)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if slowTexts.has(sum) {
		return plain(text)
	}
	toks, ok := tokenise(lexer, text, highlightBudget)
	if !ok {
		slowTexts.add(sum)
		return plain(text)
	}
	var b bytes.Buffer
	if err := newFormatter(o).Format(&b, styles.Get(highlightStyle), chroma.Literator(toks...)); err != nil {
		return plain(text)
	}
	return template.HTML(b.String()) // chroma escaped every token
}

// tokenise lexes text, giving up (ok false) when it takes longer than
// budget or the lexer fails.
func tokenise(lexer chroma.Lexer, text string, budget time.Duration) (toks []chroma.Token, ok bool) {
	defer func() {
		if recover() != nil { // chroma's mutators panic on their errors
			toks, ok = nil, false
		}
	}()
	it, err := lexer.Tokenise(nil, text)
	if err != nil {
		return nil, false
	}
	deadline := time.Now().Add(budget)
	for t := it(); t != chroma.EOF; t = it() {
		if time.Now().After(deadline) {
			return nil, false
		}
		toks = append(toks, t)
	}
	return toks, true
}

// slowTexts remembers texts whose lexing ran out of its budget, so that
// showing one again (every viewer, every live update) costs a hash, not
// another second.
var slowTexts = &textSet{max: 1024}

// textSet is a bounded set of text digests; when full it forgets one at
// random.
type textSet struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]struct{}
}

func (s *textSet) has(k [sha256.Size]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}

func (s *textSet) add(k [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[sha256.Size]byte]struct{}{}
	}
	if len(s.m) >= s.max {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = struct{}{}
}

// plain shows text escaped, without highlighting, and only its first
// maxShownBytes.
func plain(text string) template.HTML {
	shown := cutBytes(text, maxShownBytes)
	var b strings.Builder
	b.WriteString(`<pre class="plain">`)
	b.WriteString(template.HTMLEscapeString(shown))
	b.WriteString(`</pre>`)
	if len(shown) < len(text) {
		fmt.Fprintf(&b, `<p class="muted">Only the first %d KiB of %d KiB are shown; the API has the whole file.</p>`, maxShownBytes>>10, (len(text)+1023)>>10)
	}
	return template.HTML(b.String())
}
