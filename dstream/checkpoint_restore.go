package dstream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// load reads the newest readable checkpoint, if any, once: its result,
// the restored checkpoint or the error that makes it unusable, is kept
// for Start. An unreadable newest checkpoint file is skipped, with a
// warning, for an older readable one; every other problem is an error
// wrapping ErrCheckpointUnusable. With WithCheckpointReset there is
// nothing to load: Start moves the old files aside.
func (k *checkpointer) load() error {
	if k.loaded {
		return k.loadErr
	}
	k.loaded = true
	if k.c.cfg.ckptReset {
		return nil
	}
	k.restored, k.loadErr = k.readCheckpoint(context.Background())
	return k.loadErr
}

// freshAdvice ends the errors of an unusable checkpoint.
const freshAdvice = "or start afresh: WithCheckpointReset moves the old checkpoint aside, or use an empty directory"

// unusableError is the error of a checkpoint that exists but cannot be
// used. It wraps ErrCheckpointUnusable and its cause (ErrCheckpointVersion,
// ErrGraphChanged, a read error, ...).
type unusableError struct {
	dir   string // as the job named it
	msg   string // what is wrong and what to do
	cause error  // may be nil
}

func (e *unusableError) Error() string {
	return "dstream: the checkpoint in " + e.dir + " cannot be used: " + e.msg
}

func (e *unusableError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrCheckpointUnusable}
	}
	return []error{ErrCheckpointUnusable, e.cause}
}

// unusable returns an unusableError for the checkpoint directory.
func (k *checkpointer) unusable(cause error, format string, args ...any) error {
	return &unusableError{dir: k.c.cfg.ckptURI, msg: fmt.Sprintf(format, args...), cause: cause}
}

// open locks the directory and reads the checkpoint for Start: it
// resets the checkpoint first with WithCheckpointReset, reads it again if
// it was read before the lock was held (unless that gave an error, which
// stays), and checks the graph against it. On an error the caller
// releases the lock.
func (k *checkpointer) open() error {
	ctx := context.Background()
	lctx, cancel := context.WithTimeout(ctx, k.c.cfg.startTimeout)
	defer cancel()
	if err := k.acquireLock(lctx); err != nil {
		return err
	}
	if k.c.cfg.ckptReset {
		if err := k.discard(ctx); err != nil {
			return err
		}
	}
	if k.loaded && k.loadErr == nil {
		// Read before the lock was held (Recovered, GetOrCreate): another
		// job may have written since.
		k.loaded, k.restored = false, nil
	}
	if err := k.load(); err != nil {
		return err
	}
	return k.checkGraphLocked()
}

// discard moves every checkpoint and state file of the directory into a
// new subdirectory discarded-<Unix ms>, for WithCheckpointReset.
func (k *checkpointer) discard(ctx context.Context) error {
	entries, err := k.fsys.List(ctx, k.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dstream: resetting the checkpoint in %s: %w", k.c.cfg.ckptURI, err)
	}
	sub := fmt.Sprintf("discarded-%d", time.Now().UnixMilli())
	var moved []string
	for _, e := range entries {
		if e.IsDir || !strings.HasPrefix(e.Name, metaPrefix) && !strings.HasPrefix(e.Name, statePrefix) {
			continue
		}
		if moved == nil {
			if err := k.fsys.MkdirAll(ctx, k.dir+"/"+sub); err != nil {
				return fmt.Errorf("dstream: resetting the checkpoint in %s: %w", k.c.cfg.ckptURI, err)
			}
		}
		if err := k.fsys.Rename(ctx, k.dir+"/"+e.Name, k.dir+"/"+sub+"/"+e.Name); err != nil {
			return fmt.Errorf("dstream: resetting the checkpoint in %s: moving %s into %s: %w", k.c.cfg.ckptURI, e.Name, sub, err)
		}
		moved = append(moved, e.Name)
	}
	if moved != nil {
		k.c.log.Warn("dstream: checkpoint reset: the old checkpoint files were moved aside and the job starts afresh",
			"dir", k.c.cfg.ckptURI, "moved_to", sub, "files", moved)
	}
	return nil
}

