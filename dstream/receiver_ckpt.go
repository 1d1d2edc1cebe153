package dstream

// Checkpointing of receiver streams. Without a write-ahead log a
// receiver's blocks live only in memory: after a restart, the batches
// that were pending are empty and what was received but not processed is
// lost, as with Spark's receivers without a WAL.

func (rs *receiverStream[T]) recoverable() bool { return false }

func (rs *receiverStream[T]) ckptSave(int64) (inputCkpt, error) { return inputCkpt{}, nil }

func (rs *receiverStream[T]) ckptRestore(inputCkpt) error { return nil }

func (rs *receiverStream[T]) regenerate(int64) (InputInfo, func(error), bool) {
	return InputInfo{}, nil, false
}
