package file

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

// The file stream is a dstream.Recoverable input: a checkpoint saves the
// files every remembered batch selected (Spark's batchTimeToSelectedFiles),
// so that after a restart a file is not read twice, and each batch's file
// list, so that a pending or remembered batch is rebuilt with the same
// files.

// position is the saved form of the remembered batches.
type position struct {
	Batches map[int64][]string `json:"batches"` // batch time (ms) -> paths
	// InitialMS is the NewFilesOnly start time of the first run (ms), so
	// that a restart still takes the files that arrived while the job
	// was down or failing, as Spark's checkpointed stream does.
	InitialMS int64 `json:"initial_ms,omitempty"`
}

// SavePosition implements dstream.Recoverable.
func (in *input[T]) SavePosition() ([]byte, error) {
	p := position{Batches: in.selected.snapshot()}
	if !in.initial.IsZero() {
		p.InitialMS = in.initial.UnixMilli()
	}
	return json.Marshal(p)
}

// RestorePosition implements dstream.Recoverable.
func (in *input[T]) RestorePosition(data []byte) error {
	var p position
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("file stream: the checkpoint's position: %w", err)
	}
	in.selected.restore(p.Batches)
	if p.InitialMS != 0 {
		in.restoredInitial = time.UnixMilli(p.InitialMS)
	}
	return nil
}

// Rebuild implements dstream.Recoverable: the batch at t with the files
// its Descriptor lists.
func (in *input[T]) Rebuild(_ time.Time, desc []byte) (*dstream.InputBatch[T], error) {
	var files []storage.FileInfo
	if err := json.Unmarshal(desc, &files); err != nil {
		return nil, fmt.Errorf("file stream: the checkpoint's batch: %w", err)
	}
	return in.batchOf(files)
}

// batchOf is the batch that reads files, one partition each.
func (in *input[T]) batchOf(files []storage.FileInfo) (*dstream.InputBatch[T], error) {
	paths := make([]string, len(files))
	sources := make([]any, len(files))
	for i, f := range files {
		paths[i] = f.Path
		sources[i] = f // a partition's Lineage source: the file it reads
	}
	desc, err := json.Marshal(files)
	if err != nil {
		return nil, err
	}
	b := &dstream.InputBatch[T]{
		Partitions: len(files),
		Records:    -1,
		Metadata:   map[string]any{"files": paths},
		Descriptor: desc,
		Sources:    sources,
	}
	if len(files) == 0 {
		b.Records = 0
	} else {
		b.Read = func(ctx context.Context, p int) ([]T, error) { return in.readFile(ctx, files[p]) }
	}
	return b, nil
}
