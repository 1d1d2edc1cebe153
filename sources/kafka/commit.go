package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Offset commits to the consumer group: queued by completed batches (or
// CommitAsync) and committed during the next batch's generation, when
// partitions are revoked, or at Stop.

// CommitAsync queues the ranges' end offsets for commit to the group, as
// Spark's commitAsync does: the commit runs during the next batch's
// generation (or at Stop), committing per partition the largest Until
// queued, and then calls the callback passed with the last CommitAsync
// before it (the earlier callbacks are not called). Use it with
// ManualCommit, from an output operation, after the batch's output is
// stored.
func (d *DirectStream) CommitAsync(ranges []OffsetRange, callback func(offsets map[TopicPartition]int64, err error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queueLocked(ranges)
	d.commitCb = callback
}

func (d *DirectStream) queueLocked(ranges []OffsetRange) {
	for _, r := range ranges {
		tp := r.TopicPartition()
		if r.Until > d.commits[tp] {
			d.commits[tp] = r.Until
		}
	}
}

// flushCommits commits the queued offsets: through the group member under
// Subscribe, or as a simple commit to the group under Assign.
func (d *DirectStream) flushCommits(ctx context.Context) {
	d.mu.Lock()
	if len(d.commits) == 0 {
		d.mu.Unlock()
		return
	}
	offsets, cb := d.commits, d.commitCb
	d.commits, d.commitCb = map[TopicPartition]int64{}, nil
	d.mu.Unlock()

	err := d.commit(ctx, offsets)
	if err != nil && d.ctx.Err() != nil {
		d.log.Warn("kafka: committing offsets at stop failed; the next run reads the batches after the group's last commit again", "group", d.cfg.group, "offsets", fmt.Sprint(offsets), "error", err)
	} else if err != nil {
		d.log.Warn("kafka: committing offsets failed; they are committed with the next batch's", "group", d.cfg.group, "error", err)
		d.ssc.ReportHealth(d.commitsComponent(), err)
		d.mu.Lock()
		for tp, o := range offsets {
			if st := d.parts[tp]; st != nil && st.owned && o > d.commits[tp] {
				d.commits[tp] = o
			}
		}
		d.mu.Unlock()
	} else {
		d.log.Debug("kafka: offsets committed", "group", d.cfg.group, "offsets", fmt.Sprint(offsets))
		d.ssc.ReportHealth(d.commitsComponent(), nil)
	}
	if cb != nil {
		cb(offsets, err)
	}
}

func (d *DirectStream) commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	if d.cfg.group == "" {
		return errors.New("kafka: no consumer group to commit to: use Group")
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	if _, ok := d.strat.(assign); ok {
		var os kadm.Offsets
		for tp, o := range offsets {
			os.AddOffset(tp.Topic, tp.Partition, o, -1)
		}
		resp, err := d.adm.CommitOffsets(ctx, d.cfg.group, os)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	m := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range offsets {
		if m[tp.Topic] == nil {
			m[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		m[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var cerr error
	d.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = errors.Join(cerr, fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, err))
				}
			}
		}
	})
	return cerr
}

// commitsComponent names the group's offset commits in the context's
// health (dstream.Context.ReportHealth): while commits fail, every batch
// is degraded, a restart would read the batches since the last commit
// again, and WithMaxOutage fails the job once it lasts too long.
func (d *DirectStream) commitsComponent() string {
	return "kafka commits to group " + d.cfg.group
}
