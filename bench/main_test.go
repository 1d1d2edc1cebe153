package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

// TestMain lets the test binary act as the bench's child, as the bench
// binary does, so that run can re-execute it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		if err := runChild(os.Args[2:], os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.quick || o.rounds != 3 || o.minTime != 3*time.Second || o.seed != 1 || o.scenario.String() != "" {
		t.Errorf("defaults: %+v", o)
	}
	q, err := parseFlags([]string{"-quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if q.rounds != 2 || q.minTime != 500*time.Millisecond {
		t.Errorf("-quick defaults: rounds %d, mintime %v", q.rounds, q.minTime)
	}
}

func TestParseFlagsRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-bogus"},
		{"-scenario", "("},
		{"-rounds", "-1"},
		{"-mintime", "-1s"},
		{"-timeout", "0"},
		{"-rounds", "x"},
		{"stray"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	var usage bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "-quick") {
		t.Errorf("-h: %v, usage %q", err, usage.String())
	}
}

func TestScenariosAreComplete(t *testing.T) {
	o, _ := parseFlags([]string{"-quick"}, io.Discard)
	want := []string{"wordcount", "kafka", "window6", "window60", "state", "iot", "instances", "spot", "latency", "latency10ms", "overhead", "socket", "scaling"}
	all := allScenarios(o)
	if len(all) != len(want) {
		t.Fatalf("%d scenarios, want %d", len(all), len(want))
	}
	for i, s := range all {
		if s.name != want[i] {
			t.Errorf("scenario %d is %s, want %s", i, s.name, want[i])
		}
		names := map[string]bool{}
		for _, c := range s.contenders {
			names[c.name] = true
			if c.kind == self {
				if _, ok := childFuncs[c.spec.Scenario+"/"+c.spec.Contender]; !ok {
					t.Errorf("%s/%s: no child function %s/%s", s.name, c.name, c.spec.Scenario, c.spec.Contender)
				}
			}
		}
		if s.baseline == "" && s.name == "overhead" {
			continue // an absolute cost, against a target
		}
		if !names[s.baseline] {
			t.Errorf("%s: baseline %q is not a contender", s.name, s.baseline)
		}
	}
}

func TestChildContenders(t *testing.T) {
	small := map[string]benchkit.Spec{
		"wordcount": {Lines: 2000, PerLine: 12, Distinct: 1000},
		"window":    {BatchLines: 200, Window: 3, PerLine: 12, Distinct: 1000},
		"state":     {Keys: 10_000, BatchRecords: 2000, Warmup: 2},
		"socket":    {Lines: 20_000, PerLine: 12, Distinct: 1000, Interval: 10 * time.Millisecond},
	}
	for scenario, spec := range small {
		for _, who := range []string{ours, baseline} {
			spec.Scenario, spec.Contender, spec.Seed, spec.MaxPasses, spec.MinTime = scenario, who, 7, 3, time.Hour
			var out bytes.Buffer
			if err := runChild([]string{"-spec", spec.Encode()}, &out); err != nil {
				t.Fatalf("%s/%s: %v", scenario, who, err)
			}
			res, err := parseResult(out.Bytes())
			if err != nil {
				t.Fatalf("%s/%s: %v", scenario, who, err)
			}
			if res.Passes != 3 || res.Rate() <= 0 {
				t.Errorf("%s/%s: %+v", scenario, who, res)
			}
		}
	}
	if err := runChild([]string{"-spec", `{"scenario":"nope","contender":"ours"}`}, io.Discard); err == nil {
		t.Error("unknown scenario: no error")
	}
	if err := runChild([]string{"-spec", `{`}, io.Discard); err == nil {
		t.Error("bad spec: no error")
	}
}

