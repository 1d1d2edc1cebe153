package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetSource is the input whose offsets a Transactional sink commits:
// the Kafka direct stream the sink's stream is derived from, batch by
// batch (not through windows, which mix batches). Offsets makes one of a
// *kafka.DirectStream and its group.
//
// A source may also implement GroupMember, to commit as its group member,
// and AutoCommit() bool, reporting whether it commits its offsets itself
// after each batch: Transactional refuses such a source.
type OffsetSource interface {
	// OffsetRanges returns the offset ranges of the source's batch at t,
	// from an output operation of that batch. The sink commits each
	// range's Until.
	OffsetRanges(t time.Time) []kafka.OffsetRange
	// ConsumerGroup returns the group to commit the offsets to.
	ConsumerGroup() string
}

// GroupMember is implemented by sources that are members of their
// consumer group. The sink then commits offsets as that member
// (KIP-447): a commit made under a generation the group has moved past
// fails with ILLEGAL_GENERATION and the transaction aborts, so a member
// that lost its partitions in a rebalance cannot commit them.
type GroupMember interface {
	// GroupMetadata returns the member ID and generation of the source's
	// group member, or "" and -1 when it is not a member (yet).
	GroupMetadata() (memberID string, generation int32)
}

// RangeSource is a source of offset ranges, such as *kafka.DirectStream.
type RangeSource interface {
	OffsetRanges(t time.Time) []kafka.OffsetRange
}

// Offsets returns the OffsetSource of a direct stream that commits to
// group, which must be the stream's Group. If ranges implements
// GroupMember, so does the result.
func Offsets(ranges RangeSource, group string) OffsetSource {
	o := sourceOffsets{RangeSource: ranges, group: group}
	if m, ok := ranges.(GroupMember); ok {
		return memberOffsets{o, m}
	}
	return o
}

// autoCommitter is implemented by sources that say whether they commit
// their offsets themselves after each batch, which a transactional sink
// must not be combined with.
type autoCommitter interface {
	AutoCommit() bool
}

// unwrap returns the source that Offsets wrapped, or src.
func unwrap(src OffsetSource) any {
	switch s := src.(type) {
	case sourceOffsets:
		return s.RangeSource
	case memberOffsets:
		return s.RangeSource
	}
	return src
}

type sourceOffsets struct {
	RangeSource
	group string
}

func (s sourceOffsets) ConsumerGroup() string { return s.group }

type memberOffsets struct {
	sourceOffsets
	GroupMember
}

// txnState is what a Transactional sink keeps across batches.
//
// A transaction that includes offsets is ended so: the records are
// produced with the franz-go client's transaction (BeginTransaction,
// Produce, Flush, EndTransaction); the offsets are added with
// AddOffsetsToTxn and TxnOffsetCommit requests that the sink sends itself
// on that client, with the client's transactional ID and producer ID and
// epoch, because franz-go only commits offsets in a transaction for the
// group its own client consumes as (GroupTransactSession), while here the
// direct stream's client is the group member. The client is kept on the
// transaction protocol from before KIP-890 part 2 (see maxTxnVersion),
// where the producer epoch stays the same across transactions and the
// group is added to the transaction explicitly, so the requests the sink
// sends and the client's own stay consistent. A transaction that commits
// offsets but produced no record is ended with an EndTxn request of the
// sink's, since franz-go ends only transactions it produced in.
type txnState struct {
	id     string
	src    OffsetSource
	member GroupMember // nil: commits as a non-member (generation -1)

	mu        sync.Mutex
	committed map[kafka.TopicPartition]int64 // offsets this sink committed last
}

func newTxnState(id string, src OffsetSource) *txnState {
	t := &txnState{id: id, src: src, committed: map[kafka.TopicPartition]int64{}}
	if m, ok := src.(GroupMember); ok {
		t.member = m
	}
	return t
}

// offsets returns the offsets to commit with the batch at bt: each
// range's Until, for the partitions whose offset this sink has not
// committed yet (an idle partition is committed once).
func (t *txnState) offsets(bt time.Time) map[kafka.TopicPartition]int64 {
	if t.src == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[kafka.TopicPartition]int64{}
	for _, r := range t.src.OffsetRanges(bt) {
		tp := r.TopicPartition()
		if c, ok := t.committed[tp]; ok && c >= r.Until {
			continue
		}
		if cur, ok := out[tp]; !ok || r.Until > cur {
			out[tp] = r.Until
		}
	}
	return out
}

