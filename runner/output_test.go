package runner

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// In JSON mode every line written to an Output is a JSON record: records
// pass as they are, progress lines get their fields, other lines are the
// msg of a record; a line is written only once it is complete.
func TestOutputJSON(t *testing.T) {
	var buf bytes.Buffer
	o := NewOutput(&buf)
	var logs logFlags
	logs.format, logs.level = "json", "info"
	if err := logs.apply(o); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		write string
		want  map[string]any // without time
	}{
		{`{"time":"t","level":"WARN","msg":"m","k":1}` + "\n", map[string]any{"level": "WARN", "msg": "m", "k": 1.0}},
		{"batch 10:58:30.000 records=120 rate=120/s processing=412ms ok\n", map[string]any{"level": "INFO", "msg": "batch",
			"batch_time": "10:58:30.000", "records": 120.0, "rate": "120/s", "processing": "412ms", "status": "ok"}},
		{"batch 10:58:31.000 records=0 lines=0 processing=0s degraded: kafka brokers b:1: dial tcp: refused\n", map[string]any{"level": "INFO",
			"msg": "batch", "batch_time": "10:58:31.000", "records": 0.0, "lines": 0.0, "processing": "0s",
			"status": "degraded: kafka brokers b:1: dial tcp: refused"}},
		{"batch of words\n", map[string]any{"level": "INFO", "msg": "batch of words"}},
		{"demo: in-process Kafka broker at 127.0.0.1:1\n", map[string]any{"level": "INFO", "msg": "demo: in-process Kafka broker at 127.0.0.1:1"}},
	} {
		buf.Reset()
		half := len(tc.write) / 2
		o.Write([]byte(tc.write[:half]))
		if buf.Len() != 0 {
			t.Fatalf("%q: half a line was written: %q", tc.write, buf.String())
		}
		o.Write([]byte(tc.write[half:]))
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%q: wrote %q: %v", tc.write, buf.String(), err)
		}
		if _, ok := got["time"]; !ok {
			t.Errorf("%q: no time in %q", tc.write, buf.String())
		}
		delete(got, "time")
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %v\nwant %v", tc.write, got, tc.want)
		}
	}
}

// In text mode an Output writes what it is given.
func TestOutputText(t *testing.T) {
	var buf bytes.Buffer
	o := NewOutput(&buf)
	o.Write([]byte("batch 10:58:30.000 records=1 ok\nhalf"))
	if buf.String() != "batch 10:58:30.000 records=1 ok\nhalf" {
		t.Errorf("text mode wrote %q", buf.String())
	}
}

func TestLogFlagsErrors(t *testing.T) {
	for _, tc := range []logFlags{{"xml", "info"}, {"json", "loud"}} {
		if err := tc.apply(io.Discard); err == nil {
			t.Errorf("%+v accepted", tc)
		}
	}
}
