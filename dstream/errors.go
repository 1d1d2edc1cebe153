package dstream

import (
	"errors"
	"fmt"
	"time"
)

// Lifecycle errors. Compare with errors.Is.
var (
	// ErrContextStarted is returned when a stream or output operation is
	// added to a context that has already been started.
	ErrContextStarted = errors.New("dstream: context already started; add streams and output operations before Start")

	// ErrContextStopped is returned when a stopped context is started again,
	// or when a stream or output operation is added to it.
	ErrContextStopped = errors.New("dstream: context has been stopped and cannot be restarted")

	// ErrNoOutputOperations is returned by Start when no output operation
	// (Print, ForEachBatch, SaveAsTextFiles, ...) was registered: a job
	// without outputs would compute nothing.
	ErrNoOutputOperations = errors.New("dstream: no output operations registered, so nothing to execute")

	// ErrNotStarted is returned by operations that need a started context,
	// such as Slice.
	ErrNotStarted = errors.New("dstream: context has not been started")

	// ErrNilFunc is the cause of a BuildError for an operation given a nil
	// function.
	ErrNilFunc = errors.New("dstream: nil function")

	// ErrNilStream is the cause of a BuildError for an operation given a nil
	// stream.
	ErrNilStream = errors.New("dstream: nil stream")

	// ErrInvalidDuration is returned for a batch interval, window length,
	// slide or timeout that is not positive or not a whole number of
	// milliseconds.
	ErrInvalidDuration = errors.New("dstream: invalid duration")

	// ErrInvalidWindow is the cause of a BuildError for a window whose length
	// or slide is not a positive multiple of the parent stream's slide.
	ErrInvalidWindow = errors.New("dstream: invalid window")

	// ErrSlideMismatch is the cause of a BuildError when streams with
	// different slide durations are combined (Union, joins, TransformWith).
	ErrSlideMismatch = errors.New("dstream: streams have different slide durations")

	// ErrContextMismatch is the cause of a BuildError when streams of
	// different contexts are combined.
	ErrContextMismatch = errors.New("dstream: streams belong to different contexts")

	// ErrInvalidOption is the cause of a BuildError for an operator option
	// that is out of range or does not apply to the operator.
	ErrInvalidOption = errors.New("dstream: invalid option")

	// ErrPartitionOutOfRange fails a batch in which a Partitioner given
	// with PartitionBy (or StateSpec.Partitioner) placed a key outside
	// [0, NumPartitions()).
	ErrPartitionOutOfRange = errors.New("dstream: partitioner returned a partition out of range")

	// ErrDuplicateName is returned by Start when two streams were given the
	// same name with Named.
	ErrDuplicateName = errors.New("dstream: duplicate stream name")

	// ErrReceiverStopped is returned by ReceiverHost.Store and StoreSlice
	// once the receiver has been stopped.
	ErrReceiverStopped = errors.New("dstream: receiver stopped")

	// ErrNoState is returned by State.Get when the state does not exist.
	ErrNoState = errors.New("dstream: state is not set")

	// ErrStateRemoved is returned by State.Update and State.Remove after the
	// state has been removed in the same call.
	ErrStateRemoved = errors.New("dstream: state has already been removed")

	// ErrStateTimingOut is returned by State.Update and State.Remove when the
	// state is timing out: a timing-out state is removed by the engine.
	ErrStateTimingOut = errors.New("dstream: state is timing out and cannot be updated or removed")

	// ErrCheckpointRequired is returned by Start when the graph has
	// stateful operators (UpdateStateByKey, MapWithState, the inverse form
	// of ReduceByKeyAndWindow) and neither WithCheckpoint nor
	// WithInMemoryState was given, as Spark requires a checkpoint
	// directory for them.
	ErrCheckpointRequired = errors.New("dstream: stateful operators need a checkpoint directory: use WithCheckpoint, or WithInMemoryState to keep their state in memory only")

	// ErrNotCheckpointable is returned by Start when checkpointing is on and
	// an input stream cannot be recovered from a checkpoint (QueueStream,
	// whose queued data is not kept).
	ErrNotCheckpointable = errors.New("dstream: stream cannot be checkpointed")

	// ErrCheckpointVersion is returned when a checkpoint was written in a
	// format version this build does not read.
	ErrCheckpointVersion = errors.New("dstream: unsupported checkpoint format version")

	// ErrCheckpointCorrupt is returned for a checkpoint file that is
	// truncated, has a bad checksum or does not parse.
	ErrCheckpointCorrupt = errors.New("dstream: corrupt checkpoint file")

	// ErrGraphChanged is returned when a checkpoint's stateful operators do
	// not match the graph being recovered; the error names them.
	ErrGraphChanged = errors.New("dstream: the stateful operators changed since the checkpoint")

	// ErrCheckpointLocked is returned by Start when another job holds the
	// checkpoint directory's lock (the error is then a
	// *CheckpointLockedError naming it, or says that the lock file cannot
	// be read), and stops a running context whose lock another job took
	// over. See WithCheckpoint.
	ErrCheckpointLocked = errors.New("dstream: the checkpoint directory is locked by another job")

	// ErrCheckpointUnusable is returned by Start (and GetOrCreate) when
	// the checkpoint directory holds a checkpoint that cannot be used: it
	// was written with another batch interval or format version, none of
	// its checkpoint files (or, with stateful operators, none of its state
	// files) can be read, the directory cannot be listed, or the graph's
	// stateful operators changed (also ErrGraphChanged). The error says
	// why and what to do. Nothing in the directory is changed; to start
	// afresh, use WithCheckpointReset or an empty directory.
	ErrCheckpointUnusable = errors.New("dstream: the checkpoint cannot be used")

	// ErrStopTimeout is returned by Stop when a graceful stop did not finish
	// within the graceful stop timeout and the context was stopped hard.
	ErrStopTimeout = errors.New("dstream: graceful stop timed out; stopped without finishing pending batches")
)

// BuildError reports an operation that could not be added to the graph:
// a nil function, an invalid window, streams that cannot be combined, or
// a context that was already started. Transformations never fail at the
// call site; the returned stream carries the error, which Stream.Err, every
// output operation on the stream and Context.Start report.
type BuildError struct {
	Op  string // the operation, e.g. "reduceByKeyAndWindow"
	Err error  // the cause, usually one of the Err* sentinels
}

func (e *BuildError) Error() string { return fmt.Sprintf("dstream: %s: %v", e.Op, e.Err) }

// Unwrap returns the cause.
func (e *BuildError) Unwrap() error { return e.Err }

// BatchError reports a batch that failed: an output operation returned an
// error, a transformation panicked, a stateful operator detected misuse,
// or the batch's checkpoint could not be written (Op "checkpoint": the
// checkpoint written before the batch runs, which then never runs, or
// the state saved after it). A failed batch stops the context;
// AwaitTermination and Run return the error.
type BatchError struct {
	Time time.Time // the batch time
	Op   string    // the operator or output operation that failed
	Err  error     // the cause
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("dstream: batch %d ms: %s: %v", e.Time.UnixMilli(), e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// PanicError is the cause of a BatchError when a user function panicked.
// The engine recovers the panic so that one bad function fails its batch
// instead of crashing the process.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack of the panicking goroutine
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
