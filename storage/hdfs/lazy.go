package hdfs

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// lazyFS is what storage.Open returns for an hdfs:// URI whose NameNodes
// do not answer yet: every call tries to connect until one succeeds, then
// goes to the connected FS. Until then each call fails with the latest
// connection error, so the caller sees "connecting to nn:8020: ..." when
// it uses the FS (a job's start-up check), not when it names it.
type lazyFS struct {
	opts Options
	key  string

	mu  sync.Mutex
	fs  *FS
	err error // the latest connection error
}

var _ storage.FS = (*lazyFS)(nil)

// get returns the connected FS, connecting it if needed.
func (l *lazyFS) get(ctx context.Context) (*FS, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fs != nil {
		return l.fs, nil
	}
	f, err := cachedOpen(l.opts, l.key)
	if err != nil {
		l.err = err
		return nil, err
	}
	l.fs = f
	return f, nil
}

func (l *lazyFS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	f, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return f.Create(ctx, name)
}

func (l *lazyFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return f.Open(ctx, name)
}

func (l *lazyFS) Rename(ctx context.Context, from, to string) error {
	f, err := l.get(ctx)
	if err != nil {
		return err
	}
	return f.Rename(ctx, from, to)
}

func (l *lazyFS) MkdirAll(ctx context.Context, name string) error {
	f, err := l.get(ctx)
	if err != nil {
		return err
	}
	return f.MkdirAll(ctx, name)
}

func (l *lazyFS) Remove(ctx context.Context, name string) error {
	f, err := l.get(ctx)
	if err != nil {
		return err
	}
	return f.Remove(ctx, name)
}

func (l *lazyFS) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	f, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return f.List(ctx, dir)
}

func (l *lazyFS) Stat(ctx context.Context, name string) (storage.FileInfo, error) {
	f, err := l.get(ctx)
	if err != nil {
		return storage.FileInfo{}, err
	}
	return f.Stat(ctx, name)
}

// CreateExclusive creates name only if it does not exist, when the
// connected FS can.
func (l *lazyFS) CreateExclusive(ctx context.Context, name string) (io.WriteCloser, error) {
	f, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	x, ok := any(f).(interface {
		CreateExclusive(context.Context, string) (io.WriteCloser, error)
	})
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return x.CreateExclusive(ctx, name)
}

// Now returns the time on the NameNode's clock (see FS.Now).
func (l *lazyFS) Now(ctx context.Context) (time.Time, error) {
	f, err := l.get(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return f.Now(ctx)
}
