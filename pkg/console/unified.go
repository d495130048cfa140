package console

import (
	"regexp"
	"strconv"
	"strings"
)

// diffLine is one line of a unified diff, numbered on each side.
type diffLine struct {
	// Kind is ctx, add, del, hunk (an @@ line) or note ("\ No newline").
	Kind     string
	Old, New int // line numbers; 0 where the line is not on that side
	Text     string
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@`)

// What one diff page shows at most, over all its files: lines, and bytes
// of their text (the API's /diff has the rest). A diff of big files has as
// many lines, each a table row of its own.
const (
	maxDiffLines = 20_000
	maxDiffBytes = 2 << 20
)

// diffBudget is what a diff page may still show.
type diffBudget struct{ lines, bytes int }

func newDiffBudget() *diffBudget { return &diffBudget{lines: maxDiffLines, bytes: maxDiffBytes} }

// parseUnified reads the unified diff of one file (as the API's diff
// writes it: ---/+++ headers, then hunks). Anything it does not know is
// kept as a note, so nothing is dropped from view, except the lines past
// budget b: those are counted in hidden.
func parseUnified(text string, b *diffBudget) (out []diffLine, hidden int) {
	oldN, newN := 0, 0
	rest := strings.TrimSuffix(text, "\n")
	for more := true; more; {
		if b.lines <= 0 {
			return out, strings.Count(rest, "\n") + 1
		}
		var l string
		before := rest
		l, rest, more = strings.Cut(rest, "\n")
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			continue // file headers: the page names the file already
		}
		if b.bytes < len(l) {
			return out, strings.Count(before, "\n") + 1
		}
		b.lines--
		b.bytes -= len(l)
		l = visible(l)
		switch {
		case strings.HasPrefix(l, "@@"):
			if m := hunkHeader.FindStringSubmatch(l); m != nil {
				oldN, _ = strconv.Atoi(m[1])
				newN, _ = strconv.Atoi(m[2])
			}
			out = append(out, diffLine{Kind: "hunk", Text: l})
		case strings.HasPrefix(l, "+"):
			out = append(out, diffLine{Kind: "add", New: newN, Text: l[1:]})
			newN++
		case strings.HasPrefix(l, "-"):
			out = append(out, diffLine{Kind: "del", Old: oldN, Text: l[1:]})
			oldN++
		case strings.HasPrefix(l, " ") || l == "":
			out = append(out, diffLine{Kind: "ctx", Old: oldN, New: newN, Text: strings.TrimPrefix(l, " ")})
			oldN++
			newN++
		default:
			out = append(out, diffLine{Kind: "note", Text: l})
		}
	}
	return out, 0
}

// sideRow is one row of a side-by-side diff; a nil side is empty.
type sideRow struct {
	Hunk        string // an @@ line spanning both sides
	Left, Right *diffLine
}

// sideBySide pairs removed lines with the added lines that follow them,
// and puts context lines on both sides.
func sideBySide(lines []diffLine) []sideRow {
	var out []sideRow
	var dels, adds []diffLine
	flush := func() {
		for i := 0; i < max(len(dels), len(adds)); i++ {
			var row sideRow
			if i < len(dels) {
				row.Left = &dels[i]
			}
			if i < len(adds) {
				row.Right = &adds[i]
			}
			out = append(out, row)
		}
		dels, adds = nil, nil
	}
	for i := range lines {
		l := lines[i]
		switch l.Kind {
		case "del":
			if len(adds) > 0 {
				flush()
			}
			dels = append(dels, l)
		case "add":
			adds = append(adds, l)
		case "hunk":
			flush()
			out = append(out, sideRow{Hunk: l.Text})
		default: // context and notes are on both sides
			flush()
			out = append(out, sideRow{Left: &lines[i], Right: &lines[i]})
		}
	}
	flush()
	return out
}
