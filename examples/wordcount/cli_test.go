package main

// Acceptance tests of the wordcount command as a program: the wordcount
// and devkafka binaries are built once and run as subprocesses, fed
// through a directory, a Kafka-protocol broker and a socket, and the
// counts they save with -out are summed over all batches and compared
// with an independent count of the words sent.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/wcout"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cliArgs are the flags every subprocess run shares, as in the acceptance
// criteria: 500 ms batches and a graceful stop after 5 s. Everything is
// sent during roughly the first 3 s.
var cliArgs = []string{"-batch", "500ms", "-duration", "5s"}

const (
	sendPeriod  = 3 * time.Second  // data is sent during about this long
	exitTimeout = 30 * time.Second // a run of -duration 5s must have exited by then
)

func TestMain(m *testing.M) { proctest.Main(m) }

// buildBinaries builds the wordcount and devkafka commands, once per test
// process, and returns their paths.
func buildBinaries(t *testing.T) (wordcount, devkafka string) {
	t.Helper()
	return proctest.Build(t, "./examples/wordcount"), proctest.Build(t, "./examples/devkafka")
}

// start starts bin with args; the test's cleanup kills it if it is still
// running.
func start(t *testing.T, bin string, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, bin, args...)
}

// progressLine is the per-batch line on standard error.
var progressLine = regexp.MustCompile(`(?m)^batch \S+ records=(\d+) rate=\d+/s scheduling=\S+ processing=\S+ total=\S+ (ok|FAILED: .*)$`)

// checkProgress checks that wordcount printed at least a few progress
// lines, that every batch succeeded, and that the records they report add
// up to wantRecords, the number of records (lines) sent.
func checkProgress(t *testing.T, stderr string, wantRecords int) {
	t.Helper()
	lines := progressLine.FindAllStringSubmatch(stderr, -1)
	if len(lines) < 4 {
		t.Fatalf("%d progress lines, want at least 4 for a 5 s run of 500 ms batches:\n%s", len(lines), stderr)
	}
	total := 0
	for _, m := range lines {
		if m[2] != "ok" {
			t.Errorf("a batch failed: %s", m[0])
		}
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if total != wantRecords {
		t.Errorf("progress lines report %d records in all, want %d (the lines sent):\n%s", total, wantRecords, stderr)
	}
}

// savedCounts reads every batch directory prefix-<ms> that wordcount
// saved, checks that each is complete (_SUCCESS) and holds each word at
// most once, and returns the counts summed over all batches.
func savedCounts(t *testing.T, prefix string) (counts map[string]int, batches int) {
	t.Helper()
	dirs, err := filepath.Glob(prefix + "-*")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Base(prefix)) + `-\d+$`)
	for _, dir := range dirs {
		if !name.MatchString(filepath.Base(dir)) {
			t.Errorf("unexpected output %s", dir)
		}
	}
	counts = make(map[string]int)
	all := wcout.Batches(t, prefix, true)
	for _, c := range all {
		wcout.AddInto(counts, c)
	}
	return counts, len(all)
}

// compareCounts fails the test unless got and want are the same counts.
func compareCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("nothing was sent")
	}
	bad := 0
	for w, n := range want {
		if got[w] != n {
			if bad++; bad <= 20 {
				t.Errorf("%q: saved %d, sent %d", w, got[w], n)
			}
		}
	}
	for w, n := range got {
		if _, ok := want[w]; !ok {
			if bad++; bad <= 20 {
				t.Errorf("%q: saved %d, never sent", w, n)
			}
		}
	}
	if bad > 0 {
		sum := func(m map[string]int) (s int) {
			for _, n := range m {
				s += n
			}
			return s
		}
		t.Fatalf("%d words differ; %d distinct words saved, %d sent; %d words saved in all, %d sent", bad, len(got), len(want), sum(got), sum(want))
	}
}

