package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Output is a command's standard error in the format its -log-format and
// -log-level flags chose (Parse sets them): its loggers (Logger) write
// slog text or JSON records, and in JSON mode every other line written to
// it (a progress line, a message of a library that prints) becomes a JSON
// record too, {"time":...,"level":"INFO","msg":"<the line>"}, so that
// every line on standard error parses as JSON. Main hands an Output to
// the command as its stderr. It is safe for concurrent use.
type Output struct {
	mu      sync.Mutex
	w       io.Writer
	json    bool
	level   slog.LevelVar
	partial []byte // JSON mode: the start of a line not ended yet
}

// NewOutput returns an Output writing to w, in text mode at INFO.
func NewOutput(w io.Writer) *Output { return &Output{w: w} }

// JSON reports whether the output is in JSON mode.
func (o *Output) JSON() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.json
}

// Write writes p: as it is in text mode; in JSON mode, line by line, a
// line that is not a JSON object wrapped in a JSON record.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.json {
		return o.w.Write(p)
	}
	n := len(p)
	data := append(o.partial, p...)
	o.partial = nil
	var out []byte
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		out = appendRecord(out, data[:i])
		data = data[i+1:]
	}
	o.partial = append([]byte(nil), data...)
	if len(out) == 0 {
		return n, nil
	}
	if _, err := o.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}

// appendRecord appends line as a JSON record: as it is when it is one
// already, else wrapped.
func appendRecord(out, line []byte) []byte {
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return out
	}
	if line[0] == '{' && json.Valid(line) {
		return append(append(out, line...), '\n')
	}
	now := time.Now().Format(time.RFC3339Nano)
	if rec, ok := progressRecord(now, string(line)); ok {
		return append(append(out, rec...), '\n')
	}
	rec, _ := json.Marshal(struct {
		Time  string `json:"time"`
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}{now, "INFO", string(line)})
	return append(append(out, rec...), '\n')
}

// progressRecord turns a progress line of the examples,
//
//	batch 10:58:30.000 records=120 events=118 processing=412ms ok
//
// into a record with msg "batch", the batch time as batch_time, each
// key=value as a field (a number when it is an integer) and the rest of
// the line (ok, degraded: ..., FAILED: ...) as status. ok is false for
// any other line.
func progressRecord(now, line string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(line, "batch ")
	if !ok {
		return nil, false
	}
	at, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return nil, false
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"time":%q,"level":"INFO","msg":"batch","batch_time":%q`, now, at)
	fields := 0
	for rest != "" {
		tok, after, _ := strings.Cut(rest, " ")
		k, v, isKV := strings.Cut(tok, "=")
		if !isKV || k == "" || !validKey(k) {
			break
		}
		key, _ := json.Marshal(k)
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			fmt.Fprintf(&b, ",%s:%s", key, v)
		} else {
			val, _ := json.Marshal(v)
			fmt.Fprintf(&b, ",%s:%s", key, val)
		}
		fields++
		rest = after
	}
	if fields == 0 {
		return nil, false
	}
	status, _ := json.Marshal(rest)
	fmt.Fprintf(&b, ",\"status\":%s}", status)
	return b.Bytes(), true
}

// validKey reports whether k is a progress field's name: letters, digits
// and underscores, not a reserved key of the record.
func validKey(k string) bool {
	switch k {
	case "time", "level", "msg", "batch_time", "status":
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Flush writes a line not ended yet.
func (o *Output) Flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json && len(o.partial) > 0 {
		_, _ = o.w.Write(appendRecord(nil, o.partial))
		o.partial = nil
	}
}

// Logger returns a logger writing to the output in its format, at its
// level.
func (o *Output) Logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: &o.level}
	if o.JSON() {
		return slog.New(slog.NewJSONHandler(o, opts))
	}
	return slog.New(slog.NewTextHandler(o, opts))
}

// Logger returns the logger of a command's stderr: the Output's when it
// is one (under Main), else a text logger writing to w (tests that call
// run directly).
func Logger(w io.Writer) *slog.Logger {
	if o, ok := w.(*Output); ok {
		return o.Logger()
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// logFlags are the flags Parse adds for the output.
type logFlags struct {
	format, level string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "text", "the format of the log on standard error: text (slog's key=value lines) or json (one JSON object per line, progress lines included)")
	fs.StringVar(&l.level, "log-level", "info", "the least level logged: debug, info, warn or error")
}

// apply checks the flags' values and sets them on w when it is an Output.
func (l *logFlags) apply(w io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return fmt.Errorf("-log-level %q: want debug, info, warn or error", l.level)
	}
	var isJSON bool
	switch strings.ToLower(l.format) {
	case "text":
	case "json":
		isJSON = true
	default:
		return fmt.Errorf("-log-format %q: want text or json", l.format)
	}
	if o, ok := w.(*Output); ok {
		o.mu.Lock()
		o.json = isJSON
		o.mu.Unlock()
		o.level.Set(level)
	}
	return nil
}

// printLine prints a line of the frame's own (an error, a signal) to w: a
// plain line in text mode, a record at level in JSON mode.
func printLine(w io.Writer, level slog.Level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if o, ok := w.(*Output); ok && o.JSON() {
		o.Logger().Log(context.Background(), level, msg)
		return
	}
	fmt.Fprintln(w, msg)
}
