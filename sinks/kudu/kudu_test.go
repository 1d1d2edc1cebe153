package kudusink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kudu"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// Event is a row of the IoT manager's Kudu table.
type Event struct {
	Source   string    `kudu:"source,key"`
	TS       time.Time `kudu:"ts,key"`
	MetricID int64     `kudu:"metric_id,key"`
	Value    float64   `kudu:"value"`
	Tag      *string   `kudu:"tag"`
	Ignored  string    `kudu:"-"`
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// job is a context on a manual clock with a queue written to Kudu.
type job struct {
	t   testing.TB
	ssc *dstream.Context
	clk *dstream.ManualClock
	q   *dstream.Queue[Event]
}

func newJob(t *testing.T, masters []string, table string, opts ...kudusink.Option) *job {
	return newJobB(t, masters, table, opts...)
}

func newJobB(t testing.TB, masters []string, table string, opts ...kudusink.Option) *job {
	t.Helper()
	return startJob(t, nil, func(s *dstream.Stream[Event]) error { return kudusink.Write(s, masters, table, opts...) })
}

// newJobDead is newJob with the rejected records handed to dead.
func newJobDead(t *testing.T, masters []string, table string, m kudusink.Mapping[Event], dead func(Event, error), opts ...kudusink.Option) *job {
	t.Helper()
	return startJob(t, nil, func(s *dstream.Stream[Event]) error {
		sink, err := kudusink.New(masters, table, m, opts...)
		if err != nil {
			return err
		}
		if err := s.WriteTo(sink, dstream.WriteSpec[Event]{DeadLetter: dead}); err != nil {
			return err
		}
		return nil
	})
}

// startJob starts a context on a manual clock, with the context options
// ctxOpts besides the test's, whose queue stream register writes out.
func startJob(t testing.TB, ctxOpts []dstream.Option, register func(*dstream.Stream[Event]) error) *job {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second,
		append([]dstream.Option{dstream.WithClock(clk), dstream.WithLogger(quiet), dstream.WithParallelism(2)}, ctxOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	q := dstream.NewQueue[Event]()
	if err := register(dstream.QueueStream(ssc, q)); err != nil {
		t.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	return &job{t: t, ssc: ssc, clk: clk, q: q}
}

// batch runs one batch of events, split into the context's parallelism
// of partitions, and returns its error.
func (j *job) batch(events []Event) error {
	j.q.Push(events)
	return j.step()
}

// batchOf runs one batch of the partitions parts and returns its error.
func (j *job) batchOf(parts ...[]Event) error {
	j.q.PushPartitions(parts)
	return j.step()
}

// step runs the next batch and returns its error.
func (j *job) step() error {
	j.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := j.ssc.WaitForBatch(ctx, j.clk.Now()); err != nil {
		if aerr := j.ssc.AwaitTermination(ctx); aerr != nil {
			return aerr
		}
		return err
	}
	return nil
}

var t0 = time.UnixMicro(1_700_000_000_000_000).UTC()

func events(from, n int) []Event {
	var out []Event
	for i := from; i < from+n; i++ {
		e := Event{Source: fmt.Sprintf("sensor-%d", i%13), TS: t0.Add(time.Duration(i) * time.Millisecond), MetricID: int64(i % 4), Value: float64(i)}
		if i%3 == 0 {
			tag := fmt.Sprintf("t%d", i)
			e.Tag = &tag
		}
		out = append(out, e)
	}
	return out
}

func key(source string, ts time.Time, metric int64) string {
	return fmt.Sprintf("%s|%d|%d", source, ts.UnixMicro(), metric)
}

// stored returns the table's rows by key.
func stored(t *testing.T, c *kudutest.Cluster, table string) map[string]kudutest.Row {
	t.Helper()
	out := map[string]kudutest.Row{}
	for _, r := range c.Rows(table) {
		k := key(r["source"].(string), r["ts"].(time.Time), r["metric_id"].(int64))
		if _, dup := out[k]; dup {
			t.Fatalf("row %s stored twice", k)
		}
		out[k] = r
	}
	return out
}

func checkStored(t *testing.T, c *kudutest.Cluster, table string, want []Event) {
	t.Helper()
	got := stored(t, c, table)
	if len(got) != len(want) {
		t.Errorf("%d rows stored, want %d", len(got), len(want))
	}
	for _, e := range want {
		r, ok := got[key(e.Source, e.TS, e.MetricID)]
		if !ok {
			t.Errorf("row %v missing", e)
			continue
		}
		if r["value"] != e.Value {
			t.Errorf("row %v: value %v", e, r["value"])
		}
		switch {
		case e.Tag == nil && r["tag"] != nil, e.Tag != nil && r["tag"] != *e.Tag:
			t.Errorf("row %v: tag %v", e, r["tag"])
		}
		// The tablet that holds the key by the server's own routing.
		ti, err := c.TabletOf(table, e.Source, e.TS, e.MetricID)
		if err != nil || ti.Rows == 0 {
			t.Errorf("row %v: tablet %v (%v) holds no rows", e, ti.ID, err)
		}
	}
}

func TestSinkCreatesTableAndUpserts(t *testing.T) {
	c := kudutest.New(t, kudutest.WithTabletServers(3))
	j := newJob(t, c.MasterAddrs(), "events", kudusink.CreateIfMissing(kudusink.Hash(8, "source")))
	b1, b2 := events(0, 300), events(300, 200)
	if err := j.batch(b1); err != nil {
		t.Fatal(err)
	}
	if err := j.batch(b2); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Tablets("events")); n != 8 {
		t.Errorf("%d tablets, want 8 hash buckets", n)
	}
	spread := map[int]bool{}
	for _, ti := range c.Tablets("events") {
		if ti.Rows > 0 {
			spread[ti.Leader] = true
		}
	}
	if len(spread) < 2 {
		t.Errorf("rows landed on %d tablet servers, want the table spread over several", len(spread))
	}
	// A batch run again (after a failure) leaves no duplicates.
	if err := j.batch(b2); err != nil {
		t.Fatal(err)
	}
	checkStored(t, c, "events", append(b1, b2...))
}

func TestSinkSurvivesFaults(t *testing.T) {
	c := kudutest.New(t, kudutest.WithMasters(3), kudutest.WithLeaderMaster(1), kudutest.WithTabletServers(3))
	j := newJob(t, c.MasterAddrs(), "events", kudusink.CreateIfMissing(kudusink.Hash(4, "source")))
	var all []Event
	run := func(from, n int, fault string) {
		t.Helper()
		b := events(from, n)
		all = append(all, b...)
		if err := j.batch(b); err != nil {
			t.Fatalf("batch after %s: %v", fault, err)
		}
	}
	run(0, 100, "nothing")
	c.InjectNotTheLeader("any", 3)
	run(100, 100, "NOT_THE_LEADER")
	c.InjectTabletNotFound("any", 2)
	run(200, 100, "TABLET_NOT_FOUND")
	tablets := c.Tablets("events")
	if err := c.MoveLeader(tablets[0].ID, (tablets[0].Leader+1)%3); err != nil {
		t.Fatal(err)
	}
	run(300, 100, "a leader change")
	c.DropConnections()
	run(400, 100, "dropped connections")
	c.InjectServerTooBusy("Write", 3)
	run(500, 100, "busy servers")
	c.SetLeaderMaster(2)
	run(600, 100, "a master leader change")
	checkStored(t, c, "events", all)
}

// A malformed value (a string over the cell limit, a null key) and a row
// the server rejects go to the dead letter; the rest of the batch lands,
// and the job goes on with the next batch.
func TestSinkRejectedRowsGoToDeadLetter(t *testing.T) {
	c := kudutest.New(t)
	var mu sync.Mutex
	var dead []string
	j := newJobDead(t, c.MasterAddrs(), "events", kudusink.StructTags[Event](), func(e Event, err error) {
		mu.Lock()
		dead = append(dead, fmt.Sprintf("%s: %v", e.Source, err))
		mu.Unlock()
	}, kudusink.CreateIfMissing(kudusink.Hash(4, "source")))
	b := events(0, 50)
	long := strings.Repeat("x", 70<<10)
	b[10].Tag = &long                          // over Kudu's 64 KiB cell limit
	b[20].Source = strings.Repeat("k", 70<<10) // an over-long key
	c.InjectRowError(func(op kudutest.RowOp) bool {
		return len(op.Key) > 0 && op.Key[0] == "sensor-4" && op.Row["value"] == 30.0
	},
		kudutest.StatusCode(4) /* INVALID_ARGUMENT */, "injected row error", 1)
	if err := j.batch(b); err != nil {
		t.Fatalf("the batch failed instead of setting rows aside: %v", err)
	}
	deadLetters := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(dead)
	}
	if d := deadLetters(); len(d) != 3 {
		t.Fatalf("dead letters %q, want 3", d)
	}
	want := append(append(append([]Event{}, b[:10]...), b[11:20]...), b[21:30]...)
	want = append(want, b[31:]...)
	checkStored(t, c, "events", want)
	next := events(50, 20)
	if err := j.batch(next); err != nil {
		t.Fatalf("the batch after the dead letters: %v", err)
	}
	checkStored(t, c, "events", append(want, next...))
	if d := deadLetters(); len(d) != 3 {
		t.Fatalf("dead letters %q after a batch without bad rows, want the 3 of the first", d)
	}
}

// Without a DeadLetter function, a rejected row goes to the context's
// dead-letter handler, by default a WARN line naming the sink and the
// reason (it used to fail the batch); the other rows land and the batch
// succeeds.
func TestSinkRejectedRowWithoutDeadLetterIsLogged(t *testing.T) {
	c := kudutest.New(t)
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	j := startJob(t, []dstream.Option{dstream.WithLogger(logger)}, func(s *dstream.Stream[Event]) error {
		return kudusink.Write(s, c.MasterAddrs(), "events", kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
	})
	b := events(0, 5)
	long := strings.Repeat("x", 70<<10)
	b[2].Tag = &long
	if err := j.batch(b); err != nil {
		t.Fatalf("the batch failed instead of rejecting the row: %v", err)
	}
	checkStored(t, c, "events", append(b[:2:2], b[3:]...))
	log := logBuf.String()
	want := `level=WARN msg="dstream: record rejected by output" output="kudu events@` + strings.Join(c.MasterAddrs(), ",") + `" stream=queueStream#1 batch_ms=1000 partition=1 reason="kudu: invalid row: column \"tag\" value of 71680 bytes exceeds the cell size limit`
	if n := strings.Count(log, "record rejected"); n != 1 || !strings.Contains(log, want) {
		t.Errorf("want one line %s; log:\n%s", want, log)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// outputListener adapts a function to dstream.OutputOperationCompletedListener.
type outputListener func(dstream.OutputOperationInfo)

func (f outputListener) OnOutputOperationCompleted(o dstream.OutputOperationInfo) { f(o) }

// The rejected rows of a batch are counted in its
// OutputOperationInfo.Rejected and reach the context's dead-letter
// handler with the record, its partition and the reason.
func TestSinkRejectedCounted(t *testing.T) {
	c := kudutest.New(t)
	var mu sync.Mutex
	var rejected []int64
	var letters []dstream.DeadLetter
	handler := dstream.WithDeadLetterHandler(func(d dstream.DeadLetter) { mu.Lock(); letters = append(letters, d); mu.Unlock() })
	j := startJob(t, []dstream.Option{handler}, func(s *dstream.Stream[Event]) error {
		s.Context().AddListener(outputListener(func(o dstream.OutputOperationInfo) {
			mu.Lock()
			rejected = append(rejected, o.Rejected)
			mu.Unlock()
		}))
		return kudusink.Write(s, c.MasterAddrs(), "events", kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
	})
	b := events(0, 20) // two partitions of 10
	long := strings.Repeat("x", 70<<10)
	b[3].Tag, b[12].Tag = &long, &long
	if err := j.batch(b); err != nil {
		t.Fatal(err)
	}
	next := events(20, 10)
	if err := j.batch(next); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(rejected, []int64{2, 0}) {
		t.Errorf("Rejected per batch = %v, want [2 0]", rejected)
	}
	slices.SortFunc(letters, func(a, b dstream.DeadLetter) int { return a.Partition - b.Partition })
	name := "kudu events@" + strings.Join(c.MasterAddrs(), ",")
	if len(letters) != 2 {
		t.Fatalf("dead letters %+v, want 2", letters)
	}
	for i, want := range []struct {
		e    Event
		part int
	}{{b[3], 0}, {b[12], 1}} {
		d := letters[i]
		e, ok := d.Record.(Event)
		if !ok || key(e.Source, e.TS, e.MetricID) != key(want.e.Source, want.e.TS, want.e.MetricID) || d.Partition != want.part ||
			d.Output != name || d.BatchTime.UnixMilli() != 1000 || !errors.Is(d.Err, kudu.ErrInvalidRow) {
			t.Errorf("dead letter %d = %+v, want record %v of partition %d of %s, an invalid row", i, d, want.e, want.part, name)
		}
	}
	want := append(append(append([]Event{}, b[:3]...), b[4:12]...), b[13:]...)
	checkStored(t, c, "events", append(want, next...))
}

// A partition larger than a chunk (MaxBatchBytes) is applied chunk after
// chunk, and each row rejected in a later chunk is handed back with its
// own record.
func TestSinkChunks(t *testing.T) {
	c := kudutest.New(t)
	var mu sync.Mutex
	var dead []string
	j := newJobDead(t, c.MasterAddrs(), "events", kudusink.StructTags[Event](), func(e Event, err error) {
		mu.Lock()
		dead = append(dead, key(e.Source, e.TS, e.MetricID))
		mu.Unlock()
	}, kudusink.CreateIfMissing(kudusink.Hash(2, "source")), kudusink.MaxBatchBytes(4<<10))
	b := events(0, 600)
	long := strings.Repeat("x", 70<<10)
	b[5].Tag, b[450].Tag, b[599].Tag = &long, &long, &long
	before := c.Stats().Calls["Write"]
	if err := j.batchOf(b); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().Calls["Write"] - before; n < 10 {
		t.Errorf("%d Write calls for about 36 KB of rows in 4 KiB chunks, want at least 10", n)
	}
	mu.Lock()
	got := slices.Clone(dead)
	mu.Unlock()
	slices.Sort(got)
	wantDead := []string{key(b[5].Source, b[5].TS, b[5].MetricID), key(b[450].Source, b[450].TS, b[450].MetricID), key(b[599].Source, b[599].TS, b[599].MetricID)}
	slices.Sort(wantDead)
	if !slices.Equal(got, wantDead) {
		t.Errorf("dead letters %q, want %q", got, wantDead)
	}
	want := append(append(append([]Event{}, b[:5]...), b[6:450]...), b[451:599]...)
	checkStored(t, c, "events", want)
}

func TestSinkOptions(t *testing.T) {
	masters := []string{"127.0.0.1:1"}
	cols := func(Event) (map[string]any, error) { return nil, nil }
	for _, tc := range []struct {
		name  string
		write func(ssc *dstream.Context) error
		want  string
	}{
		{"bad buckets", func(ssc *dstream.Context) error {
			return kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), masters, "t", kudusink.CreateIfMissing(kudusink.Hash(1, "source")))
		}, "buckets"},
		{"bad batch bytes", func(ssc *dstream.Context) error {
			return kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), masters, "t", kudusink.MaxBatchBytes(60<<20))
		}, "MaxBatchBytes"},
		{"no table", func(ssc *dstream.Context) error {
			return kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), masters, "")
		}, "give the masters and the table"},
		{"nil MapColumns", func(ssc *dstream.Context) error {
			return kudusink.WriteMapped(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), masters, "t", kudusink.MapColumns[Event](nil))
		}, "MapColumns: nil function"},
		{"CreateIfMissing with MapColumns", func(ssc *dstream.Context) error {
			return kudusink.WriteMapped(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), masters, "t", kudusink.MapColumns(cols),
				kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
		}, "CreateIfMissing needs the columns of struct tags"},
		{"struct tags of a string", func(ssc *dstream.Context) error {
			return kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[string]()), masters, "t")
		}, "string is not a struct: give a MapColumns function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.write(ssc)
			var be *dstream.BuildError
			if !errors.Is(err, dstream.ErrInvalidOption) || !errors.As(err, &be) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write = %v, want a BuildError wrapping ErrInvalidOption mentioning %q", err, tc.want)
			}
		})
	}
}