func (t *txnState) done(offsets map[kafka.TopicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, o := range offsets {
		t.committed[tp] = o
	}
}

// endTimeout bounds ending a transaction. Once the sink has decided to
// commit or abort, it does so even if a hard stop cancels the batch's
// context meanwhile, so that the outcome is known.
const endTimeout = 30 * time.Second

// commitTxn ends the batch's transaction: once its records are settled
// (see settle) and flushed, it adds the source's offsets and commits, or
// aborts if anything failed.
func (b *batch[T]) commitTxn(ctx context.Context) error {
	s, cl := b.s, b.cl
	err := b.settle(ctx)
	if err == nil && b.produced.Load() == 0 && len(b.offsets) == 0 {
		// Nothing to commit: franz-go ends the empty transaction
		// without a request.
		if err = s.commitTxn(ctx, cl, false, false); err != nil {
			s.discard(cl)
		}
		return err
	}
	if err == nil {
		if ferr := cl.Flush(ctx); ferr != nil {
			err = fmt.Errorf("kafkasink: flushing the transaction's records: %w", ferr)
		}
	}
	offsetsAdded := false
	if err == nil && len(b.offsets) > 0 {
		offsetsAdded = true
		err = s.txn.addOffsets(ctx, cl, b.offsets)
	}
	if h := s.cfg.hooks; err == nil && h != nil {
		if h.abandon != nil && h.abandon(b.t, cl) {
			s.abandon(cl)
			return errors.New("kafkasink: test: transaction abandoned")
		}
		if h.beforeCommit != nil {
			err = h.beforeCommit(ctx, b.t)
		}
	}
	if err == nil {
		err = ctx.Err() // a hard stop aborts rather than commits
	}
	produced := b.acked.Load() > 0
	if err == nil {
		if err = s.commitTxn(ctx, cl, produced, offsetsAdded); err == nil {
			s.txn.done(b.offsets)
			// settle saw every record settled: the transaction holds
			// those acknowledged, which are visible now.
			s.records.Add(b.acked.Load())
			s.bytes.Add(b.ackedBytes())
			return nil
		}
	}
	s.abortTxn(ctx, cl, produced, offsetsAdded)
	return err
}

// commitTxn commits the open transaction. franz-go ends a transaction it
// produced records in; one that only holds offsets the sink ends itself.
func (s *Sink[T]) commitTxn(ctx context.Context, cl *kgo.Client, produced, offsetsAdded bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("kafkasink: committing the transaction: %w", err)
	}
	if !produced && offsetsAdded {
		if err := s.txn.end(ctx, cl, true); err != nil {
			return fmt.Errorf("kafkasink: committing the transaction: %w", err)
		}
	}
	return nil
}

// abortTxn aborts the open transaction, even if ctx is done. If that
// fails, the client is discarded: the next batch's client fences it and
// its open transaction is aborted then.
func (s *Sink[T]) abortTxn(ctx context.Context, cl *kgo.Client, produced, offsetsAdded bool) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	err := cl.AbortBufferedRecords(actx)
	if eerr := cl.EndTransaction(actx, kgo.TryAbort); eerr != nil {
		err = errors.Join(err, eerr)
	}
	if offsetsAdded && !produced {
		if eerr := s.txn.end(actx, cl, false); eerr != nil {
			err = errors.Join(err, eerr)
		}
	}
	if err != nil {
		s.log.Warn("kafkasink: aborting the transaction failed; the next producer with this transactional ID aborts it", "transactional_id", s.txn.id, "error", err)
		s.discard(cl)
	}
}

// addOffsets adds the group's offsets to the client's open transaction:
// AddOffsetsToTxn, then TxnOffsetCommit.
func (t *txnState) addOffsets(ctx context.Context, cl *kgo.Client, offsets map[kafka.TopicPartition]int64) error {
	group := t.src.ConsumerGroup()
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("kafkasink: the producer ID: %w", err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID = t.id
	add.ProducerID = pid
	add.ProducerEpoch = epoch
	add.Group = group
	err = retryTxn(ctx, func() error {
		resp, err := add.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	if err != nil {
		return fmt.Errorf("kafkasink: adding the offsets of group %q to the transaction: %w", group, err)
	}

	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID = t.id
	req.Group = group
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	req.MemberID, req.Generation = "", -1
	if t.member != nil {
		req.MemberID, req.Generation = t.member.GroupMetadata()
	}
	byTopic := map[string]int{}
	for _, tp := range sortedTPs(offsets) {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.Topic] = i
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.Offset = offsets[tp]
		rp.LeaderEpoch = -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	err = retryTxn(ctx, func() error {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		var errs error
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				perr := kerr.ErrorForCode(rp.ErrorCode)
				if perr == nil {
					continue
				}
				if retriable(perr) {
					return perr // the whole request is sent again
				}
				errs = errors.Join(errs, fmt.Errorf("%s-%d: %w", rt.Topic, rp.Partition, perr))
			}
		}
		return errs
	})
	if err != nil {
		return fmt.Errorf("kafkasink: committing offsets of group %q in the transaction: %w", group, err)
	}
	return nil
}

// end sends EndTxn for a transaction that franz-go does not know holds
// anything: one that only committed offsets.
func (t *txnState) end(ctx context.Context, cl *kgo.Client, commit bool) error {
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("the producer ID: %w", err)
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = t.id
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	req.Commit = commit
	return retryTxn(ctx, func() error {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
}

// retriable reports whether a transaction request may be sent again:
// CONCURRENT_TRANSACTIONS (the coordinator is still completing the
// previous transaction) and Kafka's retriable errors.
func retriable(err error) bool {
	return errors.Is(err, kerr.ConcurrentTransactions) || kerr.IsRetriable(err)
}

// txnRetryTimeout bounds the retries of one transaction request.
const txnRetryTimeout = 30 * time.Second

// retryTxn runs f until it succeeds, fails with an error that is not
// retriable, or ctx ends or txnRetryTimeout passes, backing off between
// tries.
func retryTxn(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, txnRetryTimeout)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		err := f()
		if err == nil || !retriable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
