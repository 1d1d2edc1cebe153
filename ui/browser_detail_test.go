package ui_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/net/html"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/ui"
)

// badOrder is why the warehouse rejects a record.
type badOrder struct{}

func (badOrder) Error() string        { return "order without a customer" }
func (badOrder) RejectReason() string { return "invalid_value" }

// warehouse is an Output of Kafka records that counts what it loads, as
// a warehouse loader would (dstream.StatsReporter): a record and a row per
// order, the values' bytes, a file per batch. It rejects the orders whose
// value starts with "bad", moves the job's manual clock forward while it
// commits (a processing time to show), and refuses the commit once fail
// is set.
type warehouse struct {
	clk  *dstream.ManualClock
	fail atomic.Bool

	mu    sync.Mutex
	stats dstream.OutputStats
}

func (w *warehouse) Open(context.Context) error { return nil }
func (w *warehouse) Close() error               { return nil }

func (w *warehouse) OutputStats() dstream.OutputStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *warehouse) Begin(_ context.Context, b dstream.OutputBatch) (dstream.BatchWriter[kafka.Record], error) {
	return &warehouseBatch{w: w, t: b.Time}, nil
}

type warehouseBatch struct {
	w *warehouse
	t time.Time

	mu      sync.Mutex
	written dstream.OutputStats
}

func (b *warehouseBatch) WritePartition(_ context.Context, p *dstream.Partition[kafka.Record]) error {
	for r := range p.Records() {
		if bytes.HasPrefix(r.Value, []byte("bad")) {
			p.Reject(r, badOrder{})
			continue
		}
		b.mu.Lock()
		b.written.Records++
		b.written.Rows++
		b.written.Bytes += int64(len(r.Value))
		b.mu.Unlock()
	}
	return nil
}

func (b *warehouseBatch) Commit(context.Context) error {
	b.w.clk.Advance(time.Duration(20+b.t.Second()%7) * time.Millisecond)
	if b.w.fail.Load() {
		return errors.New("warehouse: table orders is over its quota (simulated)")
	}
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	if b.written.Records > 0 {
		b.written.Files = 1
	}
	b.w.stats = b.w.stats.Add(b.written)
	return nil
}

func (b *warehouseBatch) Abort(context.Context, error) {}

