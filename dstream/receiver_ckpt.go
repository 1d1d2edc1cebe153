package dstream

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/microbatch-go/microbatch/internal/wal"
	"github.com/microbatch-go/microbatch/storage"
)

// Receivers and checkpoints. Without a write-ahead log a receiver's
// blocks live only in memory: after a restart, the batches that were
// pending are empty and what was received but not processed is lost, as
// with Spark's receivers without a WAL. With WithWriteAheadLog every block
// is written to a log under the checkpoint directory, and synced, before
// it is held (and before StoreSlice returns); the checkpoint records
// which log records each batch holds, so that after a restart pending
// batches are rebuilt from the log and the blocks no batch had taken yet
// go into the first new batch.

// WithWriteAheadLog makes every receiver write the blocks it stores to a
// write-ahead log in the checkpoint directory before they are held
// (Spark's spark.streaming.receiver.writeAheadLog.enable): a reliable
// receiver that acknowledges its source after StoreSlice returns then
// loses nothing in a crash. It needs WithCheckpoint with a directory on
// local disk. Storing gets slower by a disk sync per block; concurrent
// blocks share syncs.
func WithWriteAheadLog() Option {
	return optionFunc(func(c *config) error { c.wal = true; return nil })
}

// receiverLog is a receiver stream's write-ahead log and what the
// checkpoint knows of it.
type receiverLog struct {
	log       *wal.Log
	lastAlloc uint64             // the highest record any generated batch took
	descs     map[int64][]uint64 // batch time -> the records it holds
}

// receiverPosition is the saved position of a receiver stream.
type receiverPosition struct {
	LastAllocated uint64 `json:"last_allocated"`
}

func (rs *receiverStream[T]) recoverable() bool { return rs.c.cfg.wal }

// openLog opens the stream's write-ahead log (at Start, after the
// checkpoint was restored) and queues the blocks that no batch had taken.
func (rs *receiverStream[T]) openLog() error {
	c := rs.c
	if !c.cfg.wal {
		return nil
	}
	if c.ckpt == nil || c.cfg.ckptFS != storage.Local() {
		return fmt.Errorf("%w: the write-ahead log needs WithCheckpoint with a directory on local disk", ErrInvalidOption)
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == 0 {
			return '_'
		}
		return r
	}, rs.s.n.name)
	dir := filepath.Join(filepath.FromSlash(c.cfg.ckptDir), "receivedData", name)
	codec := c.cfg.codec
	l, err := wal.Open(dir, wal.Codec(codec.Name()))
	if err != nil {
		return fmt.Errorf("dstream: the write-ahead log of %s: %w", rs.s.n.name, err)
	}
	if rep := l.Recovery(); rep.Truncated != nil {
		rs.reportError("the write-ahead log had a torn or corrupt tail, which was cut off: "+rep.String(), fmt.Errorf("%w: %s", wal.ErrCorrupt, rep.Truncated.Reason))
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.log == nil {
		rs.log = &receiverLog{descs: map[int64][]uint64{}}
	}
	rs.log.log = l
	// Blocks stored but in no generated batch: the first batch takes them.
	replayed := 0
	err = l.Scan(rs.log.lastAlloc+1, func(seq uint64, payload []byte) error {
		var block []T
		if err := codec.Unmarshal(payload, &block); err != nil {
			return fmt.Errorf("record %d: %w", seq, err)
		}
		rs.blocks = append(rs.blocks, block)
		rs.seqs = append(rs.seqs, seq)
		rs.countLocked(block)
		rs.waiting.blocks++
		replayed += len(block)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dstream: replaying the write-ahead log of %s: %w", rs.s.n.name, err)
	}
	if replayed > 0 {
		c.log.Info("dstream: replaying records from the write-ahead log", "receiver", rs.name, "records", replayed)
	}
	return nil
}

// closeLog closes the write-ahead log after the receiver has stopped.
func (rs *receiverStream[T]) closeLog() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.log != nil && rs.log.log != nil {
		if err := rs.log.log.Close(); err != nil {
			rs.c.log.Warn("dstream: closing the write-ahead log", "receiver", rs.name, "error", err)
		}
	}
}

// logBlockLocked writes a block to the write-ahead log, if there is one,
// and returns its record's sequence number. rs.mu must be held, so that
// blocks are held in the order of their records.
func (rs *receiverStream[T]) logBlockLocked(block []T) (uint64, error) {
	if rs.log == nil || rs.log.log == nil {
		return 0, nil
	}
	payload, err := rs.c.cfg.codec.Marshal(block)
	if err != nil {
		return 0, err
	}
	return rs.log.log.Append(payload)
}

