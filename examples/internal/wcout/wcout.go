// Package wcout reads what the wordcount example saves with -out, for the
// tests that run it as a program.
package wcout

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Batches reads the batch directories prefix-<ms> that SaveAsTextFiles
// wrote ("word<TAB>count" lines), by batch time in milliseconds. A
// directory without _SUCCESS is being written and is skipped, or with
// strict fails the test; a word twice in one batch fails it.
func Batches(t testing.TB, prefix string, strict bool) map[int64]map[string]int {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Base(prefix)) + `-(\d+)$`)
	entries, err := os.ReadDir(filepath.Dir(prefix))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[string]int{}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		ms, _ := strconv.ParseInt(m[1], 10, 64)
		dir := filepath.Join(filepath.Dir(prefix), e.Name())
		if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
			if strict {
				t.Errorf("%s has no _SUCCESS: %v", dir, err)
			}
			continue // being written
		}
		counts := map[string]int{}
		parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
		for _, p := range parts {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				word, n, ok := strings.Cut(sc.Text(), "\t")
				v, err := strconv.Atoi(n)
				if !ok || err != nil || v < 1 || word == "" {
					t.Fatalf("%s: line %q is not word<TAB>count", p, sc.Text())
				}
				if _, dup := counts[word]; dup {
					t.Errorf("%s: %q twice in one batch", dir, word)
				}
				counts[word] = v
			}
			f.Close()
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
		}
		out[ms] = counts
	}
	return out
}

// AddInto adds the counts of src to dst.
func AddInto(dst, src map[string]int) {
	for w, n := range src {
		dst[w] += n
	}
}

// Latest returns the counts of the newest batch, or nil when there is
// none.
func Latest(batches map[int64]map[string]int) map[string]int {
	newest, found := int64(0), false
	for ms := range batches {
		if !found || ms > newest {
			newest, found = ms, true
		}
	}
	return batches[newest]
}