// readCheckpoint reads the newest usable checkpoint; nil when the
// directory holds none.
func (k *checkpointer) readCheckpoint(ctx context.Context) (*restoredCheckpoint, error) {
	metas, err := k.list(ctx, metaPrefix)
	if err != nil {
		return nil, k.unusable(err, "listing it failed: %v; check that it can be reached and read", err)
	}
	var meta *ckptMeta
	var firstErr error
	for _, f := range metas {
		m, err := k.readMeta(ctx, f.name)
		if errors.Is(err, ErrCheckpointVersion) {
			return nil, k.unusable(err, "%s: %v; run a build that reads that version, %s", f.name, err, freshAdvice)
		}
		if err != nil {
			k.c.log.Warn("dstream: skipping an unreadable checkpoint file", "file", f.name, "error", err)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		meta = m
		break
	}
	if meta == nil {
		if len(metas) == 0 {
			return nil, nil
		}
		return nil, k.unusable(firstErr, "none of its checkpoint files can be read (%s); the first error: %v; restore them, %s",
			fileNames(metas), firstErr, freshAdvice)
	}
	if meta.Interval != int64(k.c.interval) {
		was, now := time.Duration(meta.Interval), k.c.interval
		return nil, k.unusable(nil, "it was written with a batch interval of %v and the job now has %v; run the job with the batch interval %v, %s",
			was, now, was, freshAdvice)
	}
	rc := &restoredCheckpoint{meta: *meta, completed: meta.Completed}
	states, err := k.list(ctx, statePrefix)
	if err != nil {
		return nil, k.unusable(err, "listing it failed: %v; check that it can be reached and read", err)
	}
	firstErr = nil
	for _, f := range states {
		sf, err := k.readState(ctx, f.name)
		if errors.Is(err, ErrCheckpointVersion) {
			return nil, k.unusable(err, "%s: %v; run a build that reads that version, %s", f.name, err, freshAdvice)
		}
		if err != nil {
			k.c.log.Warn("dstream: skipping an unreadable state file", "file", f.name, "error", err)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		if sf.meta.Time > meta.Time {
			continue // written after a batch the metadata does not know of
		}
		rc.state = sf
		rc.completed = max(rc.completed, sf.meta.Time)
		break
	}
	if rc.state == nil && firstErr != nil && len(meta.Stateful) > 0 {
		return nil, k.unusable(firstErr, "none of its state files can be read (%s) and the job has stateful operators (%s); the first error: %v; restore them, %s",
			fileNames(states), sigNames(meta.Stateful), firstErr, freshAdvice)
	}
	return rc, nil
}

// fileNames lists the names of files for an error message.
func fileNames(files []ckptFile) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// sigNames lists the names of stateful operators for an error message.
func sigNames(sigs []opSig) string {
	names := make([]string, len(sigs))
	for i, s := range sigs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func (k *checkpointer) readMeta(ctx context.Context, name string) (*ckptMeta, error) {
	buf, err := k.read(ctx, name)
	if err != nil {
		return nil, err
	}
	return decodeMeta(buf)
}

// decodeMeta decodes a metadata checkpoint file.
func decodeMeta(buf []byte) (*ckptMeta, error) {
	secs, err := decodeCheckpoint(buf, ckptKindMeta)
	if err != nil {
		return nil, err
	}
	data, ok := find(secs, "meta")
	if !ok {
		return nil, fmt.Errorf("%w: no meta section", ErrCheckpointCorrupt)
	}
	var m ckptMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpointCorrupt, err)
	}
	if m.Interval <= 0 {
		return nil, fmt.Errorf("%w: batch interval %d", ErrCheckpointCorrupt, m.Interval)
	}
	return &m, nil
}

func (k *checkpointer) readState(ctx context.Context, name string) (*stateFile, error) {
	buf, err := k.read(ctx, name)
	if err != nil {
		return nil, err
	}
	return decodeState(buf)
}

// decodeState decodes a state checkpoint file.
func decodeState(buf []byte) (*stateFile, error) {
	secs, err := decodeCheckpoint(buf, ckptKindState)
	if err != nil {
		return nil, err
	}
	data, ok := find(secs, "meta")
	if !ok {
		return nil, fmt.Errorf("%w: no meta section", ErrCheckpointCorrupt)
	}
	var m stateMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpointCorrupt, err)
	}
	for _, op := range m.Ops {
		if _, ok := find(secs, "op:"+op.Name); !ok {
			return nil, fmt.Errorf("%w: no state for operator %q", ErrCheckpointCorrupt, op.Name)
		}
	}
	return &stateFile{meta: m, sections: secs}, nil
}