// The timed millisecond contenders run briefly and report their metrics.
func TestMillisContenders(t *testing.T) {
	lat := benchkit.Spec{Scenario: "latency10ms", Seed: 7, PerLine: 12, Distinct: 1000, Rate: 5000,
		Duration: 1500 * time.Millisecond, Interval: 10 * time.Millisecond}
	for _, tc := range []struct {
		spec    benchkit.Spec
		metrics []string
	}{
		{with(lat, oursSocket, ""), []string{"p50_ms", "p99_ms", "sched_growth_ms", "sched_p99_ms"}},
		{with(lat, baselineSocket, ""), []string{"p50_ms", "p99_ms"}},
		{with(lat, oursKafka10, ""), []string{"p50_ms", "p99_ms", "sched_growth_ms", "sched_p99_ms"}},
		{with(lat, baselineKafka10, ""), []string{"p50_ms", "p99_ms"}},
		{benchkit.Spec{Scenario: "overhead", Contender: ours, Duration: 1500 * time.Millisecond, Interval: 10 * time.Millisecond}, []string{"median_us", "p99_us"}},
		{benchkit.Spec{Scenario: "overhead", Contender: ours, Variant: "progress", Duration: 1500 * time.Millisecond, Interval: 10 * time.Millisecond}, []string{"median_us", "p99_us"}},
	} {
		name := tc.spec.Scenario + "/" + tc.spec.Contender + "/" + tc.spec.Variant
		var out bytes.Buffer
		if err := runChild([]string{"-spec", tc.spec.Encode()}, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, err := parseResult(out.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Records <= 0 {
			t.Errorf("%s: no records: %+v", name, res)
		}
		for _, m := range tc.metrics {
			if _, ok := res.Metrics[m]; !ok {
				t.Errorf("%s: no metric %s: %+v", name, m, res)
			}
		}
		for _, n := range res.Notes {
			if strings.Contains(n, "not output") {
				t.Errorf("%s: %s", name, n)
			}
		}
	}
}

func with(s benchkit.Spec, contender, variant string) benchkit.Spec {
	s.Contender, s.Variant = contender, variant
	return s
}

func TestParseBenchOutput(t *testing.T) {
	out := "goos: linux\nBenchmarkKafkaAvroParquet/engine-2   \t       1\t1391592613 ns/op\t     71860 events/s\nPASS\n"
	res, err := parseBenchOutput(out, "events/s")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rate() != 71860 {
		t.Errorf("rate %v, want 71860", res.Rate())
	}
	if _, err := parseBenchOutput("PASS\n", "events/s"); err == nil {
		t.Error("no benchmark line: no error")
	}
}

func TestTableAndJSON(t *testing.T) {
	rep := &Report{Command: "go run ./bench -quick", Machine: "m", LoadAvg: "0.1", Rows: []*Row{
		{Scenario: "wordcount", Contender: ours, RecordsPerSec: 900_000, Ratio: 0.9, RatioOf: "records/s", PeakMiB: 80, Note: "engine"},
		{Scenario: "wordcount", Contender: baseline, RecordsPerSec: 1_000_000, Ratio: 1, RatioOf: "records/s", PeakMiB: 70},
		{Scenario: "wordcount", Contender: "beam", RecordsPerSec: 20_000, Ratio: 0.02, RatioOf: "records/s", PeakMiB: 120},
		{Scenario: "kafka", Contender: "beam", Cannot: "needs a Java | expansion service"},
		{Scenario: "latency", Contender: ours, RecordsPerSec: 20_000, Ratio: 1.1, RatioOf: "p99 latency",
			Metrics: map[string]float64{"p50_ms": 55, "p99_ms": 110}},
	}}
	rep.Targets = checkTargets(rep.Rows)
	var out bytes.Buffer
	if err := writeTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	if !strings.HasPrefix(lines[0], "| scenario") || !strings.Contains(lines[0], "records/s") || !strings.Contains(lines[0], "vs baseline") {
		t.Errorf("header: %q", lines[0])
	}
	for _, l := range lines[:len(rep.Rows)+2] {
		if n := strings.Count(l, "|"); n != 7 {
			t.Errorf("%d bars in %q, want 7", n, l)
		}
	}
	for _, want := range []string{"900k", "0.90", "1.10 (p99)", "p50=55.0ms", "cannot: needs a Java / expansion service",
		"target MET: word count >= 0.8", "target MET: word count ahead of every peer"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	name := filepath.Join(t.TempDir(), "out.json")
	if err := writeJSON(name, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(rep.Rows) || back.Rows[0].RecordsPerSec != 900_000 || len(back.Targets) != 2 {
		t.Errorf("JSON round trip: %+v", back)
	}
}

func TestTargetsMissed(t *testing.T) {
	rows := []*Row{
		{Scenario: "wordcount", Contender: ours, RecordsPerSec: 700},
		{Scenario: "wordcount", Contender: baseline, RecordsPerSec: 1000},
		{Scenario: "wordcount", Contender: "watermill", RecordsPerSec: 800},
	}
	ts := checkTargets(rows)
	if len(ts) != 2 || ts[0].Met || ts[1].Met {
		t.Errorf("targets: %+v", ts)
	}
}

// TestRunOneScenario runs the state scenario end to end, small: the
// engine and the baseline in child processes, the table and the JSON.
func TestRunOneScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "out.json")
	var out, progress bytes.Buffer
	err = run(context.Background(), []string{"-quick", "-scenario", "^state$", "-rounds", "1", "-mintime", "1ms", "-root", root, "-json", name}, &out, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	for _, want := range []string{"| state", "| ours", "| baseline", "bytes/key=", "cannot: no state"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	o := find(rep.Rows, "state", ours)
	if o == nil || o.RecordsPerSec <= 0 || o.PeakMiB <= 0 || o.Ratio <= 0 || o.Metrics["bytes_per_key"] <= 0 {
		t.Errorf("engine's row: %+v", o)
	}
}

// The instances target compares two copies with one, and the restart row's
// measures in milliseconds reach the notes.
func TestInstancesTarget(t *testing.T) {
	rows := []*Row{
		{Scenario: "instances", Contender: "ours/1", RecordsPerSec: 10_000},
		{Scenario: "instances", Contender: "ours/2", RecordsPerSec: 17_000},
	}
	ts := checkTargets(rows)
	if len(ts) != 1 || ts[0].Met || !strings.Contains(ts[0].Why, "1.70x") {
		t.Errorf("targets for 1.70x: %+v", ts)
	}
	rows[1].RecordsPerSec = 19_000
	if ts := checkTargets(rows); len(ts) != 1 || !ts[0].Met {
		t.Errorf("targets for 1.90x: %+v", ts)
	}
	res, err := parseBenchOutput("BenchmarkInstances/restart-2 \t 2\t 28314 ns/op\t 5692 restart-ms\t 2680 scaleup-ms\n", "restart-ms")
	if err != nil {
		t.Fatal(err)
	}
	row := &Row{Metrics: res.Metrics}
	if got := row.notes(); !strings.Contains(got, "restart=5692ms") || !strings.Contains(got, "scaleup=2680ms") {
		t.Errorf("notes %q", got)
	}
}

// The secured IoT target compares the secured engine with the plaintext
// one of the same run, and says why when the secured one cannot run.
func TestIoTSecuredTarget(t *testing.T) {
	rows := []*Row{
		{Scenario: "iot", Contender: ours, RecordsPerSec: 80_000},
		{Scenario: "iot", Contender: oursSecured, RecordsPerSec: 64_000},
	}
	ts := checkTargets(rows)
	if len(ts) != 1 || ts[0].Met || ts[0].Why != "secured 64k, plain 80k: 0.80" {
		t.Errorf("targets for 0.80: %+v", ts)
	}
	rows[1].RecordsPerSec = 72_000
	var out bytes.Buffer
	if err := writeTable(&out, &Report{Rows: rows, Targets: checkTargets(rows)}); err != nil {
		t.Fatal(err)
	}
	if want := "target MET: iot secured (TLS + Kerberos) >= 0.85 of plain (secured 72k, plain 80k: 0.90)"; !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
	rows[1] = &Row{Scenario: "iot", Contender: oursSecured, Cannot: "no MIT Kerberos KDC here"}
	if ts := checkTargets(rows); len(ts) != 1 || ts[0].Met || !strings.Contains(ts[0].Why, "no MIT Kerberos KDC here") {
		t.Errorf("targets without a KDC: %+v", ts)
	}
	if ts := checkTargets(rows[:1]); len(ts) != 0 {
		t.Errorf("targets without the secured row: %+v", ts)
	}
}

// The secured IoT contender cannot run, and says which programs are
// missing, when MIT Kerberos is not installed; it runs when every
// program is found.
func TestKerberosMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", "")
	t.Setenv("KRBTEST_SBIN_DIRS", dir)
	if got := kerberosMissing(); !strings.Contains(got, "krb5kdc") || !strings.Contains(got, "kadmin.local") {
		t.Errorf("without the programs: %q", got)
	}
	for _, name := range kerberosTools {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := kerberosMissing(); got != "" {
		t.Errorf("with every program: %q", got)
	}
	o, _ := parseFlags(nil, io.Discard)
	for _, s := range allScenarios(o) {
		for _, c := range s.contenders {
			if c.name == oursSecured && (s.name != "iot" || c.cannot != "" || c.baseline != ours) {
				t.Errorf("%s/%s: %+v", s.name, c.name, c)
			}
		}
	}
}
