// Command bench runs the project's benchmark scenarios and prints one
// table: for each scenario, the engine ("ours"), a hand-written Go
// program doing the same work (the baseline, the practical limit) and
// the Go peers a user would pick instead, on the same generated input in
// the same run, with records/s, the ratio to the baseline, and peak
// memory.
//
// From the repository root:
//
//	go run ./bench            # every scenario, about 15 minutes
//	go run ./bench -quick     # small sizes, about four minutes
//	go run ./bench -scenario 'wordcount|kafka' -json out.json
//
// Every contender runs in a child process of its own (this binary for
// the engine and the baselines, one binary per peer, the examples' test
// binaries for the applications), so that its peak resident memory is its
// own. Progress goes to standard error, the table to standard output.
// See bench/README.md for what each scenario does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"time"
)

// busyLoad is the 1-minute load average above which the run warns that
// the machine is busy.
const busyLoad = 0.5

// childFlag, as the first argument, makes the binary a child that runs
// one contender of the engine or the baselines (see runChild).
const childFlag = "-child"

func main() {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		if err := runChild(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

// options are the command's flags.
type options struct {
	quick    bool
	jsonFile string
	scenario *regexp.Regexp
	rounds   int
	// roundsSet says -rounds was given: it then applies to every
	// scenario, including those that run more rounds by default.
	roundsSet bool
	minTime   time.Duration
	seed      uint64
	list      bool
	root      string
	timeout   time.Duration
}

// parseFlags parses the command line. It reports bad flags as errors,
// with the usage written to errOut.
func parseFlags(args []string, errOut io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.BoolVar(&o.quick, "quick", false, "small sizes: the whole run takes about four minutes (compilation aside)")
	fs.StringVar(&o.jsonFile, "json", "", "also write the results as JSON to `FILE`")
	pattern := fs.String("scenario", "", "run only the scenarios whose name matches this `REGEX`")
	fs.IntVar(&o.rounds, "rounds", 0, "times the engine and the baseline run in each scenario, alternating, median reported (0: 3, or 2 with -quick except 3 for wordcount)")
	fs.DurationVar(&o.minTime, "mintime", 0, "least time a throughput contender spends in timed passes (0: 3s, or 0.5s with -quick)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of every generated input")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	fs.StringVar(&o.root, "root", "", "the repository's root `DIR` (default: found from the working directory)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest a single contender may run")
	fs.Usage = func() {
		fmt.Fprintf(errOut, "usage: go run ./bench [flags]\n\nRuns every benchmark scenario and prints a table. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	fs.Visit(func(f *flag.Flag) { o.roundsSet = o.roundsSet || f.Name == "rounds" })
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	re, err := regexp.Compile(*pattern)
	if err != nil {
		return o, fmt.Errorf("-scenario: %w", err)
	}
	o.scenario = re
	switch {
	case o.rounds < 0:
		return o, fmt.Errorf("-rounds must not be negative, got %d", o.rounds)
	case o.rounds == 0 && o.quick:
		o.rounds = 2
	case o.rounds == 0:
		o.rounds = 3
	}
	switch {
	case o.minTime < 0:
		return o, fmt.Errorf("-mintime must not be negative, got %v", o.minTime)
	case o.minTime == 0 && o.quick:
		o.minTime = 500 * time.Millisecond
	case o.minTime == 0:
		o.minTime = 3 * time.Second
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("-timeout must be positive, got %v", o.timeout)
	}
	return o, nil
}

// run is the command: parse the flags, build what the selected
// scenarios need, run them and print the table.
func run(ctx context.Context, args []string, out, progress io.Writer) error {
	o, err := parseFlags(args, progress)
	if err != nil {
		return err
	}
	scenarios := selectScenarios(allScenarios(o), o.scenario)
	if o.list {
		for _, s := range allScenarios(o) {
			fmt.Fprintf(out, "%-14s %s\n", s.name, s.desc)
		}
		return nil
	}
	if len(scenarios) == 0 {
		return fmt.Errorf("no scenario matches %q (see -list)", o.scenario)
	}
	load := loadAverage()
	if l, err := strconv.ParseFloat(load, 64); err == nil && l > busyLoad {
		fmt.Fprintf(progress, "warning: load average %s before the run: other work on this machine will slow the contenders unevenly\n", load)
	}
	r, err := newRunner(o, progress)
	if err != nil {
		return err
	}
	defer r.close()
	began := time.Now()
	if err := r.build(ctx, scenarios); err != nil {
		return err
	}
	built := time.Now()
	report := &Report{
		Command: commandLine(args),
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: describeMachine(),
		LoadAvg: load,
		Quick:   o.quick,
	}
	for _, s := range scenarios {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		report.Rows = append(report.Rows, r.runScenario(ctx, s, report.Rows)...)
	}
	report.BuildSeconds = built.Sub(began).Seconds()
	report.RunSeconds = time.Since(built).Seconds()
	report.Targets = checkTargets(report.Rows)
	if err := writeTable(out, report); err != nil {
		return err
	}
	if o.jsonFile != "" {
		if err := writeJSON(o.jsonFile, report); err != nil {
			return err
		}
	}
	return nil
}
