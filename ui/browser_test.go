package ui_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/microbatch-go/microbatch/ui"
)

// sensorFeed is a receiver that stores a varying number of records every
// 10 ms and reports a (harmless) error now and then, as a flaky source
// would.
type sensorFeed struct {
	wg sync.WaitGroup
}

func (r *sensorFeed) Name() string { return "sensor-feed" }

func (r *sensorFeed) OnStart(ctx context.Context, h *dstream.ReceiverHost[int]) error {
	r.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n := 1 + (i/15)%4*3 + i%3 // bursts that change every 150 ms
			for k := range n {
				if h.Store(i*100+k) != nil {
					return
				}
			}
			if i%40 == 39 {
				h.ReportError("sensor 7 did not answer (simulated)", fmt.Errorf("read tcp 127.0.0.1:5020: i/o timeout after %d polls", i+1))
			}
		}
	})
	return nil
}

func (r *sensorFeed) OnStop() { r.wg.Wait() }

// TestBrowserStatusPage runs a small real job, loads its status page in
// headless Chromium and checks that the charts' data points are the
// batches the engine reported: input rate (records / interval), scheduling
// delay, processing time and total delay, per batch time. It saves
// screenshots of the page, running and after a failed batch, as test
// artifacts.
func TestBrowserStatusPage(t *testing.T) {
	chromium := testtool.Require(t, "chromium", "Debian package chromium")
	const interval = 150 * time.Millisecond

	srv, err := ui.New(interval, ui.WithLogger(quiet), ui.WithName("sensors"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ssc, err := dstream.NewContext(interval, dstream.WithLogger(quiet), dstream.WithBlockInterval(50*time.Millisecond),
		dstream.WithListener(rec), dstream.WithListener(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	readings := dstream.ReceiverStream(ssc, &sensorFeed{})
	if err := readings.Count().ForEachBatch(func(context.Context, *dstream.Batch[int64]) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	var nBatch atomic.Int64
	if err := readings.ForEachBatch(func(ctx context.Context, b *dstream.Batch[int]) error {
		i := nBatch.Add(1)
		d := time.Duration(5+(i%5)*15) * time.Millisecond // processing times that vary
		if i%7 == 4 {
			d = 2 * interval // late: the next batch waits (scheduling delay)
		}
		time.Sleep(d)
		if fail.Load() {
			return errors.New("sink rejected the batch (simulated)")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := ui.URL(ln)
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stopServe()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Logf("status page at %s", url)

	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() (int, bool) { n := len(rec.batches()); return n, n >= 8 })
	ssc.ReportPartitions(dstream.PartitionsChange{Input: "kafkaDirectStream#9", Event: "assigned",
		Partitions: []string{"words-1", "words-4"}, Owned: []string{"words-1", "words-4"}, Restore: 42 * time.Millisecond})

	// The running job.
	dom := dumpDOM(t, chromium, url)
	if !strings.Contains(string(dom), `<h1 id="job-title">Streaming Statistics: sensors</h1>`) {
		t.Errorf("the page's heading does not name the job")
	}
	if want := "kafkaDirectStream#9 owns 2 partitions (words-1, words-4); changes: 1 assigned, 0 revoked, 0 lost; last restore 42 ms"; !strings.Contains(string(dom), want) {
		t.Errorf("the page does not say %q", want)
	}
	want := rec.batches()
	page := parsePage(t, dom)
	if page.updates < 1 || page.state != "active" {
		t.Fatalf("the page did not load the job's status: data-updates %d, data-state %q", page.updates, page.state)
	}
	checkCharts(t, page, want, interval, false)
	checkTables(t, page, want)
	r := page.receivers["0"]
	if r == nil || r.status != "active" || !strings.Contains(r.text, "sensor-feed") {
		t.Errorf("receivers table: %+v", page.receivers)
	}
	dir := artifactDir(t)
	screenshot(t, chromium, url, filepath.Join(dir, "status-page-running.png"))

	// A failed batch stops the job (the engine's rule); the page shows it.
	fail.Store(true)
	if ok, err := ssc.AwaitTerminationOrTimeout(30 * time.Second); !ok {
		t.Fatal("the job did not stop after the failed batch")
	} else if err == nil || !strings.Contains(err.Error(), "sink rejected the batch") {
		t.Fatalf("the job stopped with %v, want the sink's error", err)
	}
	want = rec.batches()
	failed := want[len(want)-1]
	if failed.Err == nil {
		t.Fatalf("the last batch did not fail: %+v", failed)
	}
	dom = dumpDOM(t, chromium, url)
	page = parsePage(t, dom)
	if page.state != "stopped" || !strings.Contains(page.stopError, "sink rejected the batch") || page.active != 0 {
		t.Errorf("after the failure: state %q, stop error %q, %d active batches", page.state, page.stopError, page.active)
	}
	checkCharts(t, page, want, interval, true)
	checkTables(t, page, want)
	row := page.completed[failed.BatchTime.UnixMilli()]
	if row == nil || row.status != "failed" || !strings.Contains(row.text, failed.Err.Error()) || !strings.Contains(row.text, "1/2 (1 failed)") {
		t.Errorf("the failed batch's row: %+v, want its error %q", row, failed.Err)
	}
	for _, s := range seriesNames {
		if p := page.points[s]; len(p) == 0 || p[len(p)-1].status != "failed" {
			t.Errorf("%s: the failed batch is not marked on the chart", s)
		}
	}
	r = page.receivers["0"]
	if r == nil || r.status != "stopped" || !strings.Contains(r.text, "sensor 7 did not answer (simulated)") {
		t.Errorf("receivers table after the stop: %+v (has an error been reported? %v)", r, page.receivers)
	}
	screenshot(t, chromium, url, filepath.Join(dir, "status-page-failed.png"))
}

var seriesNames = []string{"inputRate", "schedulingDelay", "processingTime", "totalDelay"}

// expected returns the value the page must show for series s of batch b.
func expected(s string, b dstream.BatchInfo, interval time.Duration) float64 {
	switch s {
	case "inputRate":
		return float64(b.NumRecords()) / interval.Seconds()
	case "schedulingDelay":
		return ms(b.SchedulingDelay())
	case "processingTime":
		return ms(b.ProcessingDelay())
	case "totalDelay":
		return ms(b.TotalDelay())
	}
	panic(s)
}

// checkCharts compares every chart's points with the batches the test's
// listener recorded: the page's batch times are the recorded ones, up to
// the newest the page had fetched (all of them when final), each with its
// value; each histogram counts the chart's points.
func checkCharts(t *testing.T, page *page, want []dstream.BatchInfo, interval time.Duration, final bool) {
	t.Helper()
	byTime := map[int64]dstream.BatchInfo{}
	for _, b := range want {
		byTime[b.BatchTime.UnixMilli()] = b
	}
	var nonzero [4]int
	for si, s := range seriesNames {
		pts := page.points[s]
		if len(pts) < 5 {
			t.Fatalf("%s: %d points on the chart, want at least 5", s, len(pts))
		}
		newest := pts[len(pts)-1].t
		var wantTimes, gotTimes []int64
		for _, b := range want {
			if ms := b.BatchTime.UnixMilli(); ms <= newest || final {
				wantTimes = append(wantTimes, ms)
			}
		}
		for _, p := range pts {
			gotTimes = append(gotTimes, p.t)
			b, ok := byTime[p.t]
			if !ok {
				t.Errorf("%s: a point at %d, a batch the engine did not report", s, p.t)
				continue
			}
			w := expected(s, b, interval)
			if !near(p.v, w) {
				t.Errorf("%s at %d: the page shows %v, the engine reported %v", s, p.t, p.v, w)
			}
			if p.v > 0 {
				nonzero[si]++
			}
			st := "completed"
			if b.Err != nil {
				st = "failed"
			}
			if p.status != st {
				t.Errorf("%s at %d: status %q, want %q", s, p.t, p.status, st)
			}
		}
		if !slices.Equal(gotTimes, wantTimes) {
			t.Errorf("%s: points at %v, want the batches %v", s, gotTimes, wantTimes)
		}
		// The histogram bins the same values.
		bars := page.bars[s]
		if len(bars) != 10 {
			t.Fatalf("%s: %d histogram bars, want 10", s, len(bars))
		}
		yMax := bars[len(bars)-1].hi
		counts := make([]int, len(bars))
		for _, p := range pts {
			i := int(math.Floor(p.v / yMax * 10))
			counts[max(0, min(9, i))]++
		}
		total := 0
		for i, b := range bars {
			total += b.count
			if b.count != counts[i] {
				t.Errorf("%s: histogram bar [%v, %v) counts %d, the points give %d", s, b.lo, b.hi, b.count, counts[i])
			}
		}
		if total != len(pts) {
			t.Errorf("%s: the histogram counts %d batches, the chart has %d", s, total, len(pts))
		}
	}
	// The job was built so that every series moves.
	for si, s := range seriesNames {
		if nonzero[si] == 0 {
			t.Errorf("%s: every point is zero; the job did not exercise the chart", s)
		}
	}
}

// checkTables compares the completed batches table with the recorded
// batches.
func checkTables(t *testing.T, page *page, want []dstream.BatchInfo) {
	t.Helper()
	if len(page.completed) < 5 {
		t.Fatalf("%d rows in the completed batches table", len(page.completed))
	}
	for _, b := range want {
		row := page.completed[b.BatchTime.UnixMilli()]
		if row == nil {
			continue // newer than the page's last poll
		}
		if row.records != strconv.FormatInt(b.NumRecords(), 10) {
			t.Errorf("batch %d: %s records in the table, want %d", b.BatchTime.UnixMilli(), row.records, b.NumRecords())
		}
		for i, d := range []time.Duration{b.SchedulingDelay(), b.ProcessingDelay(), b.TotalDelay()} {
			if v, err := strconv.ParseFloat(row.delays[i], 64); err != nil || !near(v, ms(d)) {
				t.Errorf("batch %d: delay column %d is %q, want %v ms", b.BatchTime.UnixMilli(), i, row.delays[i], ms(d))
			}
		}
	}
}

// page is what the test reads from the DOM.
type page struct {
	updates          int
	state, stopError string
	points           map[string][]point
	bars             map[string][]bar
	completed        map[int64]*row
	active           int             // rows in the active batches table
	receivers        map[string]*row // by stream id
}

type point struct {
	t      int64
	v      float64
	status string
}

type bar struct {
	lo, hi float64
	count  int
}

type row struct {
	status  string
	records string
	delays  []string // data-value of the scheduling, processing and total delay cells
	text    string
}

func parsePage(t *testing.T, dom []byte) *page {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("the dumped DOM does not parse: %v", err)
	}
	p := &page{points: map[string][]point{}, bars: map[string][]bar{}, completed: map[int64]*row{}, receivers: map[string]*row{}}
	num := func(n *html.Node, key string) float64 {
		v, err := strconv.ParseFloat(attr(n, key), 64)
		if err != nil {
			t.Fatalf("<%s %s=%q>: %v", n.Data, key, attr(n, key), err)
		}
		return v
	}
	var walk func(n *html.Node, table string)
	walk = func(n *html.Node, table string) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "body":
				p.updates, _ = strconv.Atoi(attr(n, "data-updates"))
				p.state = attr(n, "data-state")
			case attr(n, "id") == "stop-error":
				p.stopError = text(n)
			case n.Data == "table":
				table = attr(n, "id")
			case n.Data == "circle" && hasClass(n, "point"):
				s := attr(n, "data-series")
				p.points[s] = append(p.points[s], point{t: int64(num(n, "data-batch-time")), v: num(n, "data-value"), status: attr(n, "data-status")})
			case n.Data == "rect" && hasClass(n, "bar"):
				s := attr(n, "data-series")
				p.bars[s] = append(p.bars[s], bar{lo: num(n, "data-lo"), hi: num(n, "data-hi"), count: int(num(n, "data-count"))})
			case n.Data == "tr" && table == "completed-batches" && attr(n, "data-batch-time") != "":
				r := &row{status: attr(n, "data-status"), text: text(n)}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type != html.ElementNode || attr(c, "data-value") == "" {
						continue
					}
					if hasClass(c, "records") {
						r.records = attr(c, "data-value")
					} else {
						r.delays = append(r.delays, attr(c, "data-value"))
					}
				}
				p.completed[int64(num(n, "data-batch-time"))] = r
			case n.Data == "tr" && table == "active-batches" && attr(n, "data-batch-time") != "":
				p.active++
			case n.Data == "tr" && table == "receivers" && attr(n, "data-stream-id") != "":
				p.receivers[attr(n, "data-stream-id")] = &row{status: attr(n, "data-status"), text: text(n)}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, table)
		}
	}
	walk(doc, "")
	return p
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, c string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), c)
}

