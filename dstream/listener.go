package dstream

import (
	"time"
)

// Listener receives engine events. It is any value implementing one or more
// of the event interfaces below (StreamingStartedListener,
// BatchSubmittedListener, BatchStartedListener, BatchCompletedListener,
// OutputOperationStartedListener, OutputOperationCompletedListener,
// CheckpointWrittenListener, ReceiverStartedListener, ReceiverErrorListener, ReceiverStoppedListener,
// StreamingStoppedListener); the engine checks each with a type assertion,
// so new events never break existing listeners.
//
// Events are delivered synchronously from the engine's goroutines: batch
// events from the batch scheduler, receiver events from the receiver's
// goroutines. Listeners must be fast and safe for concurrent use; a slow
// listener delays batches.
type Listener any

// StreamingStartedListener is told when the context starts.
type StreamingStartedListener interface {
	// OnStreamingStarted receives the time the context started.
	OnStreamingStarted(time.Time)
}

// StreamingStoppedListener is told when the context has stopped.
type StreamingStoppedListener interface {
	// OnStreamingStopped receives the error that stopped the context, or
	// nil after a requested stop.
	OnStreamingStopped(err error)
}

// BatchSubmittedListener is told when a batch has been generated and queued.
type BatchSubmittedListener interface {
	// OnBatchSubmitted receives the batch's info with its inputs and
	// submission time.
	OnBatchSubmitted(BatchInfo)
}

// BatchStartedListener is told when a batch starts processing.
type BatchStartedListener interface {
	// OnBatchStarted receives the batch's info with its processing start time.
	OnBatchStarted(BatchInfo)
}

// BatchCompletedListener is told when a batch has finished, successfully or not.
type BatchCompletedListener interface {
	// OnBatchCompleted receives the batch's complete info.
	OnBatchCompleted(BatchInfo)
}

// OutputOperationStartedListener is told when an output operation starts on a batch.
type OutputOperationStartedListener interface {
	// OnOutputOperationStarted receives the operation's info.
	OnOutputOperationStarted(OutputOperationInfo)
}

// OutputOperationCompletedListener is told when an output operation has
// finished on a batch.
type OutputOperationCompletedListener interface {
	// OnOutputOperationCompleted receives the operation's info with its end
	// time and error.
	OnOutputOperationCompleted(OutputOperationInfo)
}

// CheckpointWrittenListener is notified after every checkpoint write of
// a context with a checkpoint directory.
type CheckpointWrittenListener interface {
	OnCheckpointWritten(CheckpointInfo)
}

// ReceiverStartedListener is told when a receiver has started.
type ReceiverStartedListener interface {
	// OnReceiverStarted receives the receiver's info.
	OnReceiverStarted(ReceiverInfo)
}

// ReceiverErrorListener is told when a receiver reports an error.
type ReceiverErrorListener interface {
	// OnReceiverError receives the receiver's info with the last error.
	OnReceiverError(ReceiverInfo)
}

// ReceiverStoppedListener is told when a receiver has stopped, for a
// restart or for good.
type ReceiverStoppedListener interface {
	// OnReceiverStopped receives the receiver's info.
	OnReceiverStopped(ReceiverInfo)
}

// BatchInfo describes one batch: its inputs, its timing and the outcome of
// its output operations (Spark's BatchInfo).
type BatchInfo struct {
	// BatchTime is the batch's time.
	BatchTime time.Time
	// Inputs has one entry per input stream that produced data for the
	// batch, in input stream order.
	Inputs []InputInfo
	// SubmissionTime is when the batch was generated and queued.
	SubmissionTime time.Time
	// ProcessingStartTime is when processing started; zero before.
	ProcessingStartTime time.Time
	// ProcessingEndTime is when processing ended; zero before.
	ProcessingEndTime time.Time
	// OutputOperations has the outcome of each output operation that ran,
	// in definition order.
	OutputOperations []OutputOperationInfo
	// Err is the error that failed the batch, or nil.
	Err error
	// Degraded lists the job's dependencies that were degraded when the
	// batch ended (see Context.ReportHealth): a batch can succeed with no
	// records because its broker is away, and this says so.
	Degraded []Degradation
}