// countWords is the independent count: strings.Fields over the text.
func countWords(into map[string]int, text string) {
	for _, w := range strings.Fields(text) {
		into[w]++
	}
}

// countLines counts the lines of text as the sources split them: ended by
// "\n", plus a last line without one.
func countLines(text string) int {
	n := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		n++
	}
	return n
}

// testWords is the vocabulary of the generated text: ASCII, accented and
// non-Latin words, words differing only in case, and punctuation, which is
// part of a word for strings.Fields.
var testWords = strings.Fields(`the the the of and stream batch window kafka spark Stream STREAM
word words word, "quoted" (paren) it's e-mail 42 3.14 café naïve straße Ünïcödé
日本語 中文 русский ελληνικά 😀 🚀x`)

// separators come between the words of a generated line.
var separators = []string{" ", " ", " ", "  ", "\t", " \t ", "\u00a0", "\u3000"}

// genLine returns a line of 1 to 15 words with mixed spacing, sometimes
// with leading or trailing blanks, without its line terminator.
func genLine(rng *rand.Rand) string {
	var sb strings.Builder
	if rng.IntN(5) == 0 {
		sb.WriteString(" \t")
	}
	for i := range 1 + rng.IntN(15) {
		if i > 0 {
			sb.WriteString(separators[rng.IntN(len(separators))])
		}
		sb.WriteString(testWords[rng.IntN(len(testWords))])
	}
	if rng.IntN(5) == 0 {
		sb.WriteString("  ")
	}
	return sb.String()
}

// genText returns lines lines of generated text, ended by "\n" or, when
// crlf, "\r\n", with an empty or blank line now and then.
func genText(rng *rand.Rand, lines int, crlf bool) string {
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	var sb strings.Builder
	for range lines {
		switch rng.IntN(12) {
		case 0:
		case 1:
			sb.WriteString(" \t ")
		default:
			sb.WriteString(genLine(rng))
		}
		sb.WriteString(eol)
	}
	return sb.String()
}

