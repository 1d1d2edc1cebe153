package dstream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memLog is an append-only log of lines that outlives the contexts of a
// test, like a Kafka partition.
type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) append(lines ...string) {
	l.mu.Lock()
	l.lines = append(l.lines, lines...)
	l.mu.Unlock()
}

func (l *memLog) slice(from, until int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines[from:until])
}

// logInput is a Recoverable Input over a memLog: each batch takes the
// lines appended since the previous one, and its descriptor is the range.
type logInput struct {
	log *memLog
	pos int
}

type logRange struct{ From, Until int }

func (in *logInput) Start(context.Context) error { return nil }
func (in *logInput) Stop()                       {}

func (in *logInput) Generate(_ context.Context, t time.Time) (*InputBatch[string], error) {
	in.log.mu.Lock()
	until := len(in.log.lines)
	in.log.mu.Unlock()
	r := logRange{in.pos, until}
	in.pos = until
	return in.batch(r)
}

func (in *logInput) batch(r logRange) (*InputBatch[string], error) {
	desc, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &InputBatch[string]{
		Partitions: 1,
		Records:    int64(r.Until - r.From),
		Descriptor: desc,
		Read:       func(context.Context, int) ([]string, error) { return in.log.slice(r.From, r.Until), nil },
	}, nil
}

func (in *logInput) SavePosition() ([]byte, error) { return json.Marshal(in.pos) }

func (in *logInput) RestorePosition(pos []byte) error { return json.Unmarshal(pos, &in.pos) }

func (in *logInput) Rebuild(_ time.Time, desc []byte) (*InputBatch[string], error) {
	var r logRange
	if err := json.Unmarshal(desc, &r); err != nil {
		return nil, err
	}
	return in.batch(r)
}

// wordJob is a word count with running totals (UpdateStateByKey) and an
// optional inverse window, built the same way by every run of a test.
type wordJob struct {
	h      *harness
	totals *sink[Pair[string, int]]
	counts *sink[Pair[string, int]]
	window *sink[Pair[string, int]]
}

type jobShape struct {
	extraStateless bool   // one more Map before the state
	stateType      string // "int" (default) or "int64"
	window         bool
	stateName      string // default "totals"
	blockAt        int64  // the output blocks at this batch (ms) until the context stops
	entered        chan struct{}
	codec          Codec
	interval       time.Duration // default 1 s
	opts           []Option      // more context options
}

