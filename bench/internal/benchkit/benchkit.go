// Package benchkit holds what the bench's programs share: the
// deterministic inputs, the parameters a child process is given, the
// result it prints, and the loop that times a contender.
//
// The orchestrator (package main of bench/) runs every contender in a
// child process of its own, so that the child's peak resident memory is
// that contender's alone. The child is either the orchestrator's own
// binary (the engine and the hand-written baselines) or one binary per
// peer (bench/peers/...), so that no contender pays for another's
// packages. A child reads a Spec from its -spec flag, generates its input
// from the Spec's seed, measures, and prints one Result as JSON on its
// standard output.
package benchkit

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"
)

// Spec is what a child is asked to run. The zero value of a size means
// the scenario's default.
type Spec struct {
	// Scenario and Contender name what to run, e.g. "wordcount" and
	// "ours".
	Scenario  string `json:"scenario"`
	Contender string `json:"contender"`
	// Variant selects a flavour of the contender (e.g. "words" or
	// "lines" for go-streams' word count).
	Variant string `json:"variant,omitempty"`
	// Seed seeds every generated input.
	Seed uint64 `json:"seed"`
	// Lines is the number of input lines (word count, Kafka, latency
	// lines per second), PerLine the words on each, Distinct the size of
	// the vocabulary they are drawn from (Zipf, s = 1.1).
	Lines    int `json:"lines,omitempty"`
	PerLine  int `json:"per_line,omitempty"`
	Distinct int `json:"distinct,omitempty"`
	// BatchLines is the number of lines in each batch of the windowed
	// scenarios; Window the window's length in batches.
	BatchLines int `json:"batch_lines,omitempty"`
	Window     int `json:"window,omitempty"`
	// Keys and BatchRecords size the keyed-state scenario, Warmup the
	// batches it runs before the timed ones.
	Keys         int `json:"keys,omitempty"`
	BatchRecords int `json:"batch_records,omitempty"`
	Warmup       int `json:"warmup,omitempty"`
	// Rate is the records per second a latency run sends, for Duration.
	Rate int `json:"rate,omitempty"`
	// Duration bounds a time-driven run (latency, processing-time
	// windows' steady state).
	Duration time.Duration `json:"duration,omitempty"`
	// MinTime is how long the repeated passes of a throughput run last
	// at least; MaxPasses caps them (0: no cap).
	MinTime   time.Duration `json:"min_time,omitempty"`
	MaxPasses int           `json:"max_passes,omitempty"`
	// Interval is a batch interval (latency) or a window slide.
	Interval time.Duration `json:"interval,omitempty"`
}

// Result is what a child prints: its throughput over the timed passes
// (input generation excluded) and anything else it measured.
type Result struct {
	// Records is the number of input records processed in the timed
	// passes, Seconds the time they took.
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"`
	// Passes is the number of timed passes.
	Passes int `json:"passes"`
	// Metrics holds the scenario's own measures: "p50_ms", "p99_ms",
	// "bytes_per_key", ...
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Notes are remarks for the table.
	Notes []string `json:"notes,omitempty"`
}

// Rate returns the records per second, or 0.
func (r Result) Rate() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Records) / r.Seconds
}

// ParseChildFlags reads the -spec flag of a child from args (without the
// program name) and returns the Spec.
func ParseChildFlags(args []string) (Spec, error) {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	spec := fs.String("spec", "", "the child's `JSON` Spec")
	if err := fs.Parse(args); err != nil {
		return Spec{}, fmt.Errorf("child flags: %w", err)
	}
	if *spec == "" {
		return Spec{}, errors.New("child flags: -spec is required")
	}
	return DecodeSpec(*spec)
}

// DecodeSpec parses a Spec from JSON.
func DecodeSpec(s string) (Spec, error) {
	var sp Spec
	if err := json.Unmarshal([]byte(s), &sp); err != nil {
		return Spec{}, fmt.Errorf("decode spec: %w", err)
	}
	return sp, nil
}

// Encode returns the Spec as JSON.
func (s Spec) Encode() string {
	b, err := json.Marshal(s)
	if err != nil { // a Spec has no field that fails to encode
		panic(err)
	}
	return string(b)
}

