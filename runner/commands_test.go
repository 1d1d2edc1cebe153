package runner_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// Every example command, built, follows one convention: -h prints the
// usage and exits 0; -version prints one version line to standard output
// and exits 0; an unknown flag and a bad value exit 2 with exactly one
// line on standard error, naming the flag.
func TestCommandLineConvention(t *testing.T) {
	commands := []struct {
		name     string
		badValue []string // a flag with a value it refuses
	}{
		{"wordcount", []string{"-batch", "soon"}},
		{"devkafka", []string{"-v=maybe"}},
		{"iot-manager", []string{"-kudu-buckets", "many"}},
		{"spot-collector", []string{"-send-timeout", "later"}},
		{"spot-listener", []string{"-batch", "soon"}},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			bin := proctest.Build(t, "./examples/"+c.name)
			for _, tc := range []struct {
				args   []string
				status int
				stdout *regexp.Regexp // nil: empty
				stderr *regexp.Regexp // nil: empty; else one line, unless usage
				usage  bool           // stderr is the usage text
			}{
				{args: []string{"-h"}, status: 0, usage: true,
					stderr: regexp.MustCompile(`^Usage of ` + regexp.QuoteMeta(c.name) + `:\n(.|\n)*-version\n`)},
				{args: []string{"-version"}, status: 0,
					stdout: regexp.MustCompile(`^` + regexp.QuoteMeta(c.name) + ` github.com/microbatch-go/microbatch \S+( revision [0-9a-f]{12}(\+dirty)?( of \S+)?)? go1\.\S+\n$`)},
				{args: []string{"-nope"}, status: 2,
					stderr: regexp.MustCompile(`^` + regexp.QuoteMeta(c.name) + `: flag provided but not defined: -nope \(see ` + regexp.QuoteMeta(c.name) + ` -h\)\n$`)},
				{args: c.badValue, status: 2,
					stderr: regexp.MustCompile(`^` + regexp.QuoteMeta(c.name) + `: invalid (boolean )?value "[a-z]+" for (flag )?-[a-z-]+: .*\(see ` + regexp.QuoteMeta(c.name) + ` -h\)\n$`)},
			} {
				status, stdout, stderr := runCommand(t, bin, tc.args...)
				if status != tc.status {
					t.Errorf("%s %q: exit status %d, want %d\nstderr: %s", c.name, tc.args, status, tc.status, stderr.String())
				}
				check := func(what string, got string, want *regexp.Regexp) {
					switch {
					case want == nil && got != "":
						t.Errorf("%s %q: %s %q, want nothing", c.name, tc.args, what, got)
					case want != nil && !want.MatchString(got):
						t.Errorf("%s %q: %s %q, want %v", c.name, tc.args, what, got, want)
					}
				}
				check("stdout", stdout.String(), tc.stdout)
				check("stderr", stderr.String(), tc.stderr)
				if !tc.usage && strings.Count(stderr.String(), "\n") > 1 {
					t.Errorf("%s %q: %d lines on stderr, want at most one", c.name, tc.args, strings.Count(stderr.String(), "\n"))
				}
			}
		})
	}
}

// With -log-format json, every line every example writes to standard
// error parses as a JSON object with time, level and msg: its logs, its
// progress lines, the lines of the libraries it runs and the frame's own
// (a signal, the final error).
func TestJSONLogs(t *testing.T) {
	devkafka := proctest.Build(t, "./examples/devkafka")
	broker := proctest.Start(t, devkafka, "-addr", "127.0.0.1:0", "-topics", "spot-flow:2", "-log-format", "json", "-v")
	addr := broker.WaitFor(t, broker.Stdout, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`), 20*time.Second)[1]
	dir, watch := t.TempDir(), t.TempDir()
	for _, c := range []struct {
		name   string
		args   []string
		status int
	}{
		{"wordcount", []string{"-duration", "3s", "-rate", "200", "-top", "1"}, 0},
		{"wordcount", []string{"-source", "kafka", "-brokers", "127.0.0.1:1", "-start-timeout", "1s"}, 3},
		{"iot-manager", []string{"-demo", "-duration", "4s", "-rate", "20"}, 0},
		{"spot-listener", []string{"-type", "flow", "-brokers", addr, "-out", filepath.Join(dir, "flow"), "-duration", "3s", "-batch", "500ms"}, 0},
		{"spot-collector", []string{"-type", "flow", "-brokers", addr, "-watch", watch, "-staging", filepath.Join(dir, "staging"), "-once", "-skip-conversion"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := proctest.Build(t, "./examples/"+c.name)
			status, _, stderr := runCommand(t, bin, append([]string{"-log-format", "json"}, c.args...)...)
			if status != c.status {
				t.Errorf("%s %q: exit status %d, want %d\n%s", c.name, c.args, status, c.status, stderr.String())
			}
			checkJSONLines(t, c.name, stderr.String())
		})
	}
	broker.Stop(t, 10*time.Second)
	checkJSONLines(t, "devkafka", broker.Stderr.String())
}

// checkJSONLines fails unless every line of s is a JSON object with time,
// level and msg, and there is at least one; a progress line (msg "batch")
// must have its fields, records a number among them.
func checkJSONLines(t *testing.T, name, s string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("%s wrote nothing to stderr", name)
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("%s: stderr line %d is not JSON (%v): %s", name, i+1, err, l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("%s: stderr line %d has no %q: %s", name, i+1, k, l)
			}
		}
		if rec["msg"] == "batch" {
			if _, ok := rec["records"].(float64); !ok || rec["batch_time"] == nil || rec["status"] == nil {
				t.Errorf("%s: progress record %d lacks records, batch_time or status: %s", name, i+1, l)
			}
		}
	}
	t.Logf("%s: %d JSON lines, e.g. %s", name, len(lines), lines[len(lines)-1])
}

// runCommand runs bin with args to its end and returns its exit status,
// standard output and standard error.
func runCommand(t *testing.T, bin string, args ...string) (status int, stdout, stderr *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return status, stdout, stderr
}