func newWordJob(t *testing.T, dir string, log *memLog, clockAt time.Duration, shape jobShape) *wordJob {
	t.Helper()
	clk := NewManualClock(time.Unix(0, int64(clockAt)))
	iv := cmp.Or(shape.interval, time.Second)
	ctxOpts := append([]Option{WithClock(clk), WithLogger(quietLogger), WithCheckpoint(dir), WithParallelism(2)}, shape.opts...)
	c, err := NewContext(iv, ctxOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background(), Hard) })
	h := &harness{t: t, clock: clk, ssc: c, interval: iv}
	j := &wordJob{h: h}
	lines := InputStream[string](c, "lines", &logInput{log: log})
	words := FlatMap(lines, strings.Fields)
	if shape.extraStateless {
		words = Map(words, strings.ToLower)
	}
	pairs := Map(words, func(w string) Pair[string, int] { return KV(w, 1) })
	counts := ReduceByKey(pairs, add)
	j.counts = collect(t, counts)
	name := cmpOr(shape.stateName, "totals")
	var opts []OpOption
	if shape.codec != nil {
		opts = append(opts, StateCodec(shape.codec))
	}
	if shape.stateType == "int64" {
		tot := UpdateStateByKey(counts, func(vs []int, s *int64) (int64, bool) {
			var n int64
			if s != nil {
				n = *s
			}
			for _, v := range vs {
				n += int64(v)
			}
			return n, true
		}).Named(name)
		tot.Print()
	} else {
		tot := UpdateStateByKey(counts, func(vs []int, s *int) (int, bool) {
			n := 0
			if s != nil {
				n = *s
			}
			for _, v := range vs {
				n += v
			}
			return n, true
		}, opts...).Named(name)
		j.totals = collect(t, tot)
	}
	if shape.window {
		j.window = collect(t, ReduceByKeyAndWindow(pairs, add, sub, 5*time.Second, time.Second).WithStateFilter(func(p Pair[string, int]) bool { return p.Value != 0 }).Named("window"))
	}
	if shape.blockAt > 0 {
		if err := counts.ForEachBatch(func(ctx context.Context, b *Batch[Pair[string, int]]) error {
			if b.Time.UnixMilli() == shape.blockAt {
				close(shape.entered)
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// batchLines is the input of batch k: a few words, repeated by k.
func batchLines(k int) []string {
	return []string{fmt.Sprintf("alpha beta w%d", k%4), strings.Repeat("gamma ", k%3+1)}
}

// wordCounts counts the words of lines.
func wordCounts(lines []string) map[string]int {
	m := map[string]int{}
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			m[w]++
		}
	}
	return m
}

func pairsMap(ps []Pair[string, int]) map[string]int {
	m := map[string]int{}
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m
}

// TestCheckpointRecoversStateAndPosition crashes a job (a hard stop, which
// writes no final checkpoint) after batch 14, while its state was last
// saved at batch 10, and restarts it at 20 s. The last checkpoint was
// written when batch 14 was generated, before it completed, so batch 14
// is pending: the state is restored and recomputed for 11–13 from the
// saved batch descriptions, batch 14 runs again with its own data, the
// missed batches 15–20 are generated, and the running totals and
// per-batch counts are those of the input, each line counted once.
func TestCheckpointRecoversStateAndPosition(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j1 := newWordJob(t, dir, log, 0, jobShape{})
	j1.h.start()
	var all []string
	for k := 1; k <= 14; k++ {
		log.append(batchLines(k)...)
		all = append(all, batchLines(k)...)
		j1.h.step()
	}
	if got, want := pairsMap(mustAt(t, j1.totals, 14000)), wordCounts(all); !maps.Equal(got, want) {
		t.Fatalf("run 1 totals = %v, want %v", got, want)
	}
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Hard), "hard stop")
	if _, err := os.Stat(filepath.Join(dir, "state-10000")); err != nil {
		t.Fatalf("no state checkpoint at batch 10: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state-14000")); err == nil {
		t.Fatal("a hard stop wrote a final state checkpoint")
	}

	// Lines that arrive while the job is down.
	for k := 15; k <= 17; k++ {
		log.append(batchLines(k)...)
		all = append(all, batchLines(k)...)
	}
	j2 := newWordJob(t, dir, log, 20*time.Second, jobShape{})
	j2.h.start()
	if ok, done := j2.h.ssc.Recovered(); !ok || done.UnixMilli() != 13000 {
		t.Fatalf("Recovered() = %v, %v; want true, 13000 ms", ok, done.UnixMilli())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustNoErr(t, j2.h.ssc.WaitForBatch(ctx, time.UnixMilli(20000)), "wait for the missed batches")
	if got, want := j2.totals.seen(), []int64{14000, 15000, 16000, 17000, 18000, 19000, 20000}; !slices.Equal(got, want) {
		t.Errorf("run 2 output batches %v, want %v", got, want)
	}
	if got, want := pairsMap(mustAt(t, j2.totals, 20000)), wordCounts(all); !maps.Equal(got, want) {
		t.Errorf("run 2 totals = %v, want %v", got, want)
	}
	if got, want := pairsMap(mustAt(t, j2.counts, 14000)), wordCounts(batchLines(14)); !maps.Equal(got, want) {
		t.Errorf("re-run batch 14 counts = %v, want %v", got, want)
	}
	// The first missed batch took everything that arrived while down.
	if got, want := pairsMap(mustAt(t, j2.counts, 15000)), wordCounts(all[28:]); !maps.Equal(got, want) {
		t.Errorf("batch 15 counts = %v, want %v", got, want)
	}
	log.append(batchLines(21)...)
	all = append(all, batchLines(21)...)
	j2.h.step()
	if got, want := pairsMap(mustAt(t, j2.totals, 21000)), wordCounts(all); !maps.Equal(got, want) {
		t.Errorf("run 2 totals at 21 = %v, want %v", got, want)
	}
}

func mustAt[T any](t *testing.T, k *sink[T], ms int64) []T {
	t.Helper()
	b, ok := k.at(ms)
	if !ok {
		t.Fatalf("no output at %d ms (saw %v)", ms, k.seen())
	}
	return b
}

// TestCheckpointRerunsPendingBatch: a batch generated (and checkpointed)
// but not completed when the job dies is run again after the restart
// with exactly the data it had, and its output is delivered.
func TestCheckpointRerunsPendingBatch(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	entered := make(chan struct{})
	j1 := newWordJob(t, dir, log, 0, jobShape{blockAt: 3000, entered: entered})
	j1.h.start()
	for k := 1; k <= 2; k++ {
		log.append(batchLines(k)...)
		j1.h.step()
	}
	log.append(batchLines(3)...)
	j1.h.clock.Advance(time.Second)
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("batch 3 never reached its output")
	}
	log.append("late arrival") // after batch 3 was fixed: belongs to batch 4
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Hard), "hard stop")
	if _, ok := j1.counts.at(3000); !ok {
		t.Fatal("the counts output of batch 3 should have run before the blocking one")
	}

	j2 := newWordJob(t, dir, log, 4*time.Second, jobShape{})
	j2.h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustNoErr(t, j2.h.ssc.WaitForBatch(ctx, time.UnixMilli(4000)), "wait")
	if got := j2.counts.seen(); len(got) == 0 || got[0] != 3000 {
		t.Fatalf("run 2 first batch = %v, want the pending batch 3000 first", got)
	}
	if got, want := pairsMap(mustAt(t, j2.counts, 3000)), wordCounts(batchLines(3)); !maps.Equal(got, want) {
		t.Errorf("re-run batch 3 counts = %v, want %v (its original data)", got, want)
	}
	if got, want := pairsMap(mustAt(t, j2.counts, 4000)), wordCounts([]string{"late arrival"}); !maps.Equal(got, want) {
		t.Errorf("batch 4 counts = %v, want %v", got, want)
	}
	var all []string
	for k := 1; k <= 3; k++ {
		all = append(all, batchLines(k)...)
	}
	all = append(all, "late arrival")
	if got, want := pairsMap(mustAt(t, j2.totals, 4000)), wordCounts(all); !maps.Equal(got, want) {
		t.Errorf("totals = %v, want %v", got, want)
	}
}

