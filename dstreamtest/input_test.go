package dstreamtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

var _ dstream.Recoverable[int] = (*input[int])(nil)

// read returns the partitions of b.
func read[T any](t *testing.T, b *dstream.InputBatch[T]) [][]T {
	t.Helper()
	parts := make([][]T, b.Partitions)
	for p := range parts {
		var err error
		if parts[p], err = b.Read(context.Background(), p); err != nil {
			t.Fatalf("Read(%d): %v", p, err)
		}
	}
	return parts
}

// TestInputRecovers: a batch is described by its index, rebuilt from
// that description with the same records, and the position survives a
// save and restore; descriptions that do not match the time are refused.
func TestInputRecovers(t *testing.T) {
	t.Parallel()
	batches := [][]string{{"a", "b", "c"}, {"d"}}
	in := newInput(batches, 2, 500*time.Millisecond)
	b, err := in.Generate(context.Background(), time.UnixMilli(500))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, b), [][]string{{"a"}, {"b", "c"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batch at 500 ms = %v, want %v", got, want)
	}
	if b.Records != 3 || string(b.Descriptor) != "0" {
		t.Errorf("Records, Descriptor = %d, %q; want 3, \"0\"", b.Records, b.Descriptor)
	}
	pos, err := in.SavePosition()
	if err != nil {
		t.Fatal(err)
	}

	again := newInput(batches, 2, 500*time.Millisecond)
	if err := again.RestorePosition(pos); err != nil || again.next != 1 {
		t.Errorf("RestorePosition(%q) = %v, next %d; want nil, 1", pos, err, again.next)
	}
	rb, err := again.Rebuild(time.UnixMilli(500), b.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, rb), read(t, b); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rebuilt %v, want %v", got, want)
	}
	past, err := again.Rebuild(time.UnixMilli(2500), []byte("4"))
	if err != nil || past.Records != 0 || len(read(t, past)) != 2 {
		t.Errorf("a batch past the inputs: %+v, %v; want 2 empty partitions", past, err)
	}

	for _, tc := range []struct {
		at   int64
		desc string
	}{{500, "1"}, {500, "x"}, {750, "1"}, {0, "-1"}} {
		if _, err := again.Rebuild(time.UnixMilli(tc.at), []byte(tc.desc)); err == nil {
			t.Errorf("Rebuild(%d ms, %q) succeeded", tc.at, tc.desc)
		}
	}
	if err := again.RestorePosition([]byte("x")); err == nil {
		t.Error("RestorePosition(x) succeeded")
	}
	if _, err := again.Generate(context.Background(), time.UnixMilli(750)); err == nil {
		t.Error("Generate at 750 ms, not a batch time, succeeded")
	}
}

// TestInputReadCopies: the engine owns what Read returns, so changing it
// does not change the test's inputs.
func TestInputReadCopies(t *testing.T) {
	t.Parallel()
	batches := [][]int{{1, 2}}
	b, _ := newInput(batches, 1, time.Second).Generate(context.Background(), time.UnixMilli(1000))
	part, _ := b.Read(context.Background(), 0)
	part[0] = 9
	if batches[0][0] != 1 {
		t.Errorf("Read's slice aliases the input: input is now %v", batches)
	}
}
