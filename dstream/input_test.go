package dstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeInput is an Input whose batches are scripted per batch number (from
// 1): each batch k has parts[k] partitions holding "k/p/i" strings.
type fakeInput struct {
	parts     map[int]int // batch number -> partitions; missing = no batch
	records   int64       // Records reported; -1 = counted by the engine
	genErr    map[int]error
	readErr   map[int]error
	startErr  error
	interval  time.Duration
	mu        sync.Mutex
	started   int
	stopped   int
	generated []int64 // batch times (ms) Generate saw, in order
	done      map[int64]error
	doneOrder []int64
}

func (f *fakeInput) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started++
	return f.startErr
}

func (f *fakeInput) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped++
}

func (f *fakeInput) Generate(_ context.Context, t time.Time) (*InputBatch[string], error) {
	k := int(t.UnixMilli() / f.interval.Milliseconds())
	f.mu.Lock()
	f.generated = append(f.generated, t.UnixMilli())
	f.mu.Unlock()
	if err := f.genErr[k]; err != nil {
		return nil, err
	}
	n, ok := f.parts[k]
	if !ok {
		return nil, nil
	}
	return &InputBatch[string]{
		Partitions: n,
		Records:    f.records,
		Metadata:   map[string]any{"batch": k},
		Read: func(_ context.Context, p int) ([]string, error) {
			if err := f.readErr[k]; err != nil {
				return nil, err
			}
			out := make([]string, p+1)
			for i := range out {
				out[i] = fmt.Sprintf("%d/%d/%d", k, p, i)
			}
			return out, nil
		},
		Done: func(err error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.done == nil {
				f.done = map[int64]error{}
			}
			f.done[t.UnixMilli()] = err
			f.doneOrder = append(f.doneOrder, t.UnixMilli())
		},
	}, nil
}

// completedInfos records BatchInfo of completed batches.
type completedInfos struct {
	mu    sync.Mutex
	infos []BatchInfo
}

func (c *completedInfos) OnBatchCompleted(b BatchInfo) {
	c.mu.Lock()
	c.infos = append(c.infos, b)
	c.mu.Unlock()
}

func (c *completedInfos) all() []BatchInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.infos)
}

func TestInputStreamBatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records int64
		want    []int64 // NumRecords reported per batch 1..3
	}{
		{"records known at Generate", 42, []int64{42, 42}},
		{"records counted when read", -1, []int64{3, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			infos := &completedInfos{}
			h := newHarness(t, time.Second, WithListener(infos))
			in := &fakeInput{parts: map[int]int{1: 2, 3: 3}, records: tc.records, interval: time.Second}
			s := InputStream[string](h.ssc, "fake", in)
			if got := s.Name(); got != "fake#1" {
				t.Errorf("name = %q, want fake#1", got)
			}
			k := collect(t, s)
			h.start()
			if in.started != 1 {
				t.Fatalf("Start called %d times, want 1", in.started)
			}
			h.steps(3)

			if got, want := k.seen(), []int64{1000, 3000}; !slices.Equal(got, want) {
				t.Fatalf("output saw batches %v, want %v (batch 2 has none)", got, want)
			}
			b1, _ := k.at(1000)
			if want := []string{"1/0/0", "1/1/0", "1/1/1"}; !slices.Equal(b1, want) {
				t.Errorf("batch 1 = %v, want %v", b1, want)
			}
			if k.parts[3000] != 3 {
				t.Errorf("batch 3 has %d partitions, want 3", k.parts[3000])
			}
			in.mu.Lock()
			gen := slices.Clone(in.generated)
			doneOrder := slices.Clone(in.doneOrder)
			in.mu.Unlock()
			if want := []int64{1000, 2000, 3000}; !slices.Equal(gen, want) {
				t.Errorf("Generate saw %v, want %v", gen, want)
			}
			if want := []int64{1000, 3000}; !slices.Equal(doneOrder, want) {
				t.Errorf("Done called for %v, want %v", doneOrder, want)
			}
			var got []int64
			for _, b := range infos.all() {
				for _, in := range b.Inputs {
					got = append(got, in.NumRecords)
					if in.Metadata["batch"] == nil {
						t.Errorf("batch %v: metadata lost: %v", b.BatchTime, in.Metadata)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("NumRecords per batch = %v, want %v", got, tc.want)
			}
			mustNoErr(t, h.ssc.Stop(context.Background(), Graceful), "Stop")
			if in.stopped != 1 {
				t.Errorf("Stop called %d times, want 1", in.stopped)
			}
		})
	}
}

func TestInputStreamDoneGetsOutputError(t *testing.T) {
	h := newHarness(t, time.Second)
	in := &fakeInput{parts: map[int]int{1: 1, 2: 1}, records: -1, interval: time.Second}
	s := InputStream[string](h.ssc, "fake", in)
	boom := errors.New("sink down")
	mustNoErr(t, s.ForEachBatch(func(_ context.Context, b *Batch[string]) error {
		if b.Time.UnixMilli() == 2000 {
			return boom
		}
		return nil
	}), "ForEachBatch")
	h.start()
	h.step()
	if err := h.stepErr(); !errors.Is(err, boom) {
		t.Fatalf("batch 2 error = %v, want %v", err, boom)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err, ok := in.done[1000]; !ok || err != nil {
		t.Errorf("Done(batch 1) = %v (called %v), want nil", err, ok)
	}
	if err := in.done[2000]; !errors.Is(err, boom) {
		t.Errorf("Done(batch 2) = %v, want an error wrapping %v", err, boom)
	}
}

func TestInputStreamErrors(t *testing.T) {
	genErr := errors.New("listing failed")
	readErr := errors.New("fetch failed")
	for _, tc := range []struct {
		name string
		in   *fakeInput
		want error
	}{
		{"Generate error stops the context", &fakeInput{parts: map[int]int{1: 1}, genErr: map[int]error{1: genErr}}, genErr},
		{"Read error fails the batch", &fakeInput{parts: map[int]int{1: 2}, readErr: map[int]error{1: readErr}}, readErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second)
			tc.in.interval = time.Second
			collect(t, InputStream[string](h.ssc, "fake", tc.in))
			h.start()
			err := h.stepErr()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			var be *BatchError
			if !errors.As(err, &be) || be.Time.UnixMilli() != 1000 {
				t.Errorf("error %v is not a BatchError at 1000 ms", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.ssc.AwaitTermination(ctx); !errors.Is(err, tc.want) {
				t.Errorf("AwaitTermination = %v, want %v", err, tc.want)
			}
			tc.in.mu.Lock()
			defer tc.in.mu.Unlock()
			if tc.in.stopped != 1 {
				t.Errorf("input stopped %d times, want 1", tc.in.stopped)
			}
		})
	}
}

func TestInputStreamStartError(t *testing.T) {
	h := newHarness(t, time.Second)
	refused := errors.New("no brokers")
	ok := &fakeInput{parts: map[int]int{}, interval: time.Second}
	bad := &fakeInput{startErr: refused, interval: time.Second}
	collect(t, InputStream[string](h.ssc, "ok", ok))
	collect(t, InputStream[string](h.ssc, "bad", bad))
	err := h.ssc.Start()
	if !errors.Is(err, refused) {
		t.Fatalf("Start = %v, want %v", err, refused)
	}
	if got := h.ssc.State(); got != StateStopped {
		t.Errorf("state after a failed Start = %v, want STOPPED", got)
	}
	if ok.started != 1 || ok.stopped != 1 {
		t.Errorf("the input started before the failing one: started %d, stopped %d; want 1, 1", ok.started, ok.stopped)
	}
}

func TestInputStreamValidation(t *testing.T) {
	h := newHarness(t, time.Second)
	s := InputStream[string](h.ssc, "", nil)
	if !errors.Is(s.Err(), ErrInvalidOption) {
		t.Errorf("nil input: Err = %v, want ErrInvalidOption", s.Err())
	}
	q := QueueStream(h.ssc, NewQueue[int]())
	cause := fmt.Errorf("%w: bad topic", ErrInvalidOption)
	if got := FailStream(q, cause); got != q || !errors.Is(q.Err(), cause) {
		t.Errorf("FailStream: Err = %v, want %v", q.Err(), cause)
	}
	q.Print()
	if err := h.ssc.Start(); !errors.Is(err, cause) {
		t.Errorf("Start = %v, want the stream's error", err)
	}
}

func TestInputStreamBadBatch(t *testing.T) {
	h := newHarness(t, time.Second)
	collect(t, InputStream[string](h.ssc, "bad", badInput{}))
	h.start()
	if err := h.stepErr(); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("a batch with partitions and no Read: error = %v, want ErrInvalidOption", err)
	}
}

type badInput struct{}

func (badInput) Start(context.Context) error { return nil }
func (badInput) Stop()                       {}
func (badInput) Generate(context.Context, time.Time) (*InputBatch[string], error) {
	return &InputBatch[string]{Partitions: 2}, nil
}

// A window whose slide is longer than the batch interval reads the input's
// batches at its own times; the batches in between are read when they run,
// so none is lost and each Done follows its read.
func TestInputStreamUnderLongerSlide(t *testing.T) {
	infos := &completedInfos{}
	h := newHarness(t, time.Second, WithListener(infos))
	in := &fakeInput{parts: map[int]int{1: 1, 2: 1, 3: 1, 4: 1}, records: -1, interval: time.Second}
	k := collect(t, InputStream[string](h.ssc, "fake", in).Window(2*time.Second, 2*time.Second))
	h.start()
	h.steps(4)
	for ms, want := range map[int64][]string{2000: {"1/0/0", "2/0/0"}, 4000: {"3/0/0", "4/0/0"}} {
		got, _ := k.at(ms)
		if !slices.Equal(got, want) {
			t.Errorf("window at %d ms = %v, want %v", ms, got, want)
		}
	}
	var counts []int64
	for _, b := range infos.all() {
		for _, in := range b.Inputs {
			counts = append(counts, in.NumRecords)
		}
	}
	if want := []int64{1, 1, 1, 1}; !slices.Equal(counts, want) {
		t.Errorf("NumRecords per batch = %v, want %v", counts, want)
	}
}
