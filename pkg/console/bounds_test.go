package console

import (
	"strings"
	"testing"
	"time"
)

// Hostile files cost bounded time and memory to show: the highlighter's
// regular expressions backtrack (some superlinearly), and every line gets
// its own markup, so a file of newlines grew 150 times. Past the bounds a
// file is shown as plain text, and only its start.
func TestHighlightBounded(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		plain            string // shown without highlighting: yes, no, or "" when the clock decides
		cut              bool   // only the start is shown
	}{
		{name: "newlines", file: "notes.txt", text: strings.Repeat("\n", 512<<10), plain: "yes"},
		{name: "long file", file: "big.yaml", text: strings.Repeat("a: b\n", 3<<20/5), plain: "yes", cut: true},
		{name: "nested flow sequences", file: "bad.yaml", text: strings.Repeat("- [", 16<<10/3), plain: "yes"},
		{name: "unclosed quotes", file: "bad.yaml", text: strings.Repeat("a: \"\n", 200<<10/5), plain: "yes"},
		{name: "markdown newlines", file: "README.md", text: "x\n" + strings.Repeat("\n", 9000), plain: "no"},
		{name: "ordinary yaml", file: "ok.yaml", text: strings.Repeat("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n", 100), plain: "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out := string(highlight(tc.file, tc.text+"<script>alert(1)</script>"))
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			if max := 6*maxShownBytes + 4096; len(out) > max {
				t.Errorf("%d bytes of HTML for %d bytes of text (at most %d)", len(out), len(tc.text), max)
			}
			if strings.Contains(out, "<script>") {
				t.Error("unescaped markup")
			}
			if got := strings.HasPrefix(out, `<pre class="plain">`); tc.plain != "" && got != (tc.plain == "yes") {
				t.Errorf("plain %v, want %s", got, tc.plain)
			}
			if got := strings.Contains(out, "Only the first"); got != tc.cut {
				t.Errorf("cut %v, want %v: %.300s", got, tc.cut, out[max(0, len(out)-300):])
			}
		})
	}
}

// An excerpt of a huge file costs the lines it shows, not the file.
func TestExcerptBounded(t *testing.T) {
	text := strings.Repeat("\n", 4<<20) + "bad: [" + strings.Repeat("x", 1<<20) + "\nnext: 1\n"
	line := 4<<20 + 1
	start := time.Now()
	out := string(excerpt("a.yaml", text, line))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
	if len(out) > 64<<10 || !strings.Contains(out, "bad") || !strings.Contains(out, "next") {
		t.Errorf("%d bytes: %.500s", len(out), out)
	}
	if !strings.Contains(out, `id="L`) && !strings.Contains(out, ">4194305<") {
		t.Errorf("the excerpt is not numbered from its line: %.500s", out)
	}
}

// A text that ran out of its budget is shown plain at once the next time
// (every viewer, every live update), not after another second.
func TestSlowTextRemembered(t *testing.T) {
	text := strings.Repeat("- [", 16<<10/3) + "unique to this test"
	highlight("bad.yaml", text)
	start := time.Now()
	out := string(highlight("bad.yaml", text))
	if d := time.Since(start); d > 200*time.Millisecond || !strings.HasPrefix(out, `<pre class="plain">`) {
		t.Fatalf("shown again after %s: %.100s", d, out)
	}
}
