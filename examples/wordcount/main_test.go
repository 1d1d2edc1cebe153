package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The demo job runs, prints Spark-format batches of the most frequent
// words, reports progress per batch and saves each batch's counts, then
// stops gracefully after -duration.
func TestDemoRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "counts")
	var stdout, stderr bytes.Buffer
	args := []string{"-batch", "200ms", "-duration", "1100ms", "-rate", "2000", "-top", "3", "-out", out}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	header := regexp.MustCompile(`(?m)^-{43}\nTime: \d+ ms\n-{43}\n`)
	if n := len(header.FindAllString(stdout.String(), -1)); n < 3 {
		t.Fatalf("printed %d batches, want at least 3:\n%s", n, stdout.String())
	}
	if !strings.Contains(stdout.String(), "(the,") {
		t.Fatalf("the most frequent word is missing:\n%s", stdout.String())
	}
	progress := regexp.MustCompile(`(?m)^batch \S+ records=\d+ rate=\d+/s scheduling=\S+ processing=\S+ total=\S+ ok$`)
	if n := len(progress.FindAllString(stderr.String(), -1)); n < 3 {
		t.Fatalf("%d progress lines, want at least 3:\n%s", n, stderr.String())
	}
	dirs, _ := filepath.Glob(out + "-*")
	if len(dirs) < 3 {
		t.Fatalf("saved %d batch directories, want at least 3", len(dirs))
	}
	parts, _ := filepath.Glob(filepath.Join(dirs[1], "part-*"))
	var saved []byte
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		saved = append(saved, b...)
	}
	if !regexp.MustCompile(`(?m)^the\t\d+$`).Match(saved) {
		t.Fatalf("saved counts lack a \"the<TAB>n\" line:\n%.300s", saved)
	}
}

// Bad flags are an error, not a crash.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string // in the error; "" checks only that there is one
	}{
		{[]string{"-batch", "0s"}, ""},
		{[]string{"-rate", "0"}, "-rate"},
		{[]string{"-top", "-1"}, "-top"},
		{[]string{"-window", "1500ms"}, ""},
		{[]string{"-nope"}, "-nope"},
		{[]string{"-source", "nope"}, `-source "nope"`},
		{[]string{"-source", ""}, `-source ""`},
		{[]string{"-source", "file"}, "-source file needs -dir"},
		{[]string{"-source", "file", "-dir", ""}, "-source file needs -dir"},
		{[]string{"-source", "socket", "-out-topic", "counts"}, "-out-topic needs -source kafka or demo"},
		{[]string{"-source", "socket", "-exactly-once"}, "-exactly-once needs -source kafka or demo"},
		{[]string{"-source", "kafka", "-exactly-once", "-checkpoint", dir}, "drop -checkpoint"},
		{[]string{"-exactly-once", "-out", dir}, "use -out-topic instead of -out"},
		{[]string{"-exactly-once", "-window", "10s", "-slide", "3s"}, "-window 10s is not a multiple of -slide 3s"},
		{[]string{"-exactly-once", "-window", "-1s"}, "must not be negative"},
		{[]string{"-slide", "-1s"}, "must not be negative"},
		{[]string{"-exactly-once", "-window-retention", "-1s"}, "-window-retention must not be negative"},
		{[]string{"-totals-topic", "t"}, "-totals-topic and -window-topic need -exactly-once"},
		{[]string{"-exactly-once", "-session-timeout", "10ms"}, "-session-timeout 10ms"},
		{[]string{"extra"}, "unexpected arguments [extra]"},
		{[]string{"-source", "file", "-dir", dir, "extra", "args"}, "unexpected arguments [extra args]"},
		{[]string{"-batch", "200ms", "--", "-duration", "1s"}, "unexpected arguments"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		switch {
		case err == nil:
			t.Errorf("run(%q) succeeded, want an error", tc.args)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
