package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Row is one contender's result in one scenario.
type Row struct {
	Scenario  string `json:"scenario"`
	Contender string `json:"contender"`
	// RecordsPerSec is the median over the contender's runs.
	RecordsPerSec float64 `json:"records_per_sec"`
	// Runs holds the rate of every run, sorted.
	Runs []float64 `json:"runs,omitempty"`
	// Ratio is the contender's rate over the baseline's (RatioOf
	// "records/s"), or its p99 latency over the baseline's ("p99
	// latency"); 0 when there is none.
	Ratio   float64 `json:"ratio,omitempty"`
	RatioOf string  `json:"ratio_of,omitempty"`
	// PeakMiB is the child process's peak resident memory.
	PeakMiB float64            `json:"peak_mib,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Note describes the contender; ChildNotes are what it reported;
	// Extra is what the scenario's comparison added.
	Note       string   `json:"note,omitempty"`
	ChildNotes []string `json:"child_notes,omitempty"`
	Extra      []string `json:"extra,omitempty"`
	// Cannot says why a peer cannot do the scenario; Error why a run
	// failed.
	Cannot string `json:"cannot,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Report is a whole run.
type Report struct {
	Command string `json:"command"`
	Date    string `json:"date"`
	Machine string `json:"machine"`
	// LoadAvg is /proc/loadavg's 1-minute load average before the run:
	// other work on the machine shows in the rates.
	LoadAvg      string   `json:"load_average"`
	Quick        bool     `json:"quick"`
	BuildSeconds float64  `json:"build_seconds"`
	RunSeconds   float64  `json:"run_seconds"`
	Rows         []*Row   `json:"rows"`
	Targets      []Target `json:"targets"`
}

// Target is one of the targets and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Met  bool   `json:"met"`
	Why  string `json:"why"`
}

// notes returns the text of a row's notes column.
func (r *Row) notes() string {
	var parts []string
	if r.Cannot != "" {
		parts = append(parts, "cannot: "+r.Cannot)
	}
	if r.Error != "" {
		parts = append(parts, "error: "+r.Error)
	}
	for _, k := range []string{"restart_ms", "scaleup_ms"} {
		if v, ok := r.Metrics[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.0fms", strings.TrimSuffix(k, "_ms"), v))
		}
	}
	for _, k := range []string{"p50_ms", "p99_ms"} {
		if v, ok := r.Metrics[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.1fms", strings.TrimSuffix(k, "_ms"), v))
		}
	}
	for _, k := range []string{"median_us", "p99_us"} {
		if v, ok := r.Metrics[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.0fµs", strings.TrimSuffix(k, "_us"), v))
		}
	}
	if v, ok := r.Metrics["sched_growth_ms"]; ok {
		parts = append(parts, fmt.Sprintf("scheduling delay p99=%.1fms, growth %+.2fms", r.Metrics["sched_p99_ms"], v))
	}
	if v, ok := r.Metrics["bytes_per_key"]; ok {
		parts = append(parts, fmt.Sprintf("bytes/key=%.0f", v))
	}
	parts = append(parts, r.Extra...)
	parts = append(parts, r.ChildNotes...)
	if r.Note != "" && r.Cannot == "" {
		parts = append(parts, r.Note)
	}
	return strings.Join(parts, "; ")
}