// A callback typed by another record type than the stream's does not
// compile: the MapColumns function (given to WriteMapped or New) and the
// dead-letter function, which used to be options checked at Write.
func TestWrongTypesDoNotCompile(t *testing.T) {
	testtool.MustNotCompile(t, "testdata/wrongtype", "string")
}

// TestRealCluster runs the upsert test against a real Kudu cluster when
// KUDU_MASTERS (host:port,...) is set; the table KUDU_TEST_TABLE (default
// microbatch_sink_test) is created if missing.
func TestRealCluster(t *testing.T) {
	masters := os.Getenv("KUDU_MASTERS")
	if masters == "" {
		t.Skip("KUDU_MASTERS is not set: set it to the masters' host:port list to run the sink against a real Kudu cluster")
	}
	table := os.Getenv("KUDU_TEST_TABLE")
	if table == "" {
		table = "microbatch_sink_test"
	}
	j := newJob(t, strings.Split(masters, ","), table, kudusink.CreateIfMissing(kudusink.Hash(4, "source")))
	b := events(int(time.Now().UnixMilli()%1_000_000), 200)
	if err := j.batch(b); err != nil {
		t.Fatal(err)
	}
	if err := j.batch(b); err != nil { // replay: idempotent
		t.Fatal(err)
	}
}

