package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Local returns the FS of the local disk, through the os package. Names
// are slash-separated paths, relative to the working directory unless
// absolute. Create writes to the named file directly; Rename is
// os.Rename, which replaces an existing file atomically on POSIX systems.
// The writers Create returns are *os.File values, so WriteFileAtomic syncs
// them before renaming. List follows symbolic links to report what they
// point to.
func Local() FS { return localFS{} }

// localFS is the FS of the local disk.
type localFS struct{}

// errIsDir is the cause of an Open of a directory.
var errIsDir = errors.New("is a directory")

// native turns a slash-separated name into an OS path.
func native(name string) string { return filepath.FromSlash(name) }

// ctxErr returns a *fs.PathError for op on name if ctx is done.
func ctxErr(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

func (localFS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	return createLocal(ctx, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC) // as os.Create
}

// CreateExclusive creates name with O_CREATE|O_EXCL, which fails with
// an error wrapping fs.ErrExist when anything has that name.
func (localFS) CreateExclusive(ctx context.Context, name string) (io.WriteCloser, error) {
	return createLocal(ctx, name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
}

// createLocal opens name with flag, after making its missing parents.
func createLocal(ctx context.Context, name string, flag int) (io.WriteCloser, error) {
	if err := ctxErr(ctx, "create", name); err != nil {
		return nil, err
	}
	p := native(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, flag, 0o666)
	if err != nil {
		return nil, err // not a nil *os.File in a non-nil interface
	}
	return f, nil
}

func (localFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctxErr(ctx, "open", name); err != nil {
		return nil, err
	}
	f, err := os.Open(native(name))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (localFS) Rename(ctx context.Context, from, to string) error {
	if err := ctxErr(ctx, "rename", from); err != nil {
		return err
	}
	return os.Rename(native(from), native(to))
}

func (localFS) MkdirAll(ctx context.Context, name string) error {
	if err := ctxErr(ctx, "mkdir", name); err != nil {
		return err
	}
	return os.MkdirAll(native(name), 0o777)
}

func (localFS) Remove(ctx context.Context, name string) error {
	if err := ctxErr(ctx, "remove", name); err != nil {
		return err
	}
	return os.Remove(native(name))
}

func (localFS) List(ctx context.Context, dir string) ([]FileInfo, error) {
	if err := ctxErr(ctx, "list", dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(native(dir)) // sorted by name
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		var st fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			st, err = os.Stat(native(p))
			if errors.Is(err, fs.ErrNotExist) {
				st, err = e.Info() // a dangling link: report the link itself
			}
		} else {
			st, err = e.Info()
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fileInfo(p, st))
	}
	return out, nil
}

func (localFS) Stat(ctx context.Context, name string) (FileInfo, error) {
	if err := ctxErr(ctx, "stat", name); err != nil {
		return FileInfo{}, err
	}
	st, err := os.Stat(native(name))
	if err != nil {
		return FileInfo{}, err
	}
	return fileInfo(path.Clean(name), st), nil
}

// fileInfo converts an os file info for the entry at p.
func fileInfo(p string, st fs.FileInfo) FileInfo {
	return FileInfo{Path: p, Name: path.Base(p), Size: st.Size(), ModTime: st.ModTime(), IsDir: st.IsDir()}
}
