package storage

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strconv"
)

// WriteFileAtomic writes the file name so that readers see either its old
// contents (or no file) or all of its new contents, never a part: write is
// called with a writer for a temporary file in the same directory, named
// ".<name>.tmp-<random>", which is synced (when the writer has a Sync
// method), closed and renamed to name, replacing any file there. Missing
// parent directories are created.
//
// If write or any step fails, or write panics, the temporary file is
// removed and the error is returned wrapped, naming the file. The leading
// dot keeps the temporary file out of the file source's default filter.
func WriteFileAtomic(ctx context.Context, fsys FS, name string, write func(io.Writer) error) error {
	if write == nil {
		return fmt.Errorf("storage: writing %s: nil write function", name)
	}
	tmp := tempName(name)
	w, err := fsys.Create(ctx, tmp)
	if err != nil {
		// Some stores leave an entry behind a failed create.
		_ = fsys.Remove(context.WithoutCancel(ctx), tmp)
		return fmt.Errorf("storage: writing %s: %w", name, err)
	}
	open, done := true, false
	defer func() {
		if open {
			_ = w.Close()
		}
		if !done {
			_ = fsys.Remove(context.WithoutCancel(ctx), tmp)
		}
	}()
	if err := write(w); err != nil {
		return fmt.Errorf("storage: writing %s: %w", name, err)
	}
	if s, ok := w.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("storage: writing %s: sync: %w", name, err)
		}
	}
	open = false
	if err := w.Close(); err != nil {
		return fmt.Errorf("storage: writing %s: %w", name, err)
	}
	if err := fsys.Rename(ctx, tmp, name); err != nil {
		return fmt.Errorf("storage: writing %s: %w", name, err)
	}
	done = true
	return nil
}

// tempName returns a fresh temporary name next to name.
func tempName(name string) string {
	dir, base := path.Split(path.Clean(name))
	return dir + "." + base + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
}
