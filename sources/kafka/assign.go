package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
)

// Partition assignment: where assigned partitions start (group
// assignment under Subscribe and SubscribePattern, the fixed partitions of
// Assign), and letting partitions go when a rebalance revokes or loses
// them.

// onAssigned fixes where newly assigned partitions start. A partition
// this stream has read before (taken away by a rebalance, or lost when the
// group forgot the member, as after a broker restart) resumes after the
// last range the stream generated for it: the batches generated before
// the loss still read their ranges and commit them, so the group's commit
// lags behind and starting there would read those batches twice. The
// group's commit wins only when it is further on, which means another
// member read the partition meanwhile. With several copies of a job in
// one group, a partition taken away waits for this stream's batches in
// flight (onRevoked, RevokeTimeout), so its next owner starts after them;
// what a member read past its last commit when it crashed or was fenced is
// still read again by the next owner (at-least-once), never skipped. A partition new to the stream starts at
// the checkpoint's offset (RestorePosition, or the group's commit if
// further), else StartingOffsets, else the group's commit, else
// ResetOffset. It runs before fetching the partitions begins.
func (d *DirectStream) onAssigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	if !d.waitReady(ctx) {
		return nil, ctx.Err()
	}
	want := map[TopicPartition]int64{}
	d.mu.Lock()
	for topic, ps := range offsets {
		for p, o := range ps {
			tp := TopicPartition{topic, p}
			committed := o.EpochOffset().Offset // negative: no commit
			var at int64
			if st, ok := d.parts[tp]; ok {
				at = max(st.next, committed)
			} else if r, ok := d.restored[tp]; ok {
				at = max(r, committed)
			} else if s, ok := d.cfg.starting[tp]; ok {
				at = s
			} else if committed >= 0 {
				at = committed
			} else {
				at = d.cfg.reset
			}
			want[tp] = at
		}
	}
	d.mu.Unlock()
	resumeStart := time.Now()
	fromStores, err := d.resumeStores(ctx, slices.Collect(maps.Keys(want)))
	restore := time.Since(resumeStart)
	if err != nil {
		d.log.Warn("kafka: the outputs' stores cannot say where the assigned partitions start; the group tries again", "error", err)
		return nil, err
	}
	maps.Copy(want, fromStores)
	exact, err := d.resolve(ctx, want)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]kgo.Offset{}
	d.mu.Lock()
	for tp, at := range exact {
		if _, ok := fromStores[tp]; !ok {
			if st, ok := d.parts[tp]; ok && st.next > at {
				at = st.next // a batch generated since the lookup above
				exact[tp] = at
			}
		}
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[int32]kgo.Offset{}
		}
		out[tp.Topic][tp.Partition] = kgo.NewOffset().At(at).WithEpoch(-1)
		d.parts[tp] = &partState{start: at, next: at, fetched: at, owned: true, notify: make(chan struct{}, 1)}
	}
	owned := d.ownedLocked()
	d.mu.Unlock()
	d.log.Info("kafka: partitions assigned", "partitions", fmt.Sprint(sortedKeys(exact)))
	d.ssc.ReportPartitions(dstream.PartitionsChange{Input: d.s.Name(), Event: "assigned",
		Partitions: names(sortedKeys(exact)), Owned: owned, Restore: restore})
	return out, nil
}

// resolve turns Earliest and Latest into offsets.
func (d *DirectStream) resolve(ctx context.Context, want map[TopicPartition]int64) (map[TopicPartition]int64, error) {
	exact := map[TopicPartition]int64{}
	topics := map[int64]map[string]bool{}
	for tp, at := range want {
		if at >= 0 {
			exact[tp] = at
			continue
		}
		if topics[at] == nil {
			topics[at] = map[string]bool{}
		}
		topics[at][tp.Topic] = true
	}
	for at, set := range topics {
		ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		var listed kadm.ListedOffsets
		var err error
		if at == Earliest {
			listed, err = d.adm.ListStartOffsets(ctx, slices.Sorted(maps.Keys(set))...)
		} else {
			listed, err = d.adm.ListEndOffsets(ctx, slices.Sorted(maps.Keys(set))...)
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("kafka: listing offsets to start from: %w", err)
		}
		for tp, w := range want {
			if w != at {
				continue
			}
			o, ok := listed.Lookup(tp.Topic, tp.Partition)
			if !ok || o.Err != nil {
				return nil, fmt.Errorf("kafka: listing the offset of %v to start from: %v", tp, o.Err)
			}
			exact[tp] = o.Offset
		}
	}
	return exact, nil
}

