package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

// runner builds the programs the scenarios need and runs their
// contenders as child processes.
type runner struct {
	o        options
	progress io.Writer
	// root is the repository's root, benchDir the bench module's.
	root, benchDir string
	// tmp holds the built binaries.
	tmp string
	// self is this binary.
	self string
	// bins maps a peer or example name to its built binary, or to the
	// error that kept it from building.
	bins      map[string]string
	buildErrs map[string]error
}

// modulePath is the repository's module.
const modulePath = "github.com/microbatch-go/microbatch"

func newRunner(o options, progress io.Writer) (*runner, error) {
	root := o.root
	if root == "" {
		var err error
		if root, err = findRoot(); err != nil {
			return nil, err
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "go.mod")); err != nil {
		return nil, fmt.Errorf("%s is not the repository's root (no bench/go.mod): %w", root, err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	tmp, err := os.MkdirTemp("", "microbatch-bench-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	return &runner{o: o, progress: progress, root: root, benchDir: filepath.Join(root, "bench"), tmp: tmp, self: self,
		bins: map[string]string{}, buildErrs: map[string]error{}}, nil
}

func (r *runner) close() { os.RemoveAll(r.tmp) }

// findRoot walks up from the working directory to the directory whose
// go.mod is the repository's module.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if modFileModule(b) == modulePath {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository's root from the working directory; run from it or pass -root")
		}
		dir = parent
	}
}

// modFileModule returns the module path a go.mod declares.
func modFileModule(b []byte) string {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// build compiles the peers' binaries and the examples' test binaries that
// the scenarios use, one at a time. A program that fails to build is
// reported in the rows of its contenders, not fatal.
func (r *runner) build(ctx context.Context, scenarios []scenario) error {
	need := map[string]kind{}
	var order []string
	for _, s := range scenarios {
		for _, c := range s.contenders {
			if c.cannot != "" || c.kind == self {
				continue
			}
			if _, ok := need[c.bin]; !ok {
				need[c.bin] = c.kind
				order = append(order, c.bin)
			}
		}
	}
	for _, name := range order {
		out := filepath.Join(r.tmp, name)
		var cmd *exec.Cmd
		if need[name] == peer {
			cmd = exec.CommandContext(ctx, "go", "build", "-o", out, "./peers/"+name)
			cmd.Dir = r.benchDir
		} else {
			cmd = exec.CommandContext(ctx, "go", "test", "-c", "-o", out, "./examples/"+name)
			cmd.Dir = r.root
		}
		fmt.Fprintf(r.progress, "building %s ...", name)
		start := time.Now()
		msg, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			return fmt.Errorf("build %s: %w", name, ctx.Err())
		}
		if err != nil {
			fmt.Fprintf(r.progress, " failed: %v\n%s", err, msg)
			r.buildErrs[name] = fmt.Errorf("build failed: %s", firstLine(string(msg), err))
			continue
		}
		fmt.Fprintf(r.progress, " %.0fs\n", time.Since(start).Seconds())
		r.bins[name] = out
	}
	return nil
}

// firstLine returns the first non-empty line of msg, or err's text.
func firstLine(msg string, err error) string {
	for line := range strings.Lines(msg) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return err.Error()
}

// outcome is one run of one contender.
type outcome struct {
	res    benchkit.Result
	rssKiB int64
	err    error
}