// TestCheckpointWindowMatchesUninterruptedRun: an inverse window restored
// from a checkpoint gives the same windows as a run that never stopped.
func TestCheckpointWindowMatchesUninterruptedRun(t *testing.T) {
	log := &memLog{}
	for k := 1; k <= 20; k++ {
		log.append(batchLines(k)...)
	}
	// The reference run, batch by batch over the same log.
	ref := &memLog{}
	j0 := newWordJob(t, t.TempDir(), ref, 0, jobShape{window: true})
	j0.h.start()
	for k := 1; k <= 20; k++ {
		ref.append(batchLines(k)...)
		j0.h.step()
	}
	mustNoErr(t, j0.h.ssc.Stop(context.Background(), Graceful), "stop")

	dir := t.TempDir()
	replay := &memLog{}
	j1 := newWordJob(t, dir, replay, 0, jobShape{window: true})
	j1.h.start()
	for k := 1; k <= 13; k++ {
		replay.append(batchLines(k)...)
		j1.h.step()
	}
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Hard), "crash")
	j2 := newWordJob(t, dir, replay, 13*time.Second, jobShape{window: true})
	j2.h.start()
	for k := 14; k <= 20; k++ {
		replay.append(batchLines(k)...)
		j2.h.step()
	}
	for k := int64(14); k <= 20; k++ {
		got, want := pairsMap(mustAt(t, j2.window, k*1000)), pairsMap(mustAt(t, j0.window, k*1000))
		if !maps.Equal(got, want) {
			t.Errorf("window at batch %d: restored %v, uninterrupted %v", k, got, want)
		}
		if got, want := pairsMap(mustAt(t, j2.totals, k*1000)), pairsMap(mustAt(t, j0.totals, k*1000)); !maps.Equal(got, want) {
			t.Errorf("totals at batch %d: restored %v, uninterrupted %v", k, got, want)
		}
	}
}

