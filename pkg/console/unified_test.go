package console

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseUnified(t *testing.T) {
	text := "--- a/x.yaml\n+++ b/x.yaml\n@@ -2,4 +2,4 @@ kind\n a: 1\n-b: 2\n-c: 3\n+b: 4\n d: 5\n\\ No newline at end of file\n"
	want := []diffLine{
		{Kind: "hunk", Text: "@@ -2,4 +2,4 @@ kind"},
		{Kind: "ctx", Old: 2, New: 2, Text: "a: 1"},
		{Kind: "del", Old: 3, Text: "b: 2"},
		{Kind: "del", Old: 4, Text: "c: 3"},
		{Kind: "add", New: 3, Text: "b: 4"},
		{Kind: "ctx", Old: 5, New: 4, Text: "d: 5"},
		{Kind: "note", Text: `\ No newline at end of file`},
	}
	got, hidden := parseUnified(text, newDiffBudget())
	if hidden != 0 {
		t.Fatalf("%d lines hidden", hidden)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseUnified:\n got %+v\nwant %+v", got, want)
	}
	rows := sideBySide(got)
	type side struct{ l, r string }
	var sides []side
	for _, r := range rows {
		s := side{l: "-", r: "-"}
		if r.Hunk != "" {
			s = side{l: "hunk", r: "hunk"}
		}
		if r.Left != nil {
			s.l = r.Left.Text
		}
		if r.Right != nil {
			s.r = r.Right.Text
		}
		sides = append(sides, s)
	}
	wantSides := []side{{"hunk", "hunk"}, {"a: 1", "a: 1"}, {"b: 2", "b: 4"}, {"c: 3", "-"}, {"d: 5", "d: 5"},
		{`\ No newline at end of file`, `\ No newline at end of file`}}
	if !reflect.DeepEqual(sides, wantSides) {
		t.Fatalf("sideBySide:\n got %v\nwant %v", sides, wantSides)
	}
}

// A page shows a bounded part of a big diff, over all its files.
func TestParseUnifiedBudget(t *testing.T) {
	b := &diffBudget{lines: 3, bytes: 1 << 20}
	lines, hidden := parseUnified("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n+a\n+b\n+c\n", b)
	if len(lines) != 3 || hidden != 1 || lines[2].Text != "b" {
		t.Fatalf("%+v, %d hidden", lines, hidden)
	}
	if lines, hidden = parseUnified("@@ -1 +1 @@\n+d\n", b); len(lines) != 0 || hidden != 2 {
		t.Fatalf("past the budget: %+v, %d hidden", lines, hidden)
	}
	b = &diffBudget{lines: 100, bytes: 15}
	if lines, hidden = parseUnified("@@ -1 +1 @@\n+"+strings.Repeat("x", 20)+"\n+y\n", b); len(lines) != 1 || hidden != 2 {
		t.Fatalf("past the bytes: %+v, %d hidden", lines, hidden)
	}
}

func TestSideBySideAddsBeforeDeletes(t *testing.T) {
	lines, _ := parseUnified("@@ -1,2 +1,2 @@\n+new\n-old\n", newDiffBudget())
	rows := sideBySide(lines)
	// An addition followed by a deletion: two rows, not paired backwards.
	if len(rows) != 3 || rows[1].Right == nil || rows[1].Right.Text != "new" || rows[2].Left == nil || rows[2].Left.Text != "old" {
		t.Fatalf("%+v", rows)
	}
}

func TestFileTree(t *testing.T) {
	tree := fileTree([]string{"b.yaml", "deploy/z.yaml", "Kptfile", "deploy/sub/a.yaml", "a.md"})
	var walk func(ns []*fileNode, depth int) []string
	walk = func(ns []*fileNode, depth int) []string {
		var out []string
		for _, n := range ns {
			out = append(out, string(rune('0'+depth))+n.Name+"|"+n.Path)
			out = append(out, walk(n.Children, depth+1)...)
		}
		return out
	}
	want := []string{"0deploy|", "1sub|", "2a.yaml|deploy/sub/a.yaml", "1z.yaml|deploy/z.yaml", "0Kptfile|Kptfile", "0a.md|a.md", "0b.yaml|b.yaml"}
	if got := walk(tree, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