// The file source: text files moved into the watched directory while the
// job runs are counted exactly once in all.
func TestCLIFileSource(t *testing.T) {
	wordcount, _ := buildBinaries(t)
	dir, staging := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "counts")
	p := start(t, wordcount, append([]string{"-source", "file", "-dir", dir, "-out", out}, cliArgs...)...)
	began := time.Now()

	// Files whose modification time is before the context started are
	// never read (Spark's newFilesOnly), so wait for the first batch.
	p.WaitFor(t, p.Stderr, progressLine, 3*time.Second)

	rng := rand.New(rand.NewPCG(1, 2))
	want := make(map[string]int)
	lines := 0
	const files = 8
	for i := range files {
		text := genText(rng, 10+rng.IntN(40), i%3 == 1)
		switch i {
		case 5:
			text += genLine(rng) // a last line without a line break
		case 6:
			text += "\n\n" + strings.Repeat("repeated ", 50) + "\r\n"
		}
		countWords(want, text)
		lines += countLines(text)
		// Written just before it is moved in, so that its modification
		// time is new; a rename keeps it.
		name := fmt.Sprintf("words-%d.txt", i)
		if err := os.WriteFile(filepath.Join(staging, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		if i < files-1 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if d := time.Since(began); d > sendPeriod+time.Second {
		t.Logf("warning: the files took %v to move in", d)
	}

	p.Wait(t, exitTimeout)
	got, batches := savedCounts(t, out)
	t.Logf("%d batches saved, %d distinct words, %d lines in %d files", batches, len(got), lines, files)
	compareCounts(t, got, want)
	checkProgress(t, p.Stderr.String(), lines)
}

// The Kafka direct stream: lines produced to the devkafka broker while the
// job runs are counted exactly once in all; devkafka then stops cleanly on
// SIGINT.
// batchIntervals are the batch intervals the Kafka and socket sources are
// run at: the acceptance criteria's, and millisecond batches.
var batchIntervals = []string{"500ms", "10ms"}

// cliArgsAt is cliArgs with another batch interval.
func cliArgsAt(batch string) []string { return []string{"-batch", batch, "-duration", "5s"} }

func TestCLIKafkaSource(t *testing.T) {
	for _, batch := range batchIntervals {
		t.Run(batch, func(t *testing.T) { cliKafkaSource(t, batch) })
	}
}

func cliKafkaSource(t *testing.T, batch string) {
	wordcount, devkafka := buildBinaries(t)
	broker := start(t, devkafka, "-addr", "127.0.0.1:0", "-topics", "words:4")
	m := broker.WaitFor(t, broker.Stdout, regexp.MustCompile(`devkafka: Kafka protocol broker listening on (\S+);`), 10*time.Second)
	addr := m[1]

	out := filepath.Join(t.TempDir(), "counts")
	p := start(t, wordcount, append([]string{"-source", "kafka", "-brokers", addr, "-topic", "words", "-group", "cli-test", "-out", out}, cliArgsAt(batch)...)...)
	began := time.Now()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("words"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	want := make(map[string]int)
	const calls, perCall = 10, 200
	for i := range calls {
		recs := make([]*kgo.Record, perCall)
		for j := range recs {
			line := genLine(rng)
			countWords(want, line)
			// Keys spread the records over the 4 partitions.
			recs[j] = &kgo.Record{Key: []byte(strconv.Itoa(i*perCall + j)), Value: []byte(line)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cl.ProduceSync(ctx, recs...).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("producing: %v", err)
		}
		if i < calls-1 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if d := time.Since(began); d > sendPeriod+time.Second {
		t.Logf("warning: producing took %v", d)
	}

	p.Wait(t, exitTimeout)
	got, batches := savedCounts(t, out)
	t.Logf("%d batches saved, %d distinct words, %d records", batches, len(got), calls*perCall)
	compareCounts(t, got, want)
	checkProgress(t, p.Stderr.String(), calls*perCall)

	if err := broker.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	broker.Wait(t, 10*time.Second)
	if !strings.Contains(broker.Stdout.String(), "devkafka: stopping") {
		t.Errorf("devkafka did not say it was stopping:\n%s", broker.Stdout.String())
	}
}

// The socket source: lines written to the connection the job opens are
// counted exactly once in all, at 500 ms and at 10 ms batches.
func TestCLISocketSource(t *testing.T) {
	for _, batch := range batchIntervals {
		t.Run(batch, func(t *testing.T) { cliSocketSource(t, batch) })
	}
}

func cliSocketSource(t *testing.T, batch string) {
	wordcount, _ := buildBinaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	out := filepath.Join(t.TempDir(), "counts")
	p := start(t, wordcount, append([]string{"-source", "socket", "-addr", ln.Addr().String(), "-out", out}, cliArgsAt(batch)...)...)
	began := time.Now()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatalf("wordcount did not connect\nstderr:\n%s", p.Stderr.String())
	}
	if conn == nil {
		t.Fatal("accept failed")
	}
	// Kept open until the job has stopped: closing it would only make the
	// receiver report an error and reconnect.
	defer conn.Close()

	rng := rand.New(rand.NewPCG(5, 6))
	want := make(map[string]int)
	lines := 0
	const writes = 10
	for i := range writes {
		text := genText(rng, 50+rng.IntN(150), i%2 == 1)
		countWords(want, text)
		lines += countLines(text)
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(text)); err != nil {
			t.Fatalf("writing to the connection: %v", err)
		}
		if i < writes-1 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if d := time.Since(began); d > sendPeriod+time.Second {
		t.Logf("warning: writing took %v", d)
	}

	p.Wait(t, exitTimeout)
	got, batches := savedCounts(t, out)
	t.Logf("%d batches saved, %d distinct words, %d lines", batches, len(got), lines)
	compareCounts(t, got, want)
	checkProgress(t, p.Stderr.String(), lines)
}