// TestCheckpointGracefulStopSavesFinalState: after a graceful stop the
// state is saved as of the last batch, so a restart recomputes nothing.
func TestCheckpointGracefulStopSavesFinalState(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j1 := newWordJob(t, dir, log, 0, jobShape{})
	j1.h.start()
	for k := 1; k <= 4; k++ {
		log.append(batchLines(k)...)
		j1.h.step()
	}
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Graceful), "stop")
	if _, err := os.Stat(filepath.Join(dir, "state-4000")); err != nil {
		t.Fatalf("no final state checkpoint: %v", err)
	}
	j2 := newWordJob(t, dir, log, 4*time.Second, jobShape{})
	mustNoErr(t, j2.h.ssc.Start(), "start")
	rc := j2.h.ssc.ckpt.restored
	if rc == nil || rc.completed != 4e9 || rc.state == nil || rc.state.meta.Time != 4e9 {
		t.Fatalf("restored = %+v, want completed and state at 4 s", rc)
	}
}

// TestCheckpointGraphChanges: an added stateless operator restores; a
// stateful operator renamed, removed or with another state type is an
// error naming it.
func TestCheckpointGraphChanges(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j1 := newWordJob(t, dir, log, 0, jobShape{extraStateless: true})
	j1.h.start()
	log.append("A b")
	j1.h.step()
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Graceful), "stop")

	for _, tc := range []struct {
		name  string
		shape jobShape
		want  []string // substrings of the error; none: restores
	}{
		{"one stateless operator fewer", jobShape{}, nil},
		{"state type changed", jobShape{stateType: "int64"}, []string{"totals", "Pair[string,int64]"}},
		{"stateful operator renamed", jobShape{stateName: "sums"}, []string{"totals", "sums"}},
		{"stateful operator added", jobShape{window: true}, []string{"window", "not in the checkpoint"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newWordJob(t, dir, log, time.Second, tc.shape)
			err := j.h.ssc.Start()
			if tc.want == nil {
				mustNoErr(t, err, "start")
				mustNoErr(t, j.h.ssc.Stop(context.Background(), Hard), "stop")
				return
			}
			if !errors.Is(err, ErrGraphChanged) {
				t.Fatalf("Start = %v, want ErrGraphChanged", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestGetOrCreate builds the graph with setup every time and reports a
// changed graph before Start.
func TestGetOrCreate(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	build := func(stateName string) func(*Context) error {
		return func(c *Context) error {
			lines := InputStream[string](c, "lines", &logInput{log: log})
			pairs := Map(FlatMap(lines, strings.Fields), func(w string) Pair[string, int] { return KV(w, 1) })
			UpdateStateByKey(pairs, func(vs []int, s *int) (int, bool) {
				n := len(vs)
				if s != nil {
					n += *s
				}
				return n, true
			}).Named(stateName).Print()
			return nil
		}
	}
	clk := NewManualClock(time.UnixMilli(0))
	c1, err := GetOrCreate(dir, time.Second, build("totals"), WithClock(clk), WithLogger(quietLogger))
	mustNoErr(t, err, "GetOrCreate")
	if ok, _ := c1.Recovered(); ok {
		t.Error("a new directory reports a recovery")
	}
	mustNoErr(t, c1.Start(), "start")
	clk.Advance(time.Second)
	mustNoErr(t, c1.WaitForBatch(context.Background(), clk.Now()), "batch")
	mustNoErr(t, c1.Stop(context.Background(), Graceful), "stop")

	if _, err := GetOrCreate(dir, time.Second, build("other"), WithClock(clk), WithLogger(quietLogger)); !errors.Is(err, ErrGraphChanged) {
		t.Errorf("changed graph: %v, want ErrGraphChanged", err)
	}
	if _, err := GetOrCreate(dir, 2*time.Second, build("totals"), WithClock(clk), WithLogger(quietLogger)); err == nil || !strings.Contains(err.Error(), "batch interval") {
		t.Errorf("changed interval: %v, want an error about the batch interval", err)
	}
	c2, err := GetOrCreate(dir, time.Second, build("totals"), WithClock(clk), WithLogger(quietLogger))
	mustNoErr(t, err, "GetOrCreate again")
	t.Cleanup(func() { _ = c2.Stop(context.Background(), Hard) })
	mustNoErr(t, c2.Start(), "start")
	if ok, done := c2.Recovered(); !ok || done.UnixMilli() != 1000 {
		t.Errorf("Recovered = %v, %v; want true, 1000 ms", ok, done.UnixMilli())
	}
}

// TestCheckpointFiles: a file of another format version is refused with
// a clear error; a corrupt newest file is skipped for the one before.
func TestCheckpointFiles(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j1 := newWordJob(t, dir, log, 0, jobShape{})
	j1.h.start()
	for k := 1; k <= 3; k++ {
		log.append(batchLines(k)...)
		j1.h.step()
	}
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Hard), "stop")
	metas, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*"))
	if len(metas) != 3 {
		t.Fatalf("checkpoint files %v, want the last 3", metas)
	}

	// The newest file is cut short: the one before is used.
	newest := filepath.Join(dir, "checkpoint-3000")
	data, err := os.ReadFile(newest)
	mustNoErr(t, err, "read")
	mustNoErr(t, os.WriteFile(newest, data[:len(data)/2], 0o644), "truncate")
	j2 := newWordJob(t, dir, log, 3*time.Second, jobShape{})
	mustNoErr(t, j2.h.ssc.Start(), "start with a torn newest checkpoint")
	if rc := j2.h.ssc.ckpt.restored; rc.meta.Time != 2e9 {
		t.Errorf("restored the checkpoint of %d, want the one of batch 2", rc.meta.Time)
	}
	mustNoErr(t, j2.h.ssc.Stop(context.Background(), Hard), "stop")

	// A newer format version is refused.
	future := bytes.Clone(data)
	future[len(ckptMagic)+1] = 9
	mustNoErr(t, os.WriteFile(filepath.Join(dir, "checkpoint-9000"), future, 0o644), "write")
	j3 := newWordJob(t, dir, log, 10*time.Second, jobShape{})
	err = j3.h.ssc.Start()
	if !errors.Is(err, ErrCheckpointVersion) || !strings.Contains(err.Error(), "version 9") || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("Start = %v, want ErrCheckpointVersion naming both versions", err)
	}
}

// TestCheckpointRules pins Spark's checkpoint rules.
func TestCheckpointRules(t *testing.T) {
	state := func(c *Context, s *Stream[Pair[string, int]]) *Stream[Pair[string, int]] {
		return UpdateStateByKey(s, func(vs []int, st *int) (int, bool) { return len(vs), true })
	}
	for _, tc := range []struct {
		name  string
		opts  []Option
		build func(c *Context)
		want  error
	}{
		{"stateful without a checkpoint directory", nil, func(c *Context) {
			state(c, QueueStream(c, NewQueue[Pair[string, int]]())).Print()
		}, ErrCheckpointRequired},
		{"inverse window without a checkpoint directory", nil, func(c *Context) {
			ReduceByKeyAndWindow(QueueStream(c, NewQueue[Pair[string, int]]()), add, sub, 2*time.Second, time.Second).Print()
		}, ErrCheckpointRequired},
		{"in-memory state needs none", []Option{WithInMemoryState()}, func(c *Context) {
			state(c, QueueStream(c, NewQueue[Pair[string, int]]())).Print()
		}, nil},
		{"a queue stream cannot be checkpointed", []Option{WithCheckpoint("CKPT")}, func(c *Context) {
			QueueStream(c, NewQueue[int]()).Print()
		}, ErrNotCheckpointable},
		{"checkpoint interval not a multiple of the slide", []Option{WithCheckpoint("CKPT")}, func(c *Context) {
			s := InputStream[Pair[string, int]](c, "in", emptyInput{})
			state(c, s).Checkpoint(1500 * time.Millisecond).Print()
		}, ErrInvalidDuration},
		{"checkpoint interval below the slide", []Option{WithCheckpoint("CKPT")}, func(c *Context) {
			s := InputStream[Pair[string, int]](c, "in", emptyInput{})
			ReduceByKeyAndWindow(s, add, sub, 4*time.Second, 2*time.Second).Checkpoint(time.Second).Print()
		}, ErrInvalidDuration},
		{"a valid checkpoint interval", []Option{WithCheckpoint("CKPT")}, func(c *Context) {
			s := InputStream[Pair[string, int]](c, "in", emptyInput{})
			state(c, s).Checkpoint(3 * time.Second).Print()
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]Option{WithClock(NewManualClock(time.UnixMilli(0))), WithLogger(quietLogger)}, tc.opts...)
			c, err := NewContext(time.Second, replaceCkpt(opts, t.TempDir())...)
			mustNoErr(t, err, "NewContext")
			t.Cleanup(func() { _ = c.Stop(context.Background(), Hard) })
			tc.build(c)
			err = c.Start()
			if tc.want == nil {
				mustNoErr(t, err, "Start")
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v, want %v", err, tc.want)
			}
		})
	}
}

