package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
)

// CheckWritable makes sure that files can be written in dir: it creates
// dir and its missing parents, then writes and removes a small probe file
// (".write-check-<random>", a name Hive, Spark and DuckDB skip). Start-up
// checks of outputs use it, so that a job whose output is unreachable or
// read-only fails at start instead of at its first batch with data.
func CheckWritable(ctx context.Context, fsys FS, dir string) error {
	if err := fsys.MkdirAll(ctx, dir); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := path.Join(dir, ".write-check-"+hex.EncodeToString(rnd[:]))
	w, err := fsys.Create(ctx, name)
	if err != nil {
		return err
	}
	_, werr := io.WriteString(w, "write check\n")
	cerr := w.Close()
	rerr := fsys.Remove(ctx, name)
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if rerr != nil {
		return fmt.Errorf("removing the probe file %s: %w", name, rerr)
	}
	return nil
}
