package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Cell is one measured value: the numbers behind it and how it is shown. A
// cell without numbers says why in NA.
type Cell struct {
	Values []float64 `json:"values,omitempty"`
	Text   string    `json:"text"`
	NA     string    `json:"na,omitempty"`
}

// numbers makes a cell of values shown with format (one verb per value).
func numbers(format string, v ...float64) Cell {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Cell{Text: "n/a", NA: "no samples"}
		}
	}
	args := make([]any, len(v))
	for i, x := range v {
		args[i] = x
	}
	return Cell{Values: v, Text: fmt.Sprintf(format, args...)}
}

// na is a cell with no number, and why.
func na(why string) Cell { return Cell{Text: "n/a", NA: why} }

// text is a cell of words, not numbers (yes/no, a breakdown).
func text(s string) Cell { return Cell{Text: s, Values: []float64{}} }

// latency shows p50 / p99 in milliseconds.
func latency(s Samples) Cell { return numbers("%.2f / %.2f", s.P50(), s.P99()) }

// Row is one line of a table.
type Row struct {
	Name  string `json:"name"`
	Cells []Cell `json:"cells"`
	Note  string `json:"note,omitempty"` // the minimum, the unit, or a remark
}

// Table is one table of the report.
type Table struct {
	Title   string   `json:"title"`
	Columns []string `json:"columns"` // the first names the rows
	Rows    []Row    `json:"rows"`
	Note    string   `json:"note,omitempty"` // under the table
}

func (t *Table) add(name string, note string, cells ...Cell) {
	t.Rows = append(t.Rows, Row{Name: name, Cells: cells, Note: note})
}

// Target is one target of an issue: what was measured, against what
// baseline of the same run, the ratio, and whether it is met.
type Target struct {
	Issue    string `json:"issue"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Baseline string `json:"baseline,omitempty"`
	Ratio    string `json:"ratio,omitempty"`
	Status   string `json:"status"` // met, not met, not run, reported
}

// Statuses of a target.
const (
	statusMet      = "met"
	statusNotMet   = "**not met**"
	statusNotRun   = "not run"
	statusReported = "reported" // the issue asks for the number, sets no bound
)

func status(met bool) string {
	if met {
		return statusMet
	}
	return statusNotMet
}

// Report is everything one run measured.
type Report struct {
	Machine  Machine  `json:"machine"`
	Config   Config   `json:"config"`
	Targets  []Target `json:"targets"`
	Tables   []*Table `json:"tables"`
	Notes    []string `json:"notes,omitempty"`
	Duration string   `json:"duration"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	MemoryGiB string `json:"memoryGiB"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
}

// table starts a new table of the report.
func (r *Report) table(title string, columns ...string) *Table {
	t := &Table{Title: title, Columns: columns}
	r.Tables = append(r.Tables, t)
	return t
}

func (r *Report) target(issue, target, measured, baseline, ratio, status string) {
	r.Targets = append(r.Targets, Target{Issue: issue, Target: target, Measured: measured, Baseline: baseline, Ratio: ratio, Status: status})
}

// Table returns the table whose title starts with prefix.
func (r *Report) Table(prefix string) (*Table, bool) {
	for _, t := range r.Tables {
		if strings.HasPrefix(t.Title, prefix) {
			return t, true
		}
	}
	return nil, false
}

// issueTitles are the headings of the target groups, in the order printed.
var issueTitles = []struct{ issue, title string }{
	{"13", "Issue 13: a million revisions and a thousand watchers"},
	{"11", "Issue 11: client-go informers"},
	{"12", "Issue 12: coordination through etcd"},
	{"6", "Issue 6: the earlier targets"},
}

// WriteMarkdown prints the report as markdown: a title, the targets by
// issue, then every table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# pkgbench results\n\n")
	r.markdown(&b, "##")
	_, err := io.WriteString(w, b.String())
	return err
}

// markdown writes the body with sections at heading level h ("##", "###").
func (r *Report) markdown(b *strings.Builder, h string) {
	fmt.Fprintf(b, "Machine: %d CPUs, %s GiB memory, %s, %s. Run took %s.\n\n", r.Machine.CPUs, r.Machine.MemoryGiB, r.Machine.GoVersion, r.Machine.OS, r.Duration)
	fmt.Fprintf(b, "Settings: %s\n\n", r.Config.String())
	for _, it := range issueTitles {
		first := true
		for _, t := range r.Targets {
			if t.Issue != it.issue {
				continue
			}
			if first {
				fmt.Fprintf(b, "%s Targets of %s\n\n| target | measured | baseline (same run) | ratio | status |\n|---|---|---|---|---|\n", h, it.title)
				first = false
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", t.Target, t.Measured, dash(t.Baseline), dash(t.Ratio), t.Status)
		}
		if !first {
			b.WriteString("\n")
		}
	}
	for _, t := range r.Tables {
		fmt.Fprintf(b, "%s %s\n\n", h, t.Title)
		notes := false
		for _, row := range t.Rows {
			notes = notes || row.Note != ""
		}
		cols := t.Columns
		if notes {
			cols = append(cols[:len(cols):len(cols)], "note")
		}
		fmt.Fprintf(b, "| %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
		for _, row := range t.Rows {
			cells := make([]string, 0, len(row.Cells)+2)
			cells = append(cells, row.Name)
			for _, c := range row.Cells {
				cells = append(cells, c.Text)
			}
			if notes {
				cells = append(cells, row.Note)
			}
			fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
		}
		if t.Note != "" {
			fmt.Fprintf(b, "\n%s\n", t.Note)
		}
		b.WriteString("\n")
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(b, "%s Notes\n\n", h)
		for _, n := range r.Notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// UpdateDoc replaces the part of the markdown file at path between the
// lines <!-- pkgbench:NAME:begin --> and <!-- pkgbench:NAME:end --> with the
// report, sections at level ###, so that a rerun updates the numbers and
// nothing else.
func (r *Report) UpdateDoc(path, name string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := "<!-- pkgbench:"+name+":begin -->", "<!-- pkgbench:"+name+":end -->"
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no section %s … %s", path, begin, end)
	}
	var b strings.Builder
	b.WriteString(doc[:i+len(begin)])
	b.WriteString("\n<!-- generated by pkgbench; a rerun replaces everything up to the end marker -->\n\n")
	r.markdown(&b, "###")
	b.WriteString(doc[j:])
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