// runScenario runs a scenario's contenders: those that repeat in every
// round, in alternating order so that drift in the machine's speed hits
// them alike, the others once; it returns the scenario's rows.
func (r *runner) runScenario(ctx context.Context, s scenario, earlier []*Row) []*Row {
	fmt.Fprintf(r.progress, "== %s: %s\n", s.name, s.desc)
	began := time.Now()
	defer func() { fmt.Fprintf(r.progress, "   (%s: %.0fs)\n", s.name, time.Since(began).Seconds()) }()
	s.contenders = slices.Clone(s.contenders)
	if r.o.quick {
		s.contenders = slices.DeleteFunc(s.contenders, func(c contender) bool { return c.fullOnly })
	}
	runs := make([][]outcome, len(s.contenders))
	order := make([]int, len(s.contenders))
	for i := range order {
		order[i] = i
	}
	rounds := r.o.rounds
	if !r.o.roundsSet {
		rounds = max(rounds, s.minRounds)
	}
	for round := range rounds {
		idx := slices.Clone(order)
		if round%2 == 1 {
			slices.Reverse(idx)
		}
		for _, i := range idx {
			c := s.contenders[i]
			if c.cannot != "" || (round > 0 && !c.repeat) || ctx.Err() != nil {
				continue
			}
			fmt.Fprintf(r.progress, "  %-18s round %d/%d ... ", c.name, round+1, rounds)
			start := time.Now()
			oc := r.runContender(ctx, c)
			if oc.err != nil {
				fmt.Fprintf(r.progress, "error: %v\n", oc.err)
			} else {
				fmt.Fprintf(r.progress, "%s records/s, %.0f MiB (%.1fs)\n", human(oc.res.Rate()), float64(oc.rssKiB)/1024, time.Since(start).Seconds())
			}
			runs[i] = append(runs[i], oc)
			if oc.err != nil && c.repeat {
				// Do not retry a failing contender every round.
				s.contenders[i].repeat = false
			}
		}
		if round == 0 && !s.latency {
			repeatClosePeers(s.contenders, runs)
		}
	}
	rows := make([]*Row, len(s.contenders))
	for i, c := range s.contenders {
		rows[i] = summarize(s, c, runs[i])
	}
	byName := map[string]*Row{}
	for _, row := range rows {
		byName[row.Contender] = row
	}
	for i, c := range s.contenders {
		base := c.baseline
		if base == "" {
			base = s.baseline
		}
		b := byName[base]
		row := rows[i]
		if b == nil || row.Error != "" || row.Cannot != "" || b.Error != "" || b.RecordsPerSec == 0 {
			continue
		}
		if s.latency {
			if bp, cp := b.Metrics["p99_ms"], row.Metrics["p99_ms"]; bp > 0 && cp > 0 {
				row.Ratio, row.RatioOf = cp/bp, "p99 latency"
			}
		} else {
			row.Ratio, row.RatioOf = row.RecordsPerSec/b.RecordsPerSec, "records/s"
		}
	}
	if s.finish != nil {
		s.finish(rows, earlier)
	}
	return rows
}

// closePeer is how close to the engine's rate a peer must come in the
// first round to be run in every round, alternating with it: the peers
// that might beat it are measured as carefully as it is.
const closePeer = 0.5

// repeatClosePeers marks the peers whose first run came within closePeer
// of the engine's to run in every round.
func repeatClosePeers(cs []contender, runs [][]outcome) {
	var oursRate float64
	for i, c := range cs {
		if c.name == ours && len(runs[i]) > 0 && runs[i][0].err == nil {
			oursRate = runs[i][0].res.Rate()
		}
	}
	for i, c := range cs {
		if c.kind == peer && !c.repeat && len(runs[i]) > 0 && runs[i][0].err == nil && oursRate > 0 &&
			runs[i][0].res.Rate() >= closePeer*oursRate {
			cs[i].repeat = true
		}
	}
}