// NumRecords returns the number of records of all inputs.
func (b BatchInfo) NumRecords() int64 {
	var n int64
	for _, in := range b.Inputs {
		n += in.NumRecords
	}
	return n
}

// SchedulingDelay is how long the batch waited before processing started:
// ProcessingStartTime - SubmissionTime. It is zero until the batch starts.
func (b BatchInfo) SchedulingDelay() time.Duration {
	if b.ProcessingStartTime.IsZero() {
		return 0
	}
	return b.ProcessingStartTime.Sub(b.SubmissionTime)
}

// ProcessingDelay is how long processing took: ProcessingEndTime -
// ProcessingStartTime. It is zero until the batch completes.
func (b BatchInfo) ProcessingDelay() time.Duration {
	if b.ProcessingEndTime.IsZero() {
		return 0
	}
	return b.ProcessingEndTime.Sub(b.ProcessingStartTime)
}

// TotalDelay is SchedulingDelay + ProcessingDelay, as Spark defines it. It
// is zero until the batch completes.
func (b BatchInfo) TotalDelay() time.Duration {
	if b.ProcessingEndTime.IsZero() {
		return 0
	}
	return b.SchedulingDelay() + b.ProcessingDelay()
}

// Succeeded reports how many output operations completed without error.
func (b BatchInfo) Succeeded() int {
	n := 0
	for _, o := range b.OutputOperations {
		if o.Err == nil && !o.EndTime.IsZero() {
			n++
		}
	}
	return n
}

// InputInfo describes what one input stream contributed to a batch.
type InputInfo struct {
	StreamID   int            // the input stream's id, in creation order from 0
	Name       string         // the input stream's name
	NumRecords int64          // records in the batch
	Metadata   map[string]any // source-specific details, such as offset ranges
	// Lag is, per partition of the input's source, the records that were
	// there past the batch's end when the batch was cut (a Kafka
	// partition's latest offset minus the batch's until offset): the
	// consumer lag. Nil when the input does not know it.
	Lag []PartitionLag
}

// OutputOperationInfo describes one output operation on one batch.
type OutputOperationInfo struct {
	BatchTime time.Time // the batch
	ID        int       // the operation's id, in definition order from 0
	Name      string    // the operation, e.g. "print"
	Stream    string    // the name of the stream it outputs
	StartTime time.Time // when it started
	EndTime   time.Time // when it ended; zero while running
	Err       error     // its error, or nil
	// Rejected is how many records the operation's Output rejected to
	// the dead letters (Partition.Reject).
	Rejected int64
	// RejectedBy splits Rejected by reason (RejectReasonOf); nil when
	// nothing was rejected.
	RejectedBy map[string]int64
	// Wrote is what the operation's Output wrote in this batch, when it
	// counts (StatsReporter): the change of its OutputStats over the run.
	Wrote OutputStats
}

// PartitionLag is the consumer lag of one partition of an input's source.
type PartitionLag struct {
	Partition string // e.g. "words-3", the topic and partition
	Records   int64  // records past the batch's end when it was cut
}

// CheckpointInfo describes one checkpoint file the context wrote (or
// failed to write), as CheckpointWrittenListener receives it.
type CheckpointInfo struct {
	// Kind is "meta" (the batches generated and pending, after each
	// generation) or "state" (the streams' state, after a batch
	// completed).
	Kind string
	// BatchTime is the batch the checkpoint is for.
	BatchTime time.Time
	// Duration is how long the write took, removing old files included.
	Duration time.Duration
	// Bytes is the file's size.
	Bytes int
	// Err is the write's error, or nil.
	Err error
}

// Duration is how long the operation ran; zero while it runs.
func (o OutputOperationInfo) Duration() time.Duration {
	if o.EndTime.IsZero() {
		return 0
	}
	return o.EndTime.Sub(o.StartTime)
}

// ReceiverInfo describes a receiver and its last error.
type ReceiverInfo struct {
	StreamID         int       // the receiver's input stream id
	Name             string    // the receiver's name
	Active           bool      // whether it is running
	LastErrorMessage string    // the message of the last reported error
	LastError        error     // the last reported error
	LastErrorTime    time.Time // when it was reported
}