// writeTable prints the report as a Markdown table, then the targets.
func writeTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| scenario\t| contender\t| records/s\t| vs baseline\t| peak MiB\t| notes\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---:\t|---:\t|---:\t|---\t|")
	for _, r := range rep.Rows {
		rate, ratio, mem := "-", "-", "-"
		if r.RecordsPerSec > 0 {
			rate = human(r.RecordsPerSec)
		}
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
			if r.RatioOf == "p99 latency" {
				ratio += " (p99)"
			}
		}
		if r.PeakMiB > 0 {
			mem = fmt.Sprintf("%.0f", r.PeakMiB)
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n", r.Scenario, r.Contender, rate, ratio, mem,
			strings.ReplaceAll(r.notes(), "|", "/"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintf(w, "\n%s; load average %s before the run; build %.0fs, run %.0fs\n", rep.Machine, rep.LoadAvg, rep.BuildSeconds, rep.RunSeconds)
	for _, t := range rep.Targets {
		met := "MET"
		if !t.Met {
			met = "MISSED"
		}
		fmt.Fprintf(w, "target %s: %s (%s)\n", met, t.Name, t.Why)
	}
	return nil
}

// writeJSON writes the report to name.
func writeJSON(name string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// human formats a rate: 1.23M, 456k, 789.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// commandLine is how the run was invoked.
func commandLine(args []string) string {
	return strings.TrimSpace("go run ./bench " + strings.Join(args, " "))
}

// describeMachine names the CPU, its count and the Go version.
func describeMachine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d x %s, %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadAverage returns the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// find returns the row of a contender, or nil.
func find(rows []*Row, scenario, contender string) *Row {
	for _, r := range rows {
		if r.Scenario == scenario && r.Contender == contender {
			return r
		}
	}
	return nil
}

// finishWordCount notes words/s.
func finishWordCount(rows, _ []*Row) {
	for _, r := range rows {
		if r.RecordsPerSec > 0 {
			r.Extra = append(r.Extra, fmt.Sprintf("%s words/s", human(r.RecordsPerSec*12)))
		}
	}
}

// finishWindow notes, in the 60-batch window, the engine's cost against
// the 6-batch one.
func finishWindow(rows, earlier []*Row) {
	o60 := find(rows, "window60", ours)
	o6 := find(earlier, "window6", ours)
	if o60 == nil || o6 == nil || o60.RecordsPerSec == 0 || o6.RecordsPerSec == 0 {
		return
	}
	o60.Extra = append(o60.Extra, fmt.Sprintf("rate 60/6 = %.2f", o60.RecordsPerSec/o6.RecordsPerSec))
}

// finishScaling notes the speedup from 1 to 2 cores.
func finishScaling(rows, _ []*Row) {
	for _, who := range []string{ours, baseline} {
		one, two := find(rows, "scaling", who+"/1"), find(rows, "scaling", who+"/2")
		if one == nil || two == nil || one.RecordsPerSec == 0 || two.RecordsPerSec == 0 {
			continue
		}
		two.Extra = append(two.Extra, fmt.Sprintf("speedup 1->2 cores = %.2fx", two.RecordsPerSec/one.RecordsPerSec))
	}
}

// finishInstances notes the speed-up from one copy to two.
func finishInstances(rows, _ []*Row) {
	one, two := find(rows, "instances", "ours/1"), find(rows, "instances", "ours/2")
	if one == nil || two == nil || one.RecordsPerSec == 0 || two.RecordsPerSec == 0 {
		return
	}
	two.Extra = append(two.Extra, fmt.Sprintf("speedup 1->2 copies = %.2fx", two.RecordsPerSec/one.RecordsPerSec))
}

// checkTargets evaluates the issues' targets on the rows that ran: the
// engine's word count at least 0.8 of the parallel baseline and ahead of
// every peer; with their scenarios, two IoT copies at least 1.8 times one
// and the IoT pipeline over TLS + Kerberos at least 0.85 of the plaintext
// one.
func checkTargets(rows []*Row) []Target {
	out := append(instancesTargets(rows), iotSecuredTargets(rows)...)
	out = append(out, millisTargets(rows)...)
	o := find(rows, "wordcount", ours)
	b := find(rows, "wordcount", baseline)
	if o == nil || b == nil {
		return out
	}
	if o.RecordsPerSec == 0 || b.RecordsPerSec == 0 {
		return append(out, Target{Name: "word count >= 0.8 of the baseline", Why: "the engine or the baseline did not run"})
	}
	ratio := o.RecordsPerSec / b.RecordsPerSec
	out = append(out, Target{Name: "word count >= 0.8 of the baseline", Met: ratio >= 0.8,
		Why: fmt.Sprintf("ours %s lines/s, baseline %s: %.2f", human(o.RecordsPerSec), human(b.RecordsPerSec), ratio)})
	ahead, why := true, []string{}
	for _, r := range rows {
		if r.Scenario != "wordcount" || r.Contender == ours || r.Contender == baseline {
			continue
		}
		switch {
		case r.Error != "":
			ahead = false
			why = append(why, r.Contender+" failed")
		case r.RecordsPerSec > 0:
			if r.RecordsPerSec >= o.RecordsPerSec {
				ahead = false
			}
			why = append(why, fmt.Sprintf("%s %.2fx", r.Contender, o.RecordsPerSec/r.RecordsPerSec))
		}
	}
	return append(out, Target{Name: "word count ahead of every peer", Met: ahead, Why: "ours over " + strings.Join(why, ", ")})
}

// securedShare is the least share of the plain IoT pipeline's rate the
// secured one must keep.
const securedShare = 0.85

// iotSecuredTargets evaluates the secure clusters' target when the iot
// scenario ran: the pipeline over TLS + Kerberos at least securedShare of
// the plaintext one, measured in the same run.
func iotSecuredTargets(rows []*Row) []Target {
	plain, sec := find(rows, "iot", ours), find(rows, "iot", oursSecured)
	if plain == nil || sec == nil {
		return nil
	}
	name := fmt.Sprintf("iot secured (TLS + Kerberos) >= %.2f of plain", securedShare)
	switch {
	case sec.Cannot != "":
		return []Target{{Name: name, Why: "the secured run cannot run here: " + sec.Cannot}}
	case plain.RecordsPerSec == 0 || sec.RecordsPerSec == 0:
		return []Target{{Name: name, Why: "a side did not run"}}
	}
	ratio := sec.RecordsPerSec / plain.RecordsPerSec
	return []Target{{Name: name, Met: ratio >= securedShare,
		Why: fmt.Sprintf("secured %s, plain %s: %.2f", human(sec.RecordsPerSec), human(plain.RecordsPerSec), ratio)}}
}

// instancesTargets evaluates the scale-out targets when the instances
// scenario ran: two copies at least 1.8 times one.
func instancesTargets(rows []*Row) []Target {
	one, two := find(rows, "instances", "ours/1"), find(rows, "instances", "ours/2")
	if one == nil || two == nil {
		return nil
	}
	name := "instances: 2 copies >= 1.8x 1"
	if one.RecordsPerSec == 0 || two.RecordsPerSec == 0 {
		return []Target{{Name: name, Why: "a side did not run"}}
	}
	ratio := two.RecordsPerSec / one.RecordsPerSec
	return []Target{{Name: name, Met: ratio >= 1.8,
		Why: fmt.Sprintf("1 copy %s events/s, 2 copies %s: %.2fx", human(one.RecordsPerSec), human(two.RecordsPerSec), ratio)}}
}