// allocateLocked records which log records the batch at t takes.
func (rs *receiverStream[T]) allocateLocked(t int64) {
	if rs.log == nil {
		return
	}
	var seqs []uint64
	for _, seq := range rs.seqs {
		if seq > 0 {
			seqs = append(seqs, seq)
			rs.log.lastAlloc = max(rs.log.lastAlloc, seq)
		}
	}
	rs.seqs = nil
	rs.log.descs[t] = seqs
}

func (rs *receiverStream[T]) ckptSave(horizon int64) (inputCkpt, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.log == nil {
		return inputCkpt{}, nil
	}
	pos, err := json.Marshal(receiverPosition{LastAllocated: rs.log.lastAlloc})
	if err != nil {
		return inputCkpt{}, err
	}
	out := inputCkpt{Position: pos}
	lowest := rs.log.lastAlloc + 1
	for _, seq := range rs.seqs { // stored, not yet in a batch
		if seq > 0 {
			lowest = min(lowest, seq)
		}
	}
	for t, seqs := range rs.log.descs {
		if t <= horizon {
			delete(rs.log.descs, t)
			continue
		}
		desc, err := json.Marshal(seqs)
		if err != nil {
			return inputCkpt{}, err
		}
		out.Batches = append(out.Batches, batchCkpt{Time: t, Desc: desc})
		for _, seq := range seqs {
			lowest = min(lowest, seq)
		}
	}
	slices.SortFunc(out.Batches, func(a, b batchCkpt) int { return cmp.Compare(a.Time, b.Time) })
	// Compaction: the log keeps what a restart could still need.
	if rs.log.log != nil {
		if err := rs.log.log.RemoveBefore(lowest); err != nil {
			rs.c.log.Warn("dstream: compacting the write-ahead log", "receiver", rs.name, "error", err)
		}
	}
	return out, nil
}

func (rs *receiverStream[T]) ckptRestore(in inputCkpt) error {
	var pos receiverPosition
	if len(in.Position) > 0 {
		if err := json.Unmarshal(in.Position, &pos); err != nil {
			return fmt.Errorf("the checkpoint's position: %w", err)
		}
	}
	rl := &receiverLog{lastAlloc: pos.LastAllocated, descs: map[int64][]uint64{}}
	for _, b := range in.Batches {
		var seqs []uint64
		if err := json.Unmarshal(b.Desc, &seqs); err != nil {
			return fmt.Errorf("the checkpoint's batch at %d: %w", b.Time, err)
		}
		rl.descs[b.Time] = seqs
	}
	rs.mu.Lock()
	rs.log = rl
	rs.mu.Unlock()
	return nil
}

// readLogged returns the blocks of the batch at t from the log, if the
// checkpoint described it.
func (rs *receiverStream[T]) readLogged(t int64) (*Batch[T], bool, error) {
	rs.mu.Lock()
	var seqs []uint64
	var l *wal.Log
	ok := false
	if rs.log != nil {
		seqs, ok = rs.log.descs[t]
		l = rs.log.log
	}
	rs.mu.Unlock()
	if !ok || l == nil {
		return nil, false, nil
	}
	b := &Batch[T]{Time: timeOf(t)}
	for _, seq := range seqs {
		payload, err := l.Read(seq)
		if err != nil {
			return nil, false, fmt.Errorf("reading record %d of the write-ahead log: %w", seq, err)
		}
		var block []T
		if err := rs.c.cfg.codec.Unmarshal(payload, &block); err != nil {
			return nil, false, fmt.Errorf("decoding record %d of the write-ahead log: %w", seq, err)
		}
		b.Partitions = append(b.Partitions, block)
	}
	return b, true, nil
}

// regenerate rebuilds a batch that was pending when the job stopped from
// the write-ahead log.
func (rs *receiverStream[T]) regenerate(t int64) (InputInfo, func(error), bool) {
	b, ok, err := rs.readLogged(t)
	if err != nil {
		rs.c.fail(&BatchError{Time: timeOf(t), Op: rs.s.n.name, Err: err})
		return InputInfo{}, nil, false
	}
	if !ok {
		return InputInfo{}, nil, false
	}
	rs.s.put(t, b)
	return InputInfo{StreamID: rs.id, Name: rs.name, NumRecords: int64(b.Len())}, nil, true
}

// computeLogged is the receiver stream's compute: generated batches are
// kept by the stream, so it is called only for a batch from before a
// restart that a window or the state reads again.
func (rs *receiverStream[T]) computeLogged(r *run, t int64) (plan[T], error) {
	b, ok, err := rs.readLogged(t)
	if err != nil || !ok {
		return plan[T]{}, err
	}
	return batchPlan(b), nil
}
