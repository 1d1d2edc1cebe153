package dstream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// Checkpoints. A context with a checkpoint directory (WithCheckpoint,
// GetOrCreate) writes two kinds of files there, each atomically (a
// temporary name, then a rename):
//
//   - checkpoint-<ms>, at every batch, before the batch runs: the batch
//     interval and zero time, the latest generated and completed batches,
//     the stateful operators, and every input's position (Kafka offsets,
//     the file source's remembered files) with what each remembered or
//     pending batch held (offset ranges, file names), so that those
//     batches can be rebuilt exactly.
//   - state-<ms>, after the batch at that time completed, every state
//     checkpoint interval: the state of every stateful operator, by name.
//
// and the lock file "lock" while the context runs (lock.go). Start moves
// checkpoint-* and state-* files into discarded-<ms>/ only when
// WithCheckpointReset asks.
//
// On start, a context whose directory holds a checkpoint resumes from it:
// the state is restored, the batches between the state and the last
// completed batch are recomputed for the state only, the batches that were
// pending are run again, and the batches missed while the job was down are
// generated.

const (
	metaPrefix  = "checkpoint-"
	statePrefix = "state-"
	// metaKept and stateKept are how many files of each kind are kept.
	metaKept  = 3
	stateKept = 2
)

// WithCheckpoint sets the checkpoint directory, a path or storage URI
// (file:///..., or hdfs://... with its driver imported). The context saves
// its progress and state there and, when started with a checkpoint
// already there, resumes from it (see GetOrCreate). Stateful operators
// need a checkpoint directory unless WithInMemoryState is given.
//
// One job at a time: Start takes the directory's lock, the file "lock"
// created exclusively (on storage that cannot, such as a driver without
// storage.ExclusiveCreator, the job runs unlocked after a warning), and
// holds it until the context stops. The file records the holder's host
// name, process id, start time and a heartbeat the holder refreshes every
// quarter of the lock timeout (WithCheckpointLockTimeout, default 60 s);
// the machines sharing a directory must have distinct host names. A Start
// finding the lock held fails with a *CheckpointLockedError
// (ErrCheckpointLocked) naming the holder; a lock whose holder is gone is
// taken over with a warning: its process is not running on this host (a
// job killed with SIGKILL restarts at once), or its heartbeat is older
// than the lock timeout (a job on another host that died). A running job
// that finds its lock taken over or removed stops with
// ErrCheckpointLocked.
//
// A checkpoint is never dropped silently: Start fails with
// ErrCheckpointUnusable, changing nothing in the directory, when the
// checkpoint there was written with another batch interval or format
// version (also ErrCheckpointVersion), none of its checkpoint files (or,
// with stateful operators, none of its state files) can be read, the
// directory cannot be listed, or the stateful operators changed (also
// ErrGraphChanged); an unreadable newest file with an older readable one
// only logs a warning. To start afresh, give WithCheckpointReset or use
// an empty directory.
//
// A checkpoint that cannot be written fails the batch: the context stops
// with a *BatchError whose Op is "checkpoint".
func WithCheckpoint(dir string) Option {
	return optionFunc(func(c *config) error {
		if dir == "" {
			return fmt.Errorf("%w: empty checkpoint directory", ErrInvalidOption)
		}
		fsys, p, err := storage.Open(dir)
		if err != nil {
			return fmt.Errorf("%w: checkpoint directory %q: %w", ErrInvalidOption, dir, err)
		}
		c.ckptFS, c.ckptDir, c.ckptURI = fsys, p, storage.Redact(dir)
		return nil
	})
}

// WithCheckpointReset starts the job afresh on its checkpoint directory:
// Start moves every checkpoint-* and state-* file there, of a checkpoint
// that cannot be used or is not wanted, into a new subdirectory
// discarded-<Unix ms> (logged), and the job starts as on an empty
// directory. Without it, a checkpoint that cannot be used fails Start
// with ErrCheckpointUnusable and nothing in the directory is changed.
func WithCheckpointReset() Option {
	return optionFunc(func(c *config) error { c.ckptReset = true; return nil })
}