// Emit writes r to w as one line of JSON.
func Emit(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Measure times pass, each from a collected heap, until minTime has
// elapsed in passes (at least one pass, at most maxPasses when positive).
// Each pass processes records input records; pass returns an error to
// stop.
func Measure(minTime time.Duration, maxPasses int, records int64, pass func() error) (Result, error) {
	var res Result
	var spent time.Duration
	for {
		runtime.GC()
		start := time.Now()
		if err := pass(); err != nil {
			return res, err
		}
		spent += time.Since(start)
		res.Passes++
		res.Records += records
		if spent >= minTime || (maxPasses > 0 && res.Passes >= maxPasses) {
			break
		}
	}
	res.Seconds = spent.Seconds()
	return res, nil
}

// Corpus is a generated text: lines of words drawn from a Zipf
// distribution over a vocabulary.
type Corpus struct {
	Lines []string
	// Words is the number of words in Lines, Distinct the number of
	// different ones.
	Words    int
	Distinct int
}

// Vocabulary returns distinct words of 3 to 10 lowercase letters, from
// seed.
func Vocabulary(distinct int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	seen := make(map[string]bool, distinct)
	vocab := make([]string, 0, distinct)
	for len(vocab) < distinct {
		b := make([]byte, 3+rng.IntN(8))
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		if w := string(b); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return vocab
}

// Words returns n lines of perLine words each, single spaces between
// them, drawn from a Zipf distribution (s = 1.1) over a vocabulary of
// distinct words, all from seed: the same arguments give the same text.
func Words(n, perLine, distinct int, seed uint64) Corpus {
	vocab := Vocabulary(distinct, seed)
	rng := rand.New(rand.NewPCG(seed+1, seed+2))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(distinct-1))
	used := make([]bool, distinct)
	c := Corpus{Lines: make([]string, n), Words: n * perLine}
	var sb strings.Builder
	for i := range c.Lines {
		sb.Reset()
		for j := range perLine {
			if j > 0 {
				sb.WriteByte(' ')
			}
			k := zipf.Uint64()
			if !used[k] {
				used[k] = true
				c.Distinct++
			}
			sb.WriteString(vocab[k])
		}
		c.Lines[i] = sb.String()
	}
	return c
}

// CheckCounts checks a word count against the corpus it counted: the
// total and the number of distinct words.
func CheckCounts(c Corpus, total, distinct int) error {
	if total != c.Words || distinct != c.Distinct {
		return fmt.Errorf("counted %d words (%d distinct), want %d (%d distinct)", total, distinct, c.Words, c.Distinct)
	}
	return nil
}

// Batches cuts lines into batches of size lines, in order, wrapping
// around lines to make count batches.
func Batches(lines []string, size, count int) [][]string {
	out := make([][]string, count)
	i := 0
	for b := range out {
		batch := make([]string, size)
		for j := range batch {
			batch[j] = lines[i%len(lines)]
			i++
		}
		out[b] = batch
	}
	return out
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted
// values, nearest rank; 0 for none.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// Main is a peer binary's main: it runs the contender its -spec flag
// names, from funcs keyed by scenario, prints the Result on standard
// output and exits non-zero on an error.
func Main(funcs map[string]func(Spec) (Result, error)) {
	spec, err := ParseChildFlags(os.Args[1:])
	if err == nil {
		f, ok := funcs[spec.Scenario]
		if !ok {
			err = fmt.Errorf("scenario %q not supported by %s", spec.Scenario, os.Args[0])
		} else {
			var res Result
			if res, err = f(spec); err == nil {
				err = Emit(os.Stdout, res)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Contender, err)
		os.Exit(1)
	}
}

// MergeCounts adds the counts of src to dst.
func MergeCounts(dst, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}

// CountWords counts the words of lines into m, with strings.Fields.
func CountWords(m map[string]int, lines []string) {
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			m[w]++
		}
	}
}

// Totals returns the sum of a word count and its number of keys.
func Totals(m map[string]int) (total, distinct int) {
	for _, v := range m {
		total += v
	}
	return total, len(m)
}