// A null in a key column, given by a MapColumns function, is reported for
// that row; the rest land.
func TestSinkNullKeyGoesToDeadLetter(t *testing.T) {
	c := kudutest.New(t)
	var mu sync.Mutex
	var dead []error
	j := newJob(t, c.MasterAddrs(), "events", kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
	if err := j.batch(events(0, 1)); err != nil { // creates the table
		t.Fatal(err)
	}
	j2 := newJobColumns(t, c.MasterAddrs(), func(e Event) (map[string]any, error) {
		m := map[string]any{"source": e.Source, "ts": e.TS, "metric_id": e.MetricID, "value": e.Value}
		if e.MetricID == 2 {
			m["source"] = nil
		}
		return m, nil
	}, func(e Event, err error) {
		mu.Lock()
		dead = append(dead, err)
		mu.Unlock()
	}, j)
	b := events(100, 8) // metric ids 0..3, twice
	if err := j2.batch(b); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 2 {
		t.Fatalf("dead letters %v, want the 2 rows with a null key", dead)
	}
	if n := len(c.Rows("events")); n != 1+6 {
		t.Errorf("%d rows, want 7", n)
	}
}

// newJobColumns replaces job j's context with one whose sink maps rows
// with a MapColumns function.
func newJobColumns(t *testing.T, masters []string, cols func(Event) (map[string]any, error), dead func(Event, error), j *job) *job {
	t.Helper()
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	q := dstream.NewQueue[Event]()
	s := dstream.QueueStream(ssc, q)
	sink, err := kudusink.New(masters, "events", kudusink.MapColumns(cols))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo(sink, dstream.WriteSpec[Event]{DeadLetter: dead}); err != nil {
		t.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	return &job{t: t, ssc: ssc, clk: clk, q: q}
}

// Masters that do not answer, or a table that does not exist (without
// CreateIfMissing), fail Start, naming them once.
func TestSinkStartCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c := kudutest.New(t, kudutest.WithTabletServers(1))
	for _, tc := range []struct {
		name    string
		masters []string
		table   string
		want    string
	}{
		// The last dial error follows when one came within the second
		// (on a loaded machine none may have).
		{"masters down", []string{dead}, "events", "kudu masters " + dead + ": no answer within 1s"},
		{"no such table", c.MasterAddrs(), "missing", "kudu masters " + strings.Join(c.MasterAddrs(), ",") + ": table missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := dstream.NewManualClock(time.UnixMilli(0))
			ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet),
				dstream.WithStartTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
			if err := kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), tc.masters, tc.table); err != nil {
				t.Fatal(err)
			}
			err = ssc.Start()
			var se *dstream.StartError
			rest, ok := strings.CutPrefix(fmt.Sprint(err), tc.want)
			if !errors.As(err, &se) || !ok || (rest != "" && !strings.HasPrefix(rest, ": ")) || strings.Contains(err.Error(), "dial "+dead+": dial") {
				t.Fatalf("Start = %v; want a *StartError starting %q", err, tc.want)
			}
		})
	}
}