// TestBrowserBatchDetail runs a job reading a Kafka topic of three
// partitions (kfake) with the direct stream, loads the detail view of a
// batch (#batch=<ms>) in headless Chromium and checks it against the
// engine: the offset ranges per partition are the stream's OffsetRanges
// for that batch, the lag per partition and each output operation's
// duration, written counts and rejected records by reason are those the
// listener received. After an output fails the batch and the job stops,
// the failed batch's detail shows the error. It saves screenshots of
// both detail views as test artifacts.
func TestBrowserBatchDetail(t *testing.T) {
	chromium := testtool.Require(t, "chromium", "Debian package chromium")
	const interval = time.Second
	cluster := kafkatest.New(t, map[string]int32{"orders": 3})

	start := time.Now().Truncate(time.Minute) // today's dates on the page
	clk := dstream.NewManualClock(start)
	srv, err := ui.New(interval, ui.WithLogger(quiet), ui.WithName("orders-loader"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ssc, err := dstream.NewContext(interval, dstream.WithClock(clk), dstream.WithLogger(quiet),
		dstream.WithListener(rec), dstream.WithListener(srv), dstream.WithDeadLetterHandler(func(dstream.DeadLetter) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	ds := kafka.NewDirectStream(ssc,
		kafka.Assign(kafka.TopicPartition{Topic: "orders", Partition: 0}, kafka.TopicPartition{Topic: "orders", Partition: 1},
			kafka.TopicPartition{Topic: "orders", Partition: 2}),
		kafka.Brokers(cluster.Addrs...), kafka.MaxRatePerPartition(6)) // 6 records per partition and batch: some lag

	// The ranges as the stream gives them while the batch runs (they are
	// forgotten once it is done).
	var mu sync.Mutex
	ranges := map[int64][]kafka.OffsetRange{}
	if err := ds.Stream().ForEachBatch(func(_ context.Context, b *dstream.Batch[kafka.Record]) error {
		clk.Advance(time.Duration(3+b.Len()) * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		ranges[b.Time.UnixMilli()] = ds.OffsetRanges(b.Time)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wh := &warehouse{clk: clk}
	if err := ds.Stream().WriteTo(wh, dstream.WriteSpec[kafka.Record]{Name: "orders → warehouse"}); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}

	// produce writes n orders to each partition (the counts of ns), one in
	// five a bad one.
	seq := 0
	produce := func(ns ...int) {
		var recs []*kgo.Record
		for p, n := range ns {
			for range n {
				v := fmt.Sprintf("order-%04d:customer-%d", seq, seq%17)
				if seq%5 == 3 {
					v = fmt.Sprintf("bad-order-%04d", seq)
				}
				seq++
				recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(p), Value: []byte(v)})
			}
		}
		cluster.Produce(recs...)
	}
	n := 0
	step := func() (time.Time, error) {
		n++
		bt := start.Add(time.Duration(n) * interval)
		clk.Set(bt)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard
		defer cancel()
		return bt, ssc.WaitForBatch(ctx, bt)
	}
	produce(10, 4, 0)
	first, err := step()
	if err != nil {
		t.Fatal(err)
	}
	produce(3, 9, 5)
	for range 3 {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}

	// The first batch read 6 + 4 records and left 4 behind on partition 0.
	ms := first.UnixMilli()
	want := recordedBatch(t, rec, ms)
	mu.Lock()
	wantRanges := ranges[ms]
	mu.Unlock()
	if len(wantRanges) != 3 || wantRanges[0].Count() != 6 || wantRanges[1].Count() != 4 || len(want.Inputs) != 1 ||
		len(want.Inputs[0].Lag) != 3 || want.Inputs[0].Lag[0].Records != 4 {
		t.Fatalf("the first batch read %v with lag %+v, want 6 and 4 records of partitions 0 and 1 and a lag of 4", wantRanges, want.Inputs)
	}
	url := web.URL + "/#batch=" + strconv.FormatInt(ms, 10)
	t.Logf("batch detail at %s", url)
	dom := dumpDOM(t, chromium, url)
	page := parsePage(t, dom)
	if page.updates < 2 {
		t.Fatalf("the page polled %d times, want the detail to outlive a refresh", page.updates)
	}
	d := parseDetail(t, dom)
	checkDetail(t, d, want, wantRanges)
	if row := page.completed[ms]; row == nil || !strings.Contains(d.selected, strconv.FormatInt(ms, 10)) {
		t.Errorf("the completed batches table does not mark the batch %d as shown (selected rows: %q)", ms, d.selected)
	}
	if !slices.Contains(d.links, "#batch="+strconv.FormatInt(ms, 10)) || len(d.links) < 4 {
		t.Errorf("the batch rows link to %v, want #batch=<ms> for each, %d among them", d.links, ms)
	}
	dir := artifactDir(t)
	screenshot(t, chromium, url, filepath.Join(dir, "batch-detail.png"))

	// A batch whose output fails stops the job; its detail shows why,
	// and the page stays up.
	wh.fail.Store(true)
	produce(2, 2, 2)
	failedAt, err := step()
	if err == nil || !strings.Contains(err.Error(), "over its quota") {
		t.Fatalf("the batch at %v: %v, want the warehouse's error", failedAt, err)
	}
	if ok, err := ssc.AwaitTerminationOrTimeout(30 * time.Second); !ok || err == nil {
		t.Fatalf("the job did not stop with the failed batch: %v, %v", ok, err)
	}
	ms = failedAt.UnixMilli()
	want = recordedBatch(t, rec, ms)
	if want.Err == nil {
		t.Fatalf("the batch at %d did not fail", ms)
	}
	mu.Lock()
	wantRanges = ranges[ms]
	mu.Unlock()
	url = web.URL + "/#batch=" + strconv.FormatInt(ms, 10)
	dom = dumpDOM(t, chromium, url)
	page = parsePage(t, dom)
	if page.state != "stopped" || !strings.Contains(page.stopError, "over its quota") {
		t.Errorf("after the failure: state %q, stop error %q", page.state, page.stopError)
	}
	d = parseDetail(t, dom)
	checkDetail(t, d, want, wantRanges)
	if d.status != "failed" || d.err != want.Err.Error() {
		t.Errorf("the failed batch's detail: status %q, error %q; want failed, %q", d.status, d.err, want.Err)
	}
	if op := d.ops[1]; op == nil || op.status != "failed" || !strings.Contains(op.err, "warehouse: table orders is over its quota (simulated)") {
		t.Errorf("the failed operation's row: %+v", op)
	}
	screenshot(t, chromium, url, filepath.Join(dir, "batch-detail-failed.png"))
}

// recordedBatch returns the batch at ms that the test's listener received.
func recordedBatch(t *testing.T, rec *recorder, ms int64) dstream.BatchInfo {
	t.Helper()
	for _, b := range rec.batches() {
		if b.BatchTime.UnixMilli() == ms {
			return b
		}
	}
	t.Fatalf("no batch at %d was reported", ms)
	return dstream.BatchInfo{}
}

// checkDetail compares the detail view with the batch the engine
// reported and the direct stream's offset ranges of it.
func checkDetail(t *testing.T, d *detailView, want dstream.BatchInfo, wantRanges []kafka.OffsetRange) {
	t.Helper()
	bt := want.BatchTime.UnixMilli()
	status := "completed"
	if want.Err != nil {
		status = "failed"
	}
	if d.hidden || d.batchTime != bt || d.status != status {
		t.Fatalf("the detail view: hidden %v, batch %d, status %q; want batch %d, %s", d.hidden, d.batchTime, d.status, bt, status)
	}
	if want.Err == nil && d.err != "" {
		t.Errorf("batch %d: the detail shows the error %q", bt, d.err)
	}
	for id, v := range map[string]time.Duration{
		"batch-detail-scheduling-delay": want.SchedulingDelay(),
		"batch-detail-processing-time":  want.ProcessingDelay(),
		"batch-detail-total-delay":      want.TotalDelay(),
	} {
		if f, err := strconv.ParseFloat(d.facts[id], 64); err != nil || !near(f, ms(v)) {
			t.Errorf("batch %d: #%s is %q, want %v bt", bt, id, d.facts[id], ms(v))
		}
	}
	if d.facts["batch-detail-records"] != strconv.FormatInt(want.NumRecords(), 10) {
		t.Errorf("batch %d: records %q, want %d", bt, d.facts["batch-detail-records"], want.NumRecords())
	}

	// The input: its offset ranges are the stream's, exactly, and its lag
	// the engine's.
	if len(d.inputs) != 1 {
		t.Fatalf("batch %d: %d inputs shown, want 1", bt, len(d.inputs))
	}
	in := d.inputs[0]
	wi := want.Inputs[0]
	if in.streamID != strconv.Itoa(wi.StreamID) || in.name != wi.Name {
		t.Errorf("batch %d: input %s (%s), want %s (%d)", bt, in.name, in.streamID, wi.Name, wi.StreamID)
	}
	if len(wantRanges) == 0 {
		t.Fatalf("batch %d: the stream gave no offset ranges", bt)
	}
	if !slices.Equal(in.ranges, wantRanges) {
		t.Errorf("batch %d: the page shows the ranges %v, OffsetRanges gives %v", bt, in.ranges, wantRanges)
	}
	for i, c := range in.counts {
		if i < len(in.ranges) && c != in.ranges[i].Count() {
			t.Errorf("batch %d: range %v counts %d", bt, in.ranges[i], c)
		}
	}
	if !slices.Equal(in.lag, wi.Lag) {
		t.Errorf("batch %d: the page shows the lag %+v, the engine reported %+v", bt, in.lag, wi.Lag)
	}

	// Each output operation: its duration, what it wrote, what it
	// rejected, by reason, as the engine reported.
	if len(d.ops) != len(want.OutputOperations) {
		t.Fatalf("batch %d: %d output operations shown, want %d", bt, len(d.ops), len(want.OutputOperations))
	}
	for _, o := range want.OutputOperations {
		r := d.ops[o.ID]
		if r == nil {
			t.Errorf("batch %d: no row for output operation %d", bt, o.ID)
			continue
		}
		st := "succeeded"
		if o.Err != nil {
			st = "failed"
			if !strings.Contains(r.err, o.Err.Error()) {
				t.Errorf("batch %d: operation %d shows the error %q, want %q", bt, o.ID, r.err, o.Err)
			}
		}
		if r.status != st || r.name != o.Name || r.stream != o.Stream {
			t.Errorf("batch %d: operation %d is %q %q on %q, want %q %q on %q", bt, o.ID, r.status, r.name, r.stream, st, o.Name, o.Stream)
		}
		if f, err := strconv.ParseFloat(r.durationMs, 64); err != nil || !near(f, ms(o.Duration())) || o.Duration() <= 0 {
			t.Errorf("batch %d: operation %d lasted %q bt, the engine reported %v", bt, o.ID, r.durationMs, o.Duration())
		}
		got := dstream.OutputStats{Records: r.num("data-records"), Rows: r.num("data-rows"), Bytes: r.num("data-bytes"), Files: r.num("data-files")}
		if got != o.Wrote {
			t.Errorf("batch %d: operation %d wrote %+v, the engine reported %+v", bt, o.ID, got, o.Wrote)
		}
		// What the cells say, not only their attributes.
		for class, v := range map[string]int64{"records": o.Wrote.Records, "rows": o.Wrote.Rows, "files": o.Wrote.Files, "rejected": o.Rejected} {
			if r.cells[class] != strconv.FormatInt(v, 10) {
				t.Errorf("batch %d: operation %d's %s cell says %q, want %d", bt, o.ID, class, r.cells[class], v)
			}
		}
		if r.num("data-rejected") != o.Rejected || !maps.Equal(r.reasons, o.RejectedBy) {
			t.Errorf("batch %d: operation %d rejected %d %v, the engine reported %d %v", bt, o.ID, r.num("data-rejected"), r.reasons, o.Rejected, o.RejectedBy)
		}
	}
	if o := want.OutputOperations[len(want.OutputOperations)-1]; o.Err == nil && (o.Wrote.Records == 0 || o.Wrote.Bytes == 0 || o.Wrote.Files != 1 || o.Rejected == 0) {
		t.Errorf("batch %d: the warehouse wrote %+v and rejected %d; the job did not exercise the view", bt, o.Wrote, o.Rejected)
	}
}

// detailView is what the test reads of section#batch-detail.
type detailView struct {
	hidden    bool
	batchTime int64
	status    string
	err       string            // #batch-detail-error
	facts     map[string]string // data-value of the facts with an id, by id
	inputs    []*detailInput
	ops       map[int]*opRow // by operation id
	selected  string         // data-batch-time of the batch tables' selected rows
	links     []string       // href of the batch tables' a.batch-link
}

type detailInput struct {
	streamID, name string
	ranges         []kafka.OffsetRange
	counts         []int64
	lag            []dstream.PartitionLag
}

type opRow struct {
	attrs                map[string]string
	status, name, stream string
	durationMs, err      string
	cells                map[string]string // the text of the count cells, by class, without separators
	reasons              map[string]int64
}

func (r *opRow) num(key string) int64 {
	v, err := strconv.ParseInt(r.attrs[key], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func parseDetail(t *testing.T, dom []byte) *detailView {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("the dumped DOM does not parse: %v", err)
	}
	d := &detailView{facts: map[string]string{}, ops: map[int]*opRow{}}
	found := false
	int64Of := func(n *html.Node, key string) int64 {
		v, err := strconv.ParseInt(attr(n, key), 10, 64)
		if err != nil {
			t.Fatalf("<%s %s=%q>: %v", n.Data, key, attr(n, key), err)
		}
		return v
	}
	var in *detailInput
	var op *opRow
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			id := attr(n, "id")
			switch {
			case id == "batch-detail":
				found = true
				d.hidden = hasAttr(n, "hidden")
				d.batchTime, _ = strconv.ParseInt(attr(n, "data-batch-time"), 10, 64)
				d.status = attr(n, "data-status")
			case id == "batch-detail-error":
				d.err = text(n)
			case strings.HasPrefix(id, "batch-detail-") && hasAttr(n, "data-value"):
				d.facts[id] = attr(n, "data-value")
			case n.Data == "div" && hasClass(n, "detail-input"):
				in = &detailInput{streamID: attr(n, "data-stream-id"), name: attr(n, "data-name")}
				d.inputs = append(d.inputs, in)
			case n.Data == "tr" && hasClass(n, "offset-range"):
				p, err := strconv.ParseInt(attr(n, "data-partition"), 10, 32)
				if err != nil {
					t.Fatalf("data-partition %q: %v", attr(n, "data-partition"), err)
				}
				in.ranges = append(in.ranges, kafka.OffsetRange{Topic: attr(n, "data-topic"), Partition: int32(p),
					From: int64Of(n, "data-from"), Until: int64Of(n, "data-until")})
				in.counts = append(in.counts, int64Of(n, "data-count"))
			case n.Data == "tr" && hasClass(n, "partition-lag"):
				in.lag = append(in.lag, dstream.PartitionLag{Partition: attr(n, "data-partition"), Records: int64Of(n, "data-records")})
			case n.Data == "tr" && hasClass(n, "output-op"):
				op = &opRow{attrs: map[string]string{}, cells: map[string]string{}, status: attr(n, "data-status"), durationMs: attr(n, "data-duration-ms")}
				for _, a := range n.Attr {
					op.attrs[a.Key] = a.Val
				}
				d.ops[int(int64Of(n, "data-op-id"))] = op
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type != html.ElementNode {
						continue
					}
					switch {
					case hasClass(c, "name"):
						op.name = text(c)
					case hasClass(c, "stream"):
						op.stream = text(c)
					case hasClass(c, "error"):
						op.err = text(c)
					case hasClass(c, "rejected"):
						// The total, then a span per reason.
						op.cells["rejected"] = strings.ReplaceAll(text(c.FirstChild), ",", "")
					default:
						for _, k := range []string{"records", "rows", "files"} {
							if hasClass(c, k) {
								op.cells[k] = strings.ReplaceAll(text(c), ",", "")
							}
						}
					}
				}
			case n.Data == "span" && hasClass(n, "reason"):
				if op.reasons == nil {
					op.reasons = map[string]int64{}
				}
				op.reasons[attr(n, "data-reason")] = int64Of(n, "data-count")
			case n.Data == "tr" && hasClass(n, "selected"):
				d.selected += attr(n, "data-batch-time") + " "
			case n.Data == "a" && hasClass(n, "batch-link"):
				d.links = append(d.links, attr(n, "href"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !found {
		t.Fatal("the page has no section#batch-detail")
	}
	return d
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}
