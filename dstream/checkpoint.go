package dstream

import (
	"context"
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
		c.ckptRaw, c.ckptURI = dir, storage.Redact(dir)
		return nil
	})
}

// WithStorage sets the storage.Opener through which the context opens
// the URIs it opens itself: its checkpoint directory (WithCheckpoint),
// whatever the order of the options, and the prefixes of
// SaveAsTextFiles. The Opener holds the credentials that a URI cannot
// carry, such as a logged-in Kerberos client for hdfs:// on a Kerberized
// cluster. A job opens all its URIs through one Opener, logging in once:
// give it to the connectors too (parquetsink.Storage, file.WithStorage).
// Without it, or with a nil opener, URIs are opened as storage.Open
// opens them.
func WithStorage(opener *storage.Opener) Option {
	return optionFunc(func(c *config) error { c.opener = opener; return nil })
}

// openCheckpoint opens the checkpoint directory that WithCheckpoint set,
// if any, through the Opener of WithStorage; NewContext calls it once
// every option is applied.
func (c *config) openCheckpoint() error {
	if c.ckptRaw == "" {
		return nil
	}
	fsys, p, err := c.opener.Open(c.ckptRaw)
	if err != nil {
		return fmt.Errorf("%w: checkpoint directory %q: %w", ErrInvalidOption, c.ckptURI, err)
	}
	c.ckptFS, c.ckptDir = fsys, p
	return nil
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
