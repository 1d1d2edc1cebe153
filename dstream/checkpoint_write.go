package dstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// codecOf returns the codec of a stateful node.
func (c *Context) codecOf(n *node) Codec {
	if n.codec != nil {
		return n.codec
	}
	return c.cfg.codec
}

// writeMeta writes the checkpoint of the batch generated at t. It runs on
// the generator goroutine, before the batch is queued; an error means the
// batch must not run.
func (k *checkpointer) writeMeta(t int64) (err error) {
	c := k.c
	start, size := time.Now(), 0
	defer func() { k.report("meta", t, start, size, err) }()
	c.batchMu.Lock()
	completed := c.lastDone
	c.batchMu.Unlock()
	m := ckptMeta{
		Interval:  int64(c.interval),
		Zero:      c.zero,
		Time:      t,
		Completed: completed,
		Stateful:  c.stateful,
	}
	horizon := k.horizon(completed)
	for _, n := range c.inputs {
		ci, ok := n.input.(checkpointInput)
		if !ok || !ci.recoverable() {
			continue
		}
		in, err := ci.ckptSave(horizon)
		if err != nil {
			return fmt.Errorf("saving the position of input %s: %w", n.name, err)
		}
		in.Name = n.name
		m.Inputs = append(m.Inputs, in)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the checkpoint: %w", err)
	}
	file := encodeCheckpoint(ckptKindMeta, []section{{"meta", data}})
	size = len(file)
	return k.write(metaPrefix, t, file, metaKept)
}

// report tells the listeners about a checkpoint write that started at
// start.
func (k *checkpointer) report(kind string, t int64, start time.Time, size int, err error) {
	ci := CheckpointInfo{Kind: kind, BatchTime: timeOf(t), Duration: time.Since(start), Bytes: size, Err: err}
	k.c.emit(func(l Listener) {
		if x, ok := l.(CheckpointWrittenListener); ok {
			x.OnCheckpointWritten(ci)
		}
	})
}

// horizon is the time after which inputs must keep their batch
// descriptions: what the remembered batches and the state's catch-up after
// a restart need.
func (k *checkpointer) horizon(completed int64) int64 {
	h := completed - k.c.maxRemember
	if k.stateInterval == 0 {
		return h
	}
	// After a restart the state is recomputed from the oldest state file
	// kept (if the newer ones cannot be read), or from the start.
	floor := k.oldestState.Load()
	if floor == 0 && k.restored != nil && k.restored.state != nil {
		floor = k.restored.state.meta.Time
	}
	if floor == 0 {
		floor = k.c.zero
	}
	return min(h, floor)
}

// writeState writes the state of every stateful operator as of the batch
// at t, which has completed. It runs on the runner goroutine. Its error,
// a *BatchError, fails the batch.
func (k *checkpointer) writeState(t int64) (err error) {
	c := k.c
	start, size := time.Now(), 0
	defer func() { k.report("state", t, start, size, err) }()
	var secs []section
	var meta stateMeta
	meta.Time = t
	for _, n := range c.nodes {
		if n.store == nil || n.err != nil || !n.reachable {
			continue
		}
		codec := c.codecOf(n)
		data, last, err := n.store.save(codec)
		if err != nil {
			return &BatchError{Time: timeOf(t), Op: n.name, Err: fmt.Errorf("checkpointing the state: %w", err)}
		}
		meta.Ops = append(meta.Ops, stateOpRef{Name: n.name, Last: last, Codec: codec.Name()})
		secs = append(secs, section{name: "op:" + n.name, data: data})
	}
	mdata, err := json.Marshal(meta)
	if err == nil {
		secs = append([]section{{"meta", mdata}}, secs...)
		file := encodeCheckpoint(ckptKindState, secs)
		size = len(file)
		err = k.write(statePrefix, t, file, stateKept)
	}
	if err != nil {
		return &BatchError{Time: timeOf(t), Op: "checkpoint", Err: fmt.Errorf("saving the state: %w", err)}
	}
	k.stateTime.Store(t)
	return nil
}

// write writes one checkpoint file atomically and removes the oldest of
// its kind beyond keep. A failure to write is returned; a failure to
// remove an old file is only logged.
func (k *checkpointer) write(prefix string, t int64, data []byte, keep int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	ctx := context.Background()
	name := fmt.Sprintf("%s%d", prefix, t/int64(time.Millisecond))
	err := k.fsys.MkdirAll(ctx, k.dir)
	if err == nil {
		err = storage.WriteFileAtomic(ctx, k.fsys, k.dir+"/"+name, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("writing %s in %s: %w", name, k.c.cfg.ckptURI, err)
	}
	files, err := k.list(ctx, prefix)
	if err != nil {
		k.c.log.Warn("dstream: listing the checkpoint directory to remove old files failed", "dir", k.c.cfg.ckptURI, "error", err)
		return nil
	}
	if prefix == statePrefix && len(files) > 0 {
		oldest := files[min(len(files), keep)-1].t * int64(time.Millisecond)
		k.oldestState.Store(oldest)
	}
	for _, f := range files[min(len(files), keep):] {
		if err := k.fsys.Remove(ctx, k.dir+"/"+f.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			k.c.log.Warn("dstream: removing an old checkpoint failed", "file", f.name, "error", err)
		}
	}
	return nil
}

// isStateTime reports whether the state is saved after the batch at t.
func (k *checkpointer) isStateTime(t int64) bool {
	return k.stateInterval > 0 && (t-k.c.zero)%k.stateInterval == 0
}