func text(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
			sb.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(sb.String()), " ")
}

// chromiumArgs are the flags of every headless run; each run has its own
// profile directory.
func chromiumArgs(t *testing.T) []string {
	return []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + t.TempDir()}
}

// dumpDOM loads url in headless Chromium, lets the page poll the API for
// 4 s of virtual time, and returns the serialized DOM.
func dumpDOM(t *testing.T, chromium, url string) []byte {
	t.Helper()
	args := append(chromiumArgs(t), "--virtual-time-budget=4000", "--dump-dom", url)
	out, stderr := runChromium(t, chromium, args)
	if !bytes.Contains(out, []byte("</html>")) {
		t.Fatalf("chromium --dump-dom gave no page:\n%s\nstderr:\n%s", out, stderr)
	}
	return out
}

// screenshot saves a PNG of the page at url to file.
func screenshot(t *testing.T, chromium, url, file string) {
	t.Helper()
	args := append(chromiumArgs(t), "--virtual-time-budget=4000", "--hide-scrollbars",
		"--screenshot="+file, "--window-size=1280,1800", url)
	_, stderr := runChromium(t, chromium, args)
	png, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("chromium saved no screenshot: %v\nstderr:\n%s", err, stderr)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Fatalf("%s is not a PNG of the page (%d bytes)", file, len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(png))
}

func runChromium(t *testing.T, chromium string, args []string) (stdout []byte, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // chromium writes its caches there
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errBuf.String())
	}
	return out, errBuf.String()
}

// artifactDir is where the screenshots go: testing's artifact directory
// when the test runs with -artifacts (go test -artifacts -outputdir DIR),
// else $TEST_ARTIFACTS_DIR, else ui/testdata/artifacts (git-ignored), so
// that they outlive the test run.
func artifactDir(t *testing.T) string {
	t.Helper()
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