// TestSinkErrorsNameKuduOnce checks that the sink's errors, which quote
// the client's, name "kudu:" once: a batch's error, and the reason of a
// rejected row (which used to fail the batch).
func TestSinkErrorsNameKuduOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) error // the batch error, or the rejection's reason
		want string
	}{
		{"a row rejected by the client", func(t *testing.T) error {
			c := kudutest.New(t)
			var reasons []error
			var mu sync.Mutex
			j := newJobDead(t, c.MasterAddrs(), "events", kudusink.StructTags[Event](), func(_ Event, err error) {
				mu.Lock()
				reasons = append(reasons, err)
				mu.Unlock()
			}, kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
			b := events(0, 5)
			long := strings.Repeat("x", 70<<10)
			b[2].Tag = &long
			if err := j.batch(b); err != nil {
				t.Fatalf("the batch failed instead of rejecting the row: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reasons) != 1 {
				t.Fatalf("%d rows rejected, want 1: %v", len(reasons), reasons)
			}
			return reasons[0]
		}, `kudu: invalid row: column "tag" value of 71680 bytes exceeds the cell size limit`},
		{"the cluster gone", func(t *testing.T) error {
			c := kudutest.New(t)
			j := newJob(t, c.MasterAddrs(), "events", kudusink.CreateIfMissing(kudusink.Hash(2, "source")),
				kudusink.Timeout(300*time.Millisecond))
			b := events(0, 5)
			for i := range b {
				b[i].Source = "sensor-0" // one tablet, one error
			}
			if err := j.batch(b[:1]); err != nil {
				t.Fatal(err)
			}
			c.Close()
			return j.batchOf(b) // one partition, written in one chunk
		}, "kudu: writing 5 rows to events: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if n := strings.Count(msg, "kudu:"); n != 1 || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q names kudu: %d times; want once, in %q", msg, n, tc.want)
			}
		})
	}
}

// A table that lacks a column of the struct tags fails the start-up check
// (and would fail the batch) instead of rejecting every row.
func TestSinkTableLacksColumn(t *testing.T) {
	c := kudutest.New(t)
	type narrow struct {
		Source string `kudu:"source,key"`
		Value  float64
	}
	start := func(register func(ssc *dstream.Context) error) error {
		ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		defer ssc.Stop(context.Background(), dstream.Hard)
		if err := register(ssc); err != nil {
			t.Fatal(err)
		}
		return ssc.Start()
	}
	// The start-up check creates the table with the columns of narrow.
	if err := start(func(ssc *dstream.Context) error {
		return kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[narrow]()), c.MasterAddrs(), "events",
			kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
	}); err != nil {
		t.Fatal(err)
	}
	err := start(func(ssc *dstream.Context) error {
		return kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), c.MasterAddrs(), "events")
	})
	want := "kudu masters " + strings.Join(c.MasterAddrs(), ",") + `: table events has no column "ts", of the struct tags of kudusink_test.Event`
	var se *dstream.StartError
	if !errors.As(err, &se) || err.Error() != want {
		t.Fatalf("Start = %v; want a *StartError %q", err, want)
	}
}