// replaceCkpt is opts with a checkpoint in dir instead of "CKPT".
func replaceCkpt(opts []Option, dir string) []Option {
	probe := defaultConfig(time.Second)
	out := make([]Option, 0, len(opts))
	for _, o := range opts {
		var cfg config = probe
		if o.apply(&cfg) == nil && cfg.ckptRaw != "" && strings.HasSuffix(cfg.ckptRaw, "CKPT") {
			out = append(out, WithCheckpoint(dir))
			continue
		}
		out = append(out, o)
	}
	return out
}

// emptyInput is a Recoverable input with nothing in it.
type emptyInput struct{}

func (emptyInput) Start(context.Context) error { return nil }
func (emptyInput) Stop()                       {}
func (emptyInput) Generate(context.Context, time.Time) (*InputBatch[Pair[string, int]], error) {
	return &InputBatch[Pair[string, int]]{}, nil
}
func (emptyInput) SavePosition() ([]byte, error) { return nil, nil }
func (emptyInput) RestorePosition([]byte) error  { return nil }
func (emptyInput) Rebuild(time.Time, []byte) (*InputBatch[Pair[string, int]], error) {
	return &InputBatch[Pair[string, int]]{}, nil
}

// jsonCodec is a pluggable state codec for the tests.
type jsonCodec struct{}