// assignOnce resolves the partitions of the Assign strategy and adds them
// to the client, retrying at each batch until it succeeds.
func (d *DirectStream) assignOnce(ctx context.Context, a assign) {
	d.mu.Lock()
	done := d.assigned
	d.mu.Unlock()
	if done {
		return
	}
	want := map[TopicPartition]int64{}
	var committed kadm.OffsetResponses
	if d.cfg.group != "" {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		var err error
		// Stable offsets: a restart waits for a transaction (of a
		// transactional sink) that is committing offsets to the group.
		committed, err = d.adm.FetchOffsets(kadm.RequireStable(cctx), d.cfg.group)
		cancel()
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = nil // a group that never committed
		}
		if err != nil {
			d.log.Warn("kafka: fetching the group's committed offsets failed; retrying next batch", "group", d.cfg.group, "error", err)
			return
		}
	}
	for _, tp := range a.tps {
		want[tp] = d.cfg.reset
		if o, ok := committed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At >= 0 {
			want[tp] = o.At
		}
		if s, ok := d.cfg.starting[tp]; ok {
			want[tp] = s
		}
		if r, ok := d.restored[tp]; ok {
			want[tp] = r
			if o, ok := committed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At > r {
				want[tp] = o.At // another reader of the group has gone further
			}
		}
	}
	resumeStart := time.Now()
	fromStores, err := d.resumeStores(ctx, a.tps)
	restore := time.Since(resumeStart)
	if err != nil {
		d.log.Warn("kafka: asking the outputs' stores where the assigned partitions start failed; retrying next batch", "error", err)
		return
	}
	maps.Copy(want, fromStores)
	exact, err := d.resolve(ctx, want)
	if err != nil {
		d.log.Warn("kafka: resolving the assigned partitions failed; retrying next batch", "error", err)
		return
	}
	add := map[string]map[int32]kgo.Offset{}
	d.mu.Lock()
	for tp, at := range exact {
		if add[tp.Topic] == nil {
			add[tp.Topic] = map[int32]kgo.Offset{}
		}
		add[tp.Topic][tp.Partition] = kgo.NewOffset().At(at)
		d.parts[tp] = &partState{start: at, next: at, fetched: at, owned: true, notify: make(chan struct{}, 1)}
	}
	d.assigned = true
	owned := d.ownedLocked()
	d.mu.Unlock()
	d.cl.AddConsumePartitions(add)
	d.log.Info("kafka: partitions assigned", "partitions", fmt.Sprint(sortedKeys(exact)))
	d.ssc.ReportPartitions(dstream.PartitionsChange{Input: d.s.Name(), Event: "assigned",
		Partitions: names(sortedKeys(exact)), Owned: owned, Restore: restore})
}

// onRevoked stops cutting ranges of the revoked partitions, waits for
// the batches in flight that hold ranges of them (RevokeTimeout), commits
// what the completed batches consumed from them, then lets them go.
func (d *DirectStream) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if d.waitReady(ctx) {
		d.mu.Lock()
		for topic, ps := range revoked {
			for _, p := range ps {
				if st := d.parts[TopicPartition{topic, p}]; st != nil && st.owned {
					st.revoking = true
				}
			}
		}
		d.mu.Unlock()
		d.awaitInFlight(ctx, revoked)
		d.flushCommits(ctx)
		d.release(revoked, "revoked")
		d.releaseStores(ctx, revoked, true)
	}
}

// storeConcurrency is how many partitions the stores of ResumeFrom are
// asked about at once: each question is a few round trips to the store.
const storeConcurrency = 8

