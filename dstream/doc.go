// Package dstream is a micro-batch stream processing engine modeled on
// Spark Streaming's discretized streams (DStreams), with no JVM.
//
// A job is a graph of streams. Every batch interval the engine cuts what
// arrived into a batch, runs the graph's transformations over the batch's
// partitions on all cores, and hands the results to the output operations:
//
//	ssc, err := dstream.NewContext(time.Second)
//	lines := dstream.ReceiverStream(ssc, myReceiver)
//	words := dstream.FlatMap(lines, strings.Fields)
//	pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
//	counts := dstream.ReduceByKeyAndWindow(pairs, add, sub, 30*time.Second, 10*time.Second)
//	counts.Print()
//	err = ssc.Run(ctx) // start, run until ctx is done, stop gracefully
//
// # Streams and batches
//
// A Stream[T] has one Batch[T] per slide interval (the batch interval, or
// a window's slide), at times that are multiples of the interval since the
// Unix epoch. A batch is a list of partitions processed in parallel, at
// most WithParallelism at once. Input streams (QueueStream, ReceiverStream
// and connectors built on them) produce batches; transformations
// derive new streams; output operations (Print, ForEachBatch,
// SaveAsTextFiles) consume them. Nothing runs until Context.Start, and only
// what an output operation reaches runs at all.
//
// Operations that change the element type are functions (Map, FlatMap,
// ReduceByKey, Join, ...), since Go methods cannot take type parameters;
// those that keep it are methods (Filter, Union, Window, Count, Print).
// Keyed operations work on Stream[Pair[K, V]].
//
// # Execution
//
// Narrow operations (Map, FlatMap, Filter, MapPartitions, MapValues, ...)
// are fused: a chain of them runs as one loop per partition, with no
// intermediate slices, goroutines or channels per record. Wide operations
// (ReduceByKey, GroupByKey, joins, CountByValue) combine values within each
// input partition, hash keys into output partitions (or place them with a
// Partitioner given with PartitionBy) and merge them in parallel. Batches run one at a time, in order; their output operations
// run in definition order. A batch that is still running when the next one
// is due delays it, which BatchInfo reports as scheduling delay.
//
// # State and windows
//
// UpdateStateByKey and MapWithState keep per-key state across batches;
// windows (Window, ReduceByKeyAndWindow, CountByValueAndWindow, ...) see
// the batches of a sliding time range, and ReduceByKeyAndWindow with an
// inverse function costs the slide, not the window. Each stateful
// operator keeps its state per partition under a stable name (see
// Stream.Named).
//
// # Checkpoints and recovery
//
// With a checkpoint directory (WithCheckpoint, or GetOrCreate) a job
// survives a crash. Before each batch runs, the context saves where every
// input is and what each pending or remembered batch holds (Kafka offset
// ranges, file names, write-ahead log records); every state checkpoint
// interval, after a batch completes, it saves the state of every stateful
// operator by name, with a Codec (GobCodec unless StateCodec or
// WithStateCodec say otherwise). A context started on a directory that
// holds a checkpoint resumes: it restores the state, recomputes it up to
// the last completed batch, runs the batches that were pending again with
// the same data, and generates the batches missed while it was down. File
// outputs named by batch time (SaveAsTextFiles) are replaced by a re-run,
// so each batch's output is written once in effect. Stateful operators
// need a checkpoint directory, or WithInMemoryState; inputs opt in by
// implementing Recoverable. Receivers replay only with WithWriteAheadLog,
// which writes every block to a log, synced, before StoreSlice returns.
//
// A checkpoint directory belongs to one job at a time: Start takes its
// lock, and fails with a *CheckpointLockedError (ErrCheckpointLocked)
// naming the host and process of a job that holds it; the lock of a job
// that is gone (its process is not running on this host, or its
// heartbeat is older than WithCheckpointLockTimeout, 60 s by default) is
// taken over. A checkpoint is never dropped silently: one that cannot be
// used (another batch interval or format version, unreadable files, a
// changed graph) fails Start with ErrCheckpointUnusable and a message
// saying what to do, leaving the directory as it was; WithCheckpointReset
// moves it aside and starts afresh. A checkpoint that cannot be written
// fails its batch, which then does not run, and stops the context.
//
// # Rate control
//
// Receivers have a maximum rate (MaxRate, WithReceiverMaxRate) and a
// queue bounded in records and bytes (WithReceiverQueue); the Kafka direct
// stream a maximum rate per partition. WithBackpressure adapts the rates to the processing speed
// with Spark's PID rate estimator, for receivers and for
// inputs that implement RateControlled.
//
// # Millisecond batches
//
// Batch intervals down to a millisecond work. The defaults follow the
// interval: receivers cut blocks every fifth of it (at most 200 ms), and
// the Kafka direct stream's fetches wait at the broker for half of it
// (10 ms to 500 ms). On Linux, under 100 ms, each tick is waited for on a
// thread of its own, in nanosleep(2) and then watching the clock for its last 80 µs,
// instead of on a Go timer, which wakes through the network poller's
// whole-millisecond waits about half a millisecond late; the idle runner
// is woken just before, so an empty batch costs tens of microseconds from
// its tick to its completion. The bench suite's latency10ms, overhead and
// socket scenarios measure them.
//
// # Errors
//
// Transformations never fail where they are called: an invalid one (a nil
// function, a window that is not a multiple of the slide, a context
// already started) returns a stream carrying a *BuildError, which
// Stream.Err, every output operation on the stream and Context.Start
// report. A batch that fails (an output operation's error, a panic in a
// user function) stops the context with a *BatchError, which
// Context.AwaitTermination and Context.Run return.
//
// # Semantics
//
// The engine follows Spark Streaming's documented behaviour: batch time
// alignment, lifecycle states, Print's exact format, Spark's naming of
// saved batches, updateStateByKey and mapWithState semantics (including
// when timeouts fire), window boundaries, and the listener events and
// BatchInfo delays. Where it differs it says so in the doc comment: a
// union, join or transform with a stream that has no batch at some time
// treats it as empty (or, over one stream, has no batch) instead of
// failing, listener events are delivered for every batch
// time, and inverse windows shorter than their slide are computed
// correctly.
package dstream
