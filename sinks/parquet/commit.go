package parquetsink

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/microbatch-go/microbatch/storage"
)

// renameConcurrency is how many renames (and directory creations) a
// commit has under way at once: they are round trips to the store (a
// NameNode RPC each on HDFS), not CPU work.
const renameConcurrency = 16

// clearStage removes what an earlier attempt left in the staging
// directory but its manifest, and returns the names the manifest lists
// and whether the directory existed.
func (w *Sink[T]) clearStage(ctx context.Context, stage string) (prev []string, staged bool, err error) {
	entries, err := w.fsys.List(ctx, stage)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("parquetsink: listing %s: %w", stage, err)
	}
	for _, e := range entries {
		if e.Name == manifestName && !e.IsDir {
			if prev, err = w.readManifest(ctx, e.Path); err != nil {
				return nil, true, err
			}
			continue
		}
		if err := w.remove(ctx, e.Path); err != nil {
			return nil, true, err
		}
	}
	return prev, true, nil
}

func (w *Sink[T]) readManifest(ctx context.Context, name string) ([]string, error) {
	r, err := w.fsys.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	defer r.Close()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		switch {
		case i == 0:
			if line != manifestHeader {
				return nil, fmt.Errorf("parquetsink: %s is not a manifest of this version (first line %q)", name, line)
			}
		case line == "" || path.IsAbs(line) || line == ".." || strings.HasPrefix(line, "../"):
			return nil, fmt.Errorf("parquetsink: %s: invalid entry %q", name, line)
		default:
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	return out, nil
}

// remove removes name; a name that is already gone is not an error.
func (w *Sink[T]) remove(ctx context.Context, name string) error {
	if err := w.fsys.Remove(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("parquetsink: %w", err)
	}
	return nil
}

// writeTemps writes the partitions to temporary files, in parallel. On an

// commit writes the manifest, renames the files into place, removes the
// files of an earlier attempt that this one did not write, and removes
// the staging directories of earlier batches.
func (w *Sink[T]) commit(ctx context.Context, stage string, t int64, files []file, prev []string) error {
	manifest := path.Join(stage, manifestName)
	if len(files) > 0 {
		names := make([]string, 0, len(files)+len(prev))
		for _, f := range files {
			names = append(names, f.rel)
		}
		names = append(names, prev...)
		slices.Sort(names)
		names = slices.Compact(names)
		err := storage.WriteFileAtomic(ctx, w.fsys, manifest, func(wr io.Writer) error {
			bw := bufio.NewWriter(wr)
			bw.WriteString(manifestHeader + "\n")
			for _, n := range names {
				bw.WriteString(n + "\n")
			}
			return bw.Flush()
		})
		if err != nil {
			w.removeTemps(ctx, files)
			return fmt.Errorf("parquetsink: %w", err)
		}
	}
	if err := w.rename(ctx, files); err != nil {
		w.removeTemps(ctx, files)
		return err
	}
	// The files are visible, replacing those of an earlier attempt with
	// the same names: counted as written by this one.
	w.stats.committed(files)
	written := make(map[string]bool, len(files))
	for _, f := range files {
		written[f.rel] = true
	}
	for _, rel := range prev {
		if !written[rel] {
			if err := w.remove(ctx, path.Join(w.root, rel)); err != nil {
				return err
			}
		}
	}
	if len(files) == 0 {
		// Nothing of this batch is left: forget the earlier attempt.
		if err := w.remove(ctx, manifest); err != nil {
			return err
		}
		return w.remove(ctx, stage)
	}
	return w.removeOlderStages(ctx, t)
}

// removeOlderStages removes the staging directories of this prefix for
// batches before t, but for the newest keptManifests-1 of them. The
// manifests of the last committed batches are kept, so that if one of
// them runs again (after a crash before the engine's next checkpoint
// recorded it as done), the files it no longer writes are still found and
// removed.
func (w *Sink[T]) removeOlderStages(ctx context.Context, t int64) error {
	dir := path.Join(w.root, StagingDir)
	entries, err := w.fsys.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("parquetsink: listing %s: %w", dir, err)
	}
	type stage struct {
		t    int64
		path string
	}
	var older []stage
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name, w.prefix+"-")
		if !ok || !e.IsDir {
			continue
		}
		if bt, err := strconv.ParseInt(rest, 10, 64); err == nil && bt < t {
			older = append(older, stage{bt, e.Path})
		}
	}
	slices.SortFunc(older, func(a, b stage) int { return cmp.Compare(a.t, b.t) })
	for _, st := range older[:max(0, len(older)-(keptManifests-1))] {
		inside, err := w.fsys.List(ctx, st.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("parquetsink: listing %s: %w", st.path, err)
		}
		for _, f := range inside {
			if err := w.remove(ctx, f.Path); err != nil {
				return err
			}
		}
		if err := w.remove(ctx, st.path); err != nil {
			return err
		}
	}
	return nil
}

// rename creates the directories of the files and renames them into
// place, in parallel.
func (w *Sink[T]) rename(ctx context.Context, files []file) error {
	return w.renameFiles(ctx, files, false)
}

// renameFiles is rename; with again (a claim rolled forward, maybe by
// another writer at the same time), a file whose temporary name is gone
// and whose final name exists was renamed already.
func (w *Sink[T]) renameFiles(ctx context.Context, files []file, again bool) error {
	var dirs []string
	for _, f := range files {
		dirs = append(dirs, path.Dir(path.Join(w.root, f.rel)))
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(renameConcurrency)
	for _, d := range dirs {
		g.Go(func() error {
			if err := w.fsys.MkdirAll(gctx, d); err != nil {
				return fmt.Errorf("parquetsink: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(renameConcurrency)
	for _, f := range files {
		g.Go(func() error {
			final := path.Join(w.root, f.rel)
			err := w.fsys.Rename(gctx, f.tmp, final)
			if again && errors.Is(err, fs.ErrNotExist) {
				if _, serr := w.fsys.Stat(gctx, final); serr == nil {
					return nil // renamed already
				}
			}
			if err != nil {
				return fmt.Errorf("parquetsink: committing %s: %w", final, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// removeTemps removes the temporary files that are still there, after a
// failure.
func (w *Sink[T]) removeTemps(ctx context.Context, files []file) {
	for _, f := range files {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), f.tmp)
	}
}