// resumeStores asks the stores of ResumeFrom where the partitions tps
// start: for each partition, the lowest next offset that a store
// recorded. A partition no store has a record of is left out.
func (d *DirectStream) resumeStores(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	out := map[TopicPartition]int64{}
	if len(d.cfg.stores) == 0 || len(tps) == 0 {
		return out, nil
	}
	start := time.Now()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(storeConcurrency)
	for _, tp := range tps {
		for _, st := range d.cfg.stores {
			g.Go(func() error {
				next, ok, err := st.Resume(gctx, tp.Topic, tp.Partition)
				if err != nil {
					return fmt.Errorf("kafka: resuming %v from %v: %w", tp, st, err)
				}
				if !ok {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if at, seen := out[tp]; !seen || next < at {
					out[tp] = next
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	d.log.Info("kafka: partitions resumed from the outputs' stores", "partitions", fmt.Sprint(sortedKeys(out)),
		"took", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// releaseStores tells the stores of ResumeFrom that the partitions in m
// are no longer this stream's. At Stop, leaving the group revokes every
// partition after the last batch: the stores commit what they hold
// before another member can own the partitions.
func (d *DirectStream) releaseStores(ctx context.Context, m map[string][]int32, commit bool) {
	if len(d.cfg.stores) == 0 {
		return
	}
	for topic, ps := range m {
		for _, p := range ps {
			for _, st := range d.cfg.stores {
				if err := st.Release(ctx, topic, p, commit); err != nil {
					d.log.Warn("kafka: releasing a partition in an output's store failed; its next owner reads what the store did not keep again",
						"partition", TopicPartition{topic, p}.String(), "store", fmt.Sprint(st), "error", err)
				}
			}
		}
	}
}

// awaitInFlight waits, up to the revoke timeout, until no batch that was
// generated and has not finished holds records of the revoked partitions.
// It does not wait when the stream is stopping: Stop bounds that itself.
func (d *DirectStream) awaitInFlight(ctx context.Context, revoked map[string][]int32) {
	if d.ctx.Err() != nil {
		return
	}
	deadline := time.NewTimer(d.cfg.revokeTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n := d.inFlight(revoked)
		if n == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			d.log.Warn("kafka: batches holding revoked partitions did not finish within the revoke timeout; "+
				"the partitions are released, and their next owner may read those batches' ranges again",
				"batches", n, "revoke_timeout", d.cfg.revokeTimeout)
			return
		case <-ctx.Done():
			return
		case <-d.ctx.Done():
			return
		}
	}
}

// inFlight counts the batches not finished that hold records of the
// partitions in m.
func (d *DirectStream) inFlight(m map[string][]int32) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, ranges := range d.ranges {
		for _, r := range ranges {
			if r.Count() > 0 && slices.Contains(m[r.Topic], r.Partition) {
				n++
				break
			}
		}
	}
	return n
}

// onLost lets partitions go without committing: the group has moved on.
func (d *DirectStream) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	if d.waitReady(ctx) {
		d.release(lost, "lost")
		d.releaseStores(ctx, lost, false)
	}
}

// waitReady waits until Start has set up the client: the client's group
// callbacks can run before kgo.NewClient has returned.
func (d *DirectStream) waitReady(ctx context.Context) bool {
	select {
	case <-d.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *DirectStream) release(m map[string][]int32, how string) {
	var tps []TopicPartition
	d.mu.Lock()
	for topic, ps := range m {
		for _, p := range ps {
			tp := TopicPartition{topic, p}
			st := d.parts[tp]
			if st == nil || !st.owned {
				continue
			}
			st.owned = false
			delete(d.commits, tp)
			tps = append(tps, tp)
			select { // wake a read waiting for records that will not come
			case st.notify <- struct{}{}:
			default:
			}
		}
	}
	slices.SortFunc(tps, compareTP)
	d.revoked = append(d.revoked, tps...)
	owned := d.ownedLocked()
	d.mu.Unlock()
	if len(tps) > 0 {
		d.ssc.ReportPartitions(dstream.PartitionsChange{Input: d.s.Name(), Event: how, Partitions: names(tps), Owned: owned})
	}
	switch {
	case len(tps) == 0:
	case d.ctx.Err() != nil: // leaving the group at Stop
		d.log.Debug("kafka: partitions released", "partitions", fmt.Sprint(tps))
	default:
		d.log.Warn("kafka: partitions "+how+" by a rebalance", "partitions", fmt.Sprint(tps))
	}
}

func sortedKeys(m map[TopicPartition]int64) []TopicPartition {
	return slices.SortedFunc(maps.Keys(m), compareTP)
}

// ownedLocked returns the names of the partitions the stream owns, in
// order; d.mu is held.
func (d *DirectStream) ownedLocked() []string {
	var tps []TopicPartition
	for tp, st := range d.parts {
		if st.owned {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, compareTP)
	return names(tps)
}

// names returns the partitions' names, "topic-partition".
func names(tps []TopicPartition) []string {
	out := make([]string, len(tps))
	for i, tp := range tps {
		out[i] = tp.String()
	}
	return out
}