// signatures returns the stateful operators of the graph that keep state.
func (c *Context) signaturesLocked() []opSig {
	var out []opSig
	for _, n := range c.nodes {
		if n.store != nil && n.err == nil {
			out = append(out, opSig{Name: n.name, Op: n.op, Type: n.store.signature()})
		}
	}
	slices.SortFunc(out, func(a, b opSig) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// checkGraphLocked compares the restored checkpoint's stateful operators
// with the graph's.
func (k *checkpointer) checkGraphLocked() error {
	if k.restored == nil {
		return nil
	}
	have := k.c.signaturesLocked()
	want := k.restored.meta.Stateful
	var problems []string
	for _, w := range want {
		i := slices.IndexFunc(have, func(h opSig) bool { return h.Name == w.Name })
		switch {
		case i < 0:
			problems = append(problems, fmt.Sprintf("%v is in the checkpoint but not in the graph", w))
		case have[i] != w:
			problems = append(problems, fmt.Sprintf("%s was %v and is now %v", w.Name, w, have[i]))
		}
	}
	for _, h := range have {
		if !slices.ContainsFunc(want, func(w opSig) bool { return w.Name == h.Name }) {
			problems = append(problems, fmt.Sprintf("%v is in the graph but not in the checkpoint", h))
		}
	}
	if len(problems) > 0 {
		return k.unusable(ErrGraphChanged, "its stateful operators do not match the job's: %s; name stateful operators with Named so that other changes do not rename them, %s",
			strings.Join(problems, "; "), freshAdvice)
	}
	return nil
}

// restoreLocked applies the loaded checkpoint to the prepared graph: the
// zero time, the inputs' positions and batch descriptions, and the state.
// It returns the batch times whose state must be recomputed before the
// pending batches run, and the pending batches.
func (k *checkpointer) restoreLocked() (catchUp, pending []int64, err error) {
	rc := k.restored
	c := k.c
	c.zero = rc.meta.Zero
	byName := map[string]inputCkpt{}
	for _, in := range rc.meta.Inputs {
		byName[in.Name] = in
	}
	for _, n := range c.inputs {
		ci, ok := n.input.(checkpointInput)
		if !ok || !ci.recoverable() {
			continue
		}
		in, ok := byName[n.name]
		if !ok {
			c.log.Warn("dstream: input not in the checkpoint; it starts afresh", "stream", n.name)
			continue
		}
		if err := ci.ckptRestore(in); err != nil {
			return nil, nil, k.unusable(err, "restoring the position of input %s: %v; %s", n.name, err, freshAdvice)
		}
	}
	stateTime := int64(0)
	if sf := rc.state; sf != nil {
		stateTime = sf.meta.Time
		for _, op := range sf.meta.Ops {
			i := slices.IndexFunc(c.nodes, func(n *node) bool { return n.name == op.Name && n.store != nil })
			if i < 0 {
				continue // checked by checkGraph
			}
			n := c.nodes[i]
			codec := c.codecOf(n)
			if codec.Name() != op.Codec {
				return nil, nil, k.unusable(nil, "the state of %s was written with the %s codec and the operator now uses %s; give it its old codec (StateCodec), %s",
					n.name, op.Codec, codec.Name(), freshAdvice)
			}
			data, _ := find(sf.sections, "op:"+op.Name)
			if err := n.store.load(codec, data, op.Last); err != nil {
				return nil, nil, k.unusable(err, "restoring the state of %s: %v; %s", n.name, err, freshAdvice)
			}
		}
	}
	iv := int64(c.interval)
	hasState := slices.ContainsFunc(c.forced, func(n *node) bool { return n.stateful })
	if hasState && rc.completed > stateTime {
		if stateTime == 0 {
			stateTime = c.zero
		}
		for t := stateTime + iv; t <= rc.completed; t += iv {
			catchUp = append(catchUp, t)
		}
	}
	for t := rc.completed + iv; t <= rc.meta.Time; t += iv {
		pending = append(pending, t)
	}
	return catchUp, pending, nil
}
