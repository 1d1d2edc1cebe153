package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// ExclusiveCreator is implemented by an FS that can create a file only if
// nothing has its name yet, as one atomic step of the store: of several
// callers creating the same name at once, in this process or another, at
// most one succeeds. Lock files are built on it.
type ExclusiveCreator interface {
	// CreateExclusive creates the file name and returns a writer for its
	// contents, like Create, unless a file or directory already has that
	// name: then it fails with an error wrapping fs.ErrExist and leaves
	// the existing entry alone. Missing parent directories are created.
	// The new file is visible under name, empty or partly written, from
	// the moment CreateExclusive returns until the writer's Close
	// completes it.
	CreateExclusive(ctx context.Context, name string) (io.WriteCloser, error)
}

// CreateExclusive creates the file name on fsys only if nothing has that
// name yet (see ExclusiveCreator). When fsys does not implement
// ExclusiveCreator it returns an error wrapping errors.ErrUnsupported
// and touches nothing.
func CreateExclusive(ctx context.Context, fsys FS, name string) (io.WriteCloser, error) {
	ec, ok := fsys.(ExclusiveCreator)
	if !ok {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fmt.Errorf("exclusive create on %T: %w", fsys, errors.ErrUnsupported)}
	}
	return ec.CreateExclusive(ctx, name)
}