func (jsonCodec) Name() string                    { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)   { return json.Marshal(v) }
func (jsonCodec) Unmarshal(d []byte, v any) error { return json.Unmarshal(d, v) }

// TestCheckpointStateCodec: a pluggable codec writes and restores the
// state; restoring with another codec is an error naming both.
func TestCheckpointStateCodec(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j1 := newWordJob(t, dir, log, 0, jobShape{codec: jsonCodec{}})
	j1.h.start()
	log.append("x y x")
	j1.h.step()
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Graceful), "stop")
	data, err := os.ReadFile(filepath.Join(dir, "state-1000"))
	mustNoErr(t, err, "read state")
	if !bytes.Contains(data, []byte(`{"Key":"x","Value":2}`)) {
		t.Errorf("the state file does not hold the JSON-encoded state: %q", data)
	}

	j2 := newWordJob(t, dir, log, time.Second, jobShape{codec: jsonCodec{}})
	j2.h.start()
	log.append("x")
	j2.h.step()
	if got := pairsMap(mustAt(t, j2.totals, 2000)); got["x"] != 3 || got["y"] != 1 {
		t.Errorf("totals = %v, want x=3 y=1", got)
	}
	mustNoErr(t, j2.h.ssc.Stop(context.Background(), Graceful), "stop")

	j3 := newWordJob(t, dir, log, 2*time.Second, jobShape{})
	if err := j3.h.ssc.Start(); err == nil || !strings.Contains(err.Error(), "json") || !strings.Contains(err.Error(), "gob") {
		t.Errorf("Start with another codec = %v, want an error naming json and gob", err)
	}
}