// WithInMemoryState lets stateful operators run without a checkpoint
// directory: their state lives in memory only and is lost when the
// process ends.
func WithInMemoryState() Option {
	return optionFunc(func(c *config) error { c.inMemoryState = true; return nil })
}

// WithStateCodec sets the Codec of every stateful operator that has no
// StateCodec of its own. Default: GobCodec.
func WithStateCodec(codec Codec) Option {
	return optionFunc(func(c *config) error {
		if codec == nil {
			return fmt.Errorf("%w: nil state codec", ErrInvalidOption)
		}
		c.codec = codec
		return nil
	})
}

// Checkpoint sets how often the state of this stateful stream is saved:
// a positive multiple of its slide. The default is Spark's: the slide times
// ceil(10 s / slide), and 10 batch intervals for MapWithState. The context
// saves the state of all its stateful streams together, at the shortest
// of their intervals. It returns s.
func (s *Stream[T]) Checkpoint(interval time.Duration) *Stream[T] {
	if s == nil || s.n.err != nil {
		return s
	}
	n := s.n
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.buildableLocked(); err != nil {
		n.failLocked(err)
		return s
	}
	if interval <= 0 || int64(interval)%n.slide != 0 {
		n.failLocked(fmt.Errorf("%w: checkpoint interval %v must be a positive multiple of the stream's slide %v", ErrInvalidDuration, interval, time.Duration(n.slide)))
		return s
	}
	n.checkpointInterval = int64(interval)
	return s
}

