package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// memFS is a minimal in-memory storage.FS for the tests: it runs the
// conformance suite, so the suite is known not to depend on the os
// package, and it backs the scheme registered in the tests.
type memFS struct {
	mu    sync.Mutex
	files map[string]*memFile // by clean path; directories have data == nil
	syncs int                 // Sync calls on its writers
}

type memFile struct {
	data    []byte
	dir     bool
	modTime time.Time
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memFile{"/": {dir: true, modTime: time.Now()}}}
}

func memErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *memFS) mkdirAllLocked(p string) error {
	for q := p; ; q = path.Dir(q) {
		if f, ok := m.files[q]; ok {
			if !f.dir {
				return memErr("mkdir", p, errors.New("not a directory"))
			}
			break
		}
	}
	for q := p; ; q = path.Dir(q) {
		if _, ok := m.files[q]; ok {
			return nil
		}
		m.files[q] = &memFile{dir: true, modTime: time.Now()}
	}
}

type memWriter struct {
	m    *memFS
	name string
	buf  bytes.Buffer
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *memWriter) Sync() error {
	w.m.mu.Lock()
	w.m.syncs++
	w.m.mu.Unlock()
	return nil
}

func (w *memWriter) Close() error {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.files[w.name] = &memFile{data: bytes.Clone(w.buf.Bytes()), modTime: time.Now()}
	return nil
}

func (m *memFS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, memErr("create", name, err)
	}
	p := path.Clean("/" + name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mkdirAllLocked(path.Dir(p)); err != nil {
		return nil, err
	}
	if f, ok := m.files[p]; ok && f.dir {
		return nil, memErr("create", name, errors.New("is a directory"))
	}
	m.files[p] = &memFile{data: []byte{}, modTime: time.Now()}
	return &memWriter{m: m, name: p}, nil
}

func (m *memFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, memErr("open", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[path.Clean("/"+name)]
	switch {
	case !ok:
		return nil, memErr("open", name, fs.ErrNotExist)
	case f.dir:
		return nil, memErr("open", name, errors.New("is a directory"))
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

func (m *memFS) Rename(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return memErr("rename", from, err)
	}
	pf, pt := path.Clean("/"+from), path.Clean("/"+to)
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[pf]
	if !ok {
		return memErr("rename", from, fs.ErrNotExist)
	}
	if f.dir {
		return memErr("rename", from, errors.New("renaming directories is not supported"))
	}
	if parent, ok := m.files[path.Dir(pt)]; !ok || !parent.dir {
		return memErr("rename", to, fs.ErrNotExist)
	}
	if g, ok := m.files[pt]; ok && g.dir {
		return memErr("rename", to, errors.New("is a directory"))
	}
	m.files[pt] = f
	delete(m.files, pf)
	return nil
}

func (m *memFS) MkdirAll(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return memErr("mkdir", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mkdirAllLocked(path.Clean("/" + name))
}

func (m *memFS) Remove(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return memErr("remove", name, err)
	}
	p := path.Clean("/" + name)
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[p]
	if !ok {
		return memErr("remove", name, fs.ErrNotExist)
	}
	if f.dir {
		for q := range m.files {
			if q != p && strings.HasPrefix(q, p+"/") {
				return memErr("remove", name, errors.New("directory not empty"))
			}
		}
	}
	delete(m.files, p)
	return nil
}

func (m *memFS) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, memErr("list", dir, err)
	}
	p := path.Clean("/" + dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[p]
	switch {
	case !ok:
		return nil, memErr("list", dir, fs.ErrNotExist)
	case !f.dir:
		return nil, memErr("list", dir, errors.New("not a directory"))
	}
	var out []storage.FileInfo
	for q, g := range m.files {
		if q != p && path.Dir(q) == p {
			out = append(out, info(path.Join(dir, path.Base(q)), g))
		}
	}
	slices.SortFunc(out, func(a, b storage.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *memFS) Stat(ctx context.Context, name string) (storage.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return storage.FileInfo{}, memErr("stat", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[path.Clean("/"+name)]
	if !ok {
		return storage.FileInfo{}, memErr("stat", name, fs.ErrNotExist)
	}
	return info(path.Clean(name), f), nil
}

func info(p string, f *memFile) storage.FileInfo {
	return storage.FileInfo{Path: p, Name: path.Base(p), Size: int64(len(f.data)), ModTime: f.modTime, IsDir: f.dir}
}
