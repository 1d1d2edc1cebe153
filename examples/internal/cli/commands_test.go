package cli_test

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

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
				cmd := exec.Command(bin, tc.args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				status := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					status = ee.ExitCode()
				} else if err != nil {
					t.Fatalf("%s %q: %v", c.name, tc.args, err)
				}
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
