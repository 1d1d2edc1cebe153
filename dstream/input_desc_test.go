package dstream

import (
	"testing"
	"time"
)

// descsKept returns how many batch descriptions the context's first
// direct input holds.
func descsKept[T any](t *testing.T, c *Context) int {
	t.Helper()
	d, ok := c.directs[0].(*directInput[T])
	if !ok {
		t.Fatalf("the first direct input is a %T", c.directs[0])
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.descs)
}

// A direct input's batch descriptions are kept for checkpoints only:
// without a checkpoint directory none pile up, one per batch; with one,
// the checkpoint drops those it no longer needs.
func TestInputDescriptionsDoNotPileUp(t *testing.T) {
	for _, ckpt := range []bool{false, true} {
		t.Run(map[bool]string{false: "no checkpoint", true: "checkpoint"}[ckpt], func(t *testing.T) {
			var opts []Option
			if ckpt {
				opts = append(opts, WithCheckpoint(t.TempDir()))
			}
			h := newHarness(t, time.Second, opts...)
			log := &memLog{}
			in := InputStream[string](h.ssc, "lines", &logInput{log: log})
			k := collect(t, in)
			h.start()
			const batches = 30
			for i := range batches {
				log.append("line", "line")
				h.step()
				if got, _ := k.at(h.ms(i + 1)); len(got) != 2 {
					t.Fatalf("batch %d read %v, want two lines", i+1, got)
				}
			}
			n := descsKept[string](t, h.ssc)
			if !ckpt && n != 0 {
				t.Fatalf("%d descriptions kept after %d batches without a checkpoint directory, want 0", n, batches)
			}
			if ckpt && (n == 0 || n > 3) {
				t.Fatalf("%d descriptions kept after %d batches with a checkpoint, want the last one to three", n, batches)
			}
		})
	}
}