// FuzzDecodeCheckpoint: no input makes the checkpoint decoders panic, and
// what they accept re-encodes to the same sections.
func FuzzDecodeCheckpoint(f *testing.F) {
	meta, _ := json.Marshal(ckptMeta{Interval: 1e9, Time: 5e9, Stateful: []opSig{{"totals", "updateStateByKey", "dstream.Pair[string,int]"}},
		Inputs: []inputCkpt{{Name: "lines", Position: []byte("12"), Batches: []batchCkpt{{Time: 5e9, Desc: []byte(`{"From":1,"Until":12}`)}}}}})
	f.Add(encodeCheckpoint(ckptKindMeta, []section{{"meta", meta}}))
	sm, _ := json.Marshal(stateMeta{Time: 5e9, Ops: []stateOpRef{{"totals", 5e9, "gob"}}})
	f.Add(encodeCheckpoint(ckptKindState, []section{{"meta", sm}, {"op:totals", []byte{1, 2, 3}}}))
	f.Add([]byte("DSCKPT"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeMeta(data)
		_, _ = decodeState(data)
		for _, kind := range []uint8{ckptKindMeta, ckptKindState} {
			secs, err := decodeCheckpoint(data, kind)
			if err != nil {
				if !errIsCheckpoint(err) {
					t.Fatalf("error %v is neither ErrCheckpointCorrupt nor ErrCheckpointVersion", err)
				}
				continue
			}
			if again := encodeCheckpoint(kind, secs); !bytes.Equal(again, data) {
				t.Fatalf("decoded %d sections that re-encode differently", len(secs))
			}
		}
	})
}

// TestGracefulStopTimeoutDefault pins Spark's default graceful stop
// timeout: 10 batch intervals.
func TestGracefulStopTimeoutDefault(t *testing.T) {
	for _, iv := range []time.Duration{time.Second, 200 * time.Millisecond, 2 * time.Second} {
		if got := defaultConfig(iv).gracefulTimeout; got != 10*iv {
			t.Errorf("interval %v: graceful stop timeout %v, want %v", iv, got, 10*iv)
		}
	}
}

// TestCheckpointMapWithState: MapWithState's state, with the time of each
// key's last data (for timeouts), survives a restart.
func TestCheckpointMapWithState(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	build := func(at time.Duration) (*harness, *sink[Pair[string, int]]) {
		clk := NewManualClock(time.Unix(0, int64(at)))
		c, err := NewContext(time.Second, WithClock(clk), WithLogger(quietLogger), WithCheckpoint(dir))
		mustNoErr(t, err, "NewContext")
		t.Cleanup(func() { _ = c.Stop(context.Background(), Hard) })
		lines := InputStream[string](c, "lines", &logInput{log: log})
		pairs := Map(lines, func(w string) Pair[string, int] { return KV(w, 1) })
		running := MapWithState(pairs, StateSpec[string, int, int, Pair[string, int]]{
			Func: func(_ time.Time, k string, v Optional[int], st *State[int]) (Pair[string, int], bool) {
				n := v.Value
				if old, err := st.Get(); err == nil {
					n += old
				}
				_ = st.Update(n)
				return KV(k, n), true
			},
		})
		running.Named("running")
		h := &harness{t: t, clock: clk, ssc: c, interval: time.Second}
		return h, collect(t, running.Stream)
	}
	h1, _ := build(0)
	h1.start()
	for _, w := range []string{"x", "y", "x"} {
		log.append(w)
		h1.step()
	}
	mustNoErr(t, h1.ssc.Stop(context.Background(), Graceful), "stop")
	h2, k2 := build(3 * time.Second)
	h2.start()
	log.append("x", "y")
	h2.step()
	if got := pairsMap(mustAt(t, k2, 4000)); got["x"] != 3 || got["y"] != 2 {
		t.Errorf("after the restart x=%d y=%d, want 3 and 2", got["x"], got["y"])
	}
}
