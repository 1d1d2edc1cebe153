package testtool

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// ParquetTotals lists the committed Parquet files under dir, skipping
// directories whose names start with "_" (a sink's staging), and returns
// their number, bytes and rows, read with parquet-go. A missing dir
// holds none.
func ParquetTotals(t testing.TB, dir string) (files, bytes, rows int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".parquet") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		files++
		bytes += st.Size()
		rows += pf.NumRows()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, bytes, rows
}
