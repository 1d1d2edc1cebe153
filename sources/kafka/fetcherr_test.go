package kafka

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A fetch error that franz-go returns again and again (a deleted topic's,
// thousands of times a second: 11,713 log lines in a second before) is
// logged once while it lasts, again when it changes, and again with the
// count of repeats after fetchErrorLogEvery; each partition on its own.
func TestLogFetchErrorOncePerError(t *testing.T) {
	var buf bytes.Buffer
	d := &DirectStream{log: slog.New(slog.NewTextHandler(&buf, nil))}
	u0, u1 := TopicPartition{"u", 0}, TopicPartition{"u", 1}
	gone, refused := errors.New("UNKNOWN_TOPIC_ID"), errors.New("connection refused")
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if l != "" {
				out = append(out, l[strings.Index(l, "msg="):])
			}
		}
		return out
	}

	for range 1000 {
		d.logFetchError(u0, gone)
	}
	d.logFetchError(u1, gone)
	d.logFetchError(u0, refused)
	d.logFetchError(u0, refused)
	e := d.fetchErrs[u0]
	e.at = e.at.Add(-fetchErrorLogEvery)
	d.fetchErrs[u0] = e
	d.logFetchError(u0, refused)

	want := []string{
		`msg="kafka: fetch error" partition=u-0 error=UNKNOWN_TOPIC_ID`,
		`msg="kafka: fetch error" partition=u-1 error=UNKNOWN_TOPIC_ID`,
		`msg="kafka: fetch error" partition=u-0 error="connection refused" previous_error_repeats=999`,
		`msg="kafka: fetch error" partition=u-0 error="connection refused" repeats_since_last_logged=1`,
	}
	got := lines()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
