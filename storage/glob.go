package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Glob returns the paths of the files and directories of fsys that match
// pattern, sorted, with the syntax of path.Match ("*", "?", "[a-z]", "\\"
// to escape). The pattern is expanded one path element at a time with
// List, so it works on any FS: "/logs/*/in" lists /logs and then looks
// for "in" in each directory that matched. As with path.Match, "*" also
// matches names that start with a dot.
//
// A pattern without metacharacters is returned unchanged if it exists.
// Names that do not exist are not an error: they match nothing. A
// malformed pattern gives an error wrapping path.ErrBadPattern; an FS
// error while listing is returned.
func Glob(ctx context.Context, fsys FS, pattern string) ([]string, error) {
	if !hasMeta(pattern) {
		if _, err := fsys.Stat(ctx, pattern); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, err
		}
		return []string{pattern}, nil
	}
	infos, err := GlobInfo(ctx, fsys, pattern)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, fi := range infos {
		out[i] = fi.Path
	}
	return out, nil
}

// GlobInfo is Glob returning what it found as FileInfo, sorted by Path,
// for callers that need to tell files from directories without another
// Stat. A pattern without metacharacters gives the Stat of its name.
func GlobInfo(ctx context.Context, fsys FS, pattern string) ([]FileInfo, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("storage: glob %q: %w", pattern, err)
	}
	if !hasMeta(pattern) {
		fi, err := fsys.Stat(ctx, pattern)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, err
		}
		return []FileInfo{fi}, nil
	}
	out, err := glob(ctx, fsys, path.Clean(pattern))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return slices.CompactFunc(out, func(a, b FileInfo) bool { return a.Path == b.Path }), nil
}

// glob expands a clean pattern that has metacharacters.
func glob(ctx context.Context, fsys FS, pattern string) ([]FileInfo, error) {
	dir, file := path.Split(pattern)
	switch {
	case dir == "":
		dir = "."
	case dir != "/":
		dir = dir[:len(dir)-1]
	}
	var dirs []string
	if hasMeta(dir) {
		matches, err := glob(ctx, fsys, dir)
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			if m.IsDir {
				dirs = append(dirs, m.Path)
			}
		}
	} else {
		dirs = []string{dir}
	}
	var out []FileInfo
	for _, d := range dirs {
		if !hasMeta(file) {
			fi, err := fsys.Stat(ctx, path.Join(d, file))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, fi)
			continue
		}
		entries, err := fsys.List(ctx, d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || !isDir(ctx, fsys, d) {
				continue // nothing there, or a file: no entries to match
			}
			return nil, err
		}
		for _, e := range entries {
			if ok, _ := path.Match(file, e.Name); ok { // the pattern was checked
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// isDir reports whether name is a directory; on an error it says true, so
// that the caller reports the listing error.
func isDir(ctx context.Context, fsys FS, name string) bool {
	fi, err := fsys.Stat(ctx, name)
	return err != nil && !errors.Is(err, fs.ErrNotExist) || err == nil && fi.IsDir
}

// hasMeta reports whether s holds any of path.Match's special characters.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