// GetOrCreate returns a context that checkpoints to dir (Spark's
// StreamingContext.getOrCreate). setup builds the job's graph on it, every
// time: Go cannot save functions, so the code rebuilds the graph and the
// checkpoint restores where every input was and the state of every
// stateful operator, found by name (give them stable names with Named).
// When dir holds a checkpoint, its stateful operators must match the
// graph's (names, kinds and types; stateless operators may change),
// otherwise GetOrCreate returns an error wrapping ErrGraphChanged that
// names them, and the batch interval must be the checkpoint's. Start then
// resumes the job where the checkpoint left it.
func GetOrCreate(dir string, interval time.Duration, setup func(*Context) error, opts ...Option) (*Context, error) {
	if setup == nil {
		return nil, fmt.Errorf("GetOrCreate: %w", ErrNilFunc)
	}
	c, err := NewContext(interval, append(slices.Clone(opts), WithCheckpoint(dir))...)
	if err != nil {
		return nil, err
	}
	if err := setup(c); err != nil {
		_ = c.Stop(context.Background(), Hard)
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ckpt.load(); err != nil {
		c.state = StateStopped
		c.terminateLocked()
		return nil, err
	}
	if err := c.ckpt.checkGraphLocked(); err != nil {
		c.state = StateStopped
		c.terminateLocked()
		return nil, err
	}
	return c, nil
}

// Recovered reports whether the context resumes (or resumed) from a
// checkpoint, and the time of the last batch the checkpoint had completed.
// Before Start it reads the checkpoint directory to tell (Start reads it
// again once it holds the directory's lock); a checkpoint that cannot
// be used, or does not match the graph built so far, reports false here,
// and Start returns the error.
func (c *Context) Recovered() (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ckpt == nil {
		return false, time.Time{}
	}
	if c.state == StateInitialized {
		// An error is kept for Start to return.
		if c.ckpt.load() != nil || c.ckpt.checkGraphLocked() != nil {
			return false, time.Time{}
		}
	}
	if c.ckpt.restored == nil {
		return false, time.Time{}
	}
	return true, timeOf(c.ckpt.restored.completed)
}

// ckptMeta is the metadata section of a checkpoint file.
type ckptMeta struct {
	Interval  int64       `json:"interval_ns"`
	Zero      int64       `json:"zero_ns"`
	Time      int64       `json:"time_ns"`      // the batch generated with this checkpoint
	Completed int64       `json:"completed_ns"` // the latest completed batch
	Stateful  []opSig     `json:"stateful"`
	Inputs    []inputCkpt `json:"inputs"`
}

// opSig identifies a stateful operator.
type opSig struct {
	Name string `json:"name"`
	Op   string `json:"op"`
	Type string `json:"type"`
}

func (o opSig) String() string { return fmt.Sprintf("%s (%s of %s)", o.Name, o.Op, o.Type) }

// inputCkpt is what an input stream saves.
type inputCkpt struct {
	Name     string      `json:"name"`
	Position []byte      `json:"position,omitempty"`
	Batches  []batchCkpt `json:"batches,omitempty"`
}

// batchCkpt describes what one batch of an input held.
type batchCkpt struct {
	Time int64  `json:"time_ns"`
	Desc []byte `json:"desc"`
}

// stateMeta is the metadata section of a state file.
type stateMeta struct {
	Time int64        `json:"time_ns"`
	Ops  []stateOpRef `json:"ops"`
}

type stateOpRef struct {
	Name  string `json:"name"`
	Last  int64  `json:"last_ns"`
	Codec string `json:"codec"`
}

// checkpointInput is implemented by inputs that can be checkpointed.
type checkpointInput interface {
	// ckptSave returns the input's position and the descriptions of its
	// batches with times after horizon.
	ckptSave(horizon int64) (inputCkpt, error)
	// ckptRestore restores them before the context starts.
	ckptRestore(inputCkpt) error
	// recoverable reports whether the input's batches can be rebuilt;
	// queue streams' cannot.
	recoverable() bool
	// regenerate rebuilds the batch at t from a restored description, for
	// a batch that was pending when the job stopped. ok is false when the
	// input has no description of it.
	regenerate(t int64) (InputInfo, func(error), bool)
}

// checkpointer writes and reads the checkpoint directory.
type checkpointer struct {
	c    *Context
	fsys storage.FS
	dir  string

	mu            sync.Mutex // serializes writes of each kind
	stateInterval int64
	stateTime     atomic.Int64 // the latest state file written
	oldestState   atomic.Int64 // the oldest state file kept

	restored *restoredCheckpoint
	loaded   bool  // load ran
	loadErr  error // why the checkpoint cannot be used

	lock *dirLock // the directory's lock, while this context holds it
}

// restoredCheckpoint is what Start resumes from.
type restoredCheckpoint struct {
	meta      ckptMeta
	state     *stateFile // nil: no state file
	completed int64      // the latest batch known complete
}

type stateFile struct {
	meta     stateMeta
	sections []section
}

// ckptFile is a file of the checkpoint directory.
type ckptFile struct {
	name string
	t    int64 // batch time (ms)
}

// list returns the directory's files with the prefix, newest first.
func (k *checkpointer) list(ctx context.Context, prefix string) ([]ckptFile, error) {
	entries, err := k.fsys.List(ctx, k.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ckptFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name, prefix)
		if !ok || e.IsDir {
			continue
		}
		ms, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			continue // a temporary file, or someone else's
		}
		out = append(out, ckptFile{name: e.Name, t: ms})
	}
	slices.SortFunc(out, func(a, b ckptFile) int { return int(b.t - a.t) })
	return out, nil
}

func (k *checkpointer) read(ctx context.Context, name string) ([]byte, error) {
	r, err := k.fsys.Open(ctx, k.dir+"/"+name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

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
func (k *checkpointer) writeMeta(t int64) error {
	c := k.c
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
	return k.write(metaPrefix, t, encodeCheckpoint(ckptKindMeta, []section{{"meta", data}}), metaKept)
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
func (k *checkpointer) writeState(t int64) error {
	c := k.c
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
		err = k.write(statePrefix, t, encodeCheckpoint(ckptKindState, secs), stateKept)
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
