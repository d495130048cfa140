package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Cell is one measured value for one backend: the numbers behind it and how
// it is shown. A cell without numbers says why in NA.
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

// latency shows p50 / p99 in milliseconds.
func latency(s Samples) Cell { return numbers("%.2f / %.2f", s.P50(), s.P99()) }

// Row is one line of the results table.
type Row struct {
	Section  string `json:"section"`
	Name     string `json:"name"`
	Embedded Cell   `json:"embedded"`
	Remote   Cell   `json:"remote"`
	Note     string `json:"note,omitempty"` // the minimum, the unit, or a remark
}

// Target is one target of issue 6 and whether it is met.
type Target struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Status   string `json:"status"` // met, not met, n/a
}

// Report is everything one run measured.
type Report struct {
	Machine  Machine  `json:"machine"`
	Config   Config   `json:"config"`
	Rows     []Row    `json:"rows"`
	Targets  []Target `json:"targets"`
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

func (r *Report) add(section, name string, emb, rem Cell, note string) {
	r.Rows = append(r.Rows, Row{Section: section, Name: name, Embedded: emb, Remote: rem, Note: note})
}

func (r *Report) target(target, measured string, met bool, known bool) {
	status := "n/a"
	if known {
		status = "not met"
		if met {
			status = "met"
		}
	}
	r.Targets = append(r.Targets, Target{Target: target, Measured: measured, Status: status})
}

// Row returns the row of section and name, and whether it exists.
func (r *Report) Row(section, name string) (Row, bool) {
	for _, row := range r.Rows {
		if row.Section == section && row.Name == name {
			return row, true
		}
	}
	return Row{}, false
}

// WriteMarkdown prints the report as markdown tables.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# pkgbench results\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs, %s GiB memory, %s, %s. Run took %s.\n\n", r.Machine.CPUs, r.Machine.MemoryGiB, r.Machine.GoVersion, r.Machine.OS, r.Duration)
	fmt.Fprintf(&b, "Settings: %s\n\n", r.Config.String())
	section := ""
	for _, row := range r.Rows {
		if row.Section != section {
			section = row.Section
			fmt.Fprintf(&b, "\n## %s\n\n| measure | embedded | remote (distribution) | minimum / note |\n|---|---|---|---|\n", section)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Name, row.Embedded.Text, row.Remote.Text, row.Note)
	}
	fmt.Fprintf(&b, "\n## Targets (issue 6)\n\n| target | measured | status |\n|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target, t.Measured, t.Status)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