// summarize makes a contender's row from its runs: the median rate (the
// mean of the middle two for an even count), the largest peak memory,
// the metrics of the run at or just above the median.
func summarize(s scenario, c contender, runs []outcome) *Row {
	row := &Row{Scenario: s.name, Contender: c.name, Cannot: c.cannot, Note: c.note}
	if c.cannot != "" {
		return row
	}
	var ok []outcome
	for _, oc := range runs {
		if oc.err != nil {
			row.Error = oc.err.Error()
			continue
		}
		ok = append(ok, oc)
	}
	if len(ok) == 0 {
		if row.Error == "" {
			row.Error = "not run"
		}
		return row
	}
	if failed := len(runs) - len(ok); failed > 0 {
		row.Extra = append(row.Extra, fmt.Sprintf("%d of %d runs failed: %s", failed, len(runs), row.Error))
	}
	row.Error = ""
	slices.SortFunc(ok, func(a, b outcome) int {
		return cmpFloat(a.res.Rate(), b.res.Rate())
	})
	med := ok[len(ok)/2]
	row.RecordsPerSec = med.res.Rate()
	if len(ok)%2 == 0 {
		row.RecordsPerSec = (row.RecordsPerSec + ok[len(ok)/2-1].res.Rate()) / 2
	}
	for _, oc := range ok {
		row.Runs = append(row.Runs, oc.res.Rate())
		row.PeakMiB = max(row.PeakMiB, float64(oc.rssKiB)/1024)
	}
	row.Metrics = med.res.Metrics
	row.ChildNotes = med.res.Notes
	return row
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// runContender runs one contender in a child process and returns what it
// printed and its peak resident memory.
func (r *runner) runContender(ctx context.Context, c contender) outcome {
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	var cmd *exec.Cmd
	switch c.kind {
	case self:
		cmd = exec.CommandContext(ctx, r.self, childFlag, "-spec", c.spec.Encode())
	case peer, testBinary:
		bin, ok := r.bins[c.bin]
		if !ok {
			err := r.buildErrs[c.bin]
			if err == nil {
				err = fmt.Errorf("%s was not built", c.bin)
			}
			return outcome{err: err}
		}
		if c.kind == peer {
			cmd = exec.CommandContext(ctx, bin, "-spec", c.spec.Encode())
		} else {
			cmd = exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", c.bench,
				"-test.benchtime", sizesFor(r.o).appBenchtime, "-test.count", "1")
			cmd.Dir = filepath.Join(r.root, "examples", c.bin)
		}
	}
	cmd.Env = append(os.Environ(), c.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss // KiB on Linux
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %v", ctx.Err(), r.o.timeout)
		}
		return outcome{err: fmt.Errorf("%w: %s", err, tail(stderr.String()+stdout.String(), 3))}
	}
	var res benchkit.Result
	if c.kind == testBinary {
		res, err = parseBenchOutput(stdout.String(), c.metric)
	} else {
		res, err = parseResult(stdout.Bytes())
	}
	if err != nil {
		return outcome{err: fmt.Errorf("%w: %s", err, tail(stderr.String(), 3))}
	}
	return outcome{res: res, rssKiB: rss}
}

// parseResult reads the last JSON line a child printed.
func parseResult(out []byte) (benchkit.Result, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	last := lines[len(lines)-1]
	var res benchkit.Result
	if err := json.Unmarshal(last, &res); err != nil {
		return res, fmt.Errorf("child printed no result (%q): %w", tail(string(out), 1), err)
	}
	if res.Rate() <= 0 {
		return res, fmt.Errorf("child measured no records (%+v)", res)
	}
	return res, nil
}

// parseBenchOutput reads a go test benchmark's output: the rate with the
// given unit on the Benchmark line.
func parseBenchOutput(out, metric string) (benchkit.Result, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		for i := 3; i < len(f); i++ {
			if f[i] != metric {
				continue
			}
			rate, err := strconv.ParseFloat(f[i-1], 64)
			if err != nil || rate <= 0 || math.IsInf(rate, 0) {
				return benchkit.Result{}, fmt.Errorf("bad %s in %q", metric, sc.Text())
			}
			// Report it as one second's worth so that Rate() is the rate;
			// the line's measures in milliseconds are metrics.
			return benchkit.Result{Records: int64(rate), Seconds: 1, Passes: iters, Metrics: msMetrics(f)}, nil
		}
	}
	return benchkit.Result{}, fmt.Errorf("no %s in the benchmark's output: %s", metric, tail(out, 3))
}

// msMetrics returns the measures of a benchmark line's fields whose unit
// ends in "-ms" ("5692 restart-ms"), keyed "restart_ms"; nil without any.
func msMetrics(f []string) map[string]float64 {
	var m map[string]float64
	for i := 3; i < len(f); i++ {
		unit, ok := strings.CutSuffix(f[i], "-ms")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(f[i-1], 64)
		if err != nil {
			continue
		}
		if m == nil {
			m = map[string]float64{}
		}
		m[strings.ReplaceAll(unit, "-", "_")+"_ms"] = v
	}
	return m
}

// tail returns the last n non-empty lines of s, joined by " | ".
func tail(s string, n int) string {
	var lines []string
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
