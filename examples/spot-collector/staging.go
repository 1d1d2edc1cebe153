package main

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// staging is the layout of the staging directory (see the package
// documentation). A capture's name is its slash-separated path under
// -watch.
type staging struct{ root string }

func (s staging) csvDir() string      { return filepath.Join(s.root, "csv") }
func (s staging) failedDir() string   { return filepath.Join(s.root, "failed") }
func (s staging) rejectedDir() string { return filepath.Join(s.root, "rejected") }
func (s staging) ledgerPath() string  { return filepath.Join(s.root, "processed") }

// csv is the staged CSV of a capture; its progress file is csv + ".progress".
func (s staging) csv(name string) string {
	return filepath.Join(s.csvDir(), filepath.FromSlash(name)+".csv")
}

func (s staging) rejected(name string) string {
	return filepath.Join(s.rejectedDir(), filepath.FromSlash(name)+".lines")
}

// kept is the file of a chunk that could not be sent, named as Spot
// names it: the capture's base name with dots replaced by underscores,
// then _segment-<id>.csv, in the capture's directory under failed/.
func (s staging) kept(name string, id int) string {
	dir, base := path.Split(name)
	return filepath.Join(s.failedDir(), filepath.FromSlash(dir), fmt.Sprintf("%s_segment-%d.csv", strings.ReplaceAll(base, ".", "_"), id))
}

// init creates the directories and removes the temporary files a crash
// left behind.
func (s staging) init() error {
	for _, dir := range []string{s.csvDir(), s.failedDir(), s.rejectedDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("staging: %w", err)
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isTemp(d.Name()) {
				return os.Remove(p)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("staging: %w", err)
		}
	}
	return nil
}

// tempName is where a file is written before it is renamed to p.
func tempName(p string) string {
	return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp")
}

func isTemp(base string) bool { return strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".tmp") }

// writeFileAtomic writes p through a temporary file, synced and renamed,
// and syncs the directory: after a crash p is either absent or complete.
func writeFileAtomic(p string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := tempName(p)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// removeSynced removes the files (missing ones are fine) and syncs their
// directories.
func removeSynced(paths ...string) error {
	dirs := map[string]bool{}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		dirs[filepath.Dir(p)] = true
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// ledger is the set of captures fully handled: a file of names, one per
// line, appended and synced.
type ledger struct {
	mu    sync.Mutex
	f     *os.File
	names map[string]bool
}

// openLedger reads the ledger at p, dropping a last line a crash left
// incomplete (its capture was not acknowledged as handled, so it is
// handled again).
func openLedger(p string) (*ledger, error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger %s: %w", p, err)
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	if complete < len(data) {
		if err := f.Truncate(int64(complete)); err != nil {
			f.Close()
			return nil, fmt.Errorf("ledger %s: %w", p, err)
		}
	}
	if _, err := f.Seek(int64(complete), io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger %s: %w", p, err)
	}
	l := &ledger{f: f, names: map[string]bool{}}
	for _, name := range strings.Split(string(data[:complete]), "\n") {
		if name != "" {
			l.names[name] = true
		}
	}
	return l, nil
}

func (l *ledger) has(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.names[name]
}

// add records name and syncs the ledger.
func (l *ledger) add(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString(name + "\n"); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	l.names[name] = true
	return nil
}

func (l *ledger) close() error { return l.f.Close() }

// progress is a staged CSV's progress file: a header with the chunk
// budget the CSV is split with, then one line per chunk handled, "<id>
// sent" or "<id> kept", synced after each.
type progress struct {
	f          *os.File
	budget     int // the chunk budget of this CSV's split
	done       int // chunks handled
	sent, kept int // of them
}

const progressHeader = "# spot-collector progress: chunk budget "

// openProgress opens the progress file at p, or creates it with budget.
// An incomplete last line (a crash while writing it) is dropped: its
// chunk is handled again.
func openProgress(p string, budget int) (*progress, error) {
	data, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	lines := strings.Split(string(data[:complete]), "\n")
	lines = lines[:len(lines)-1]
	if len(lines) == 0 {
		// New, or a crash before its header was synced: nothing was sent.
		err := writeFileAtomic(p, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s%d\n", progressHeader, budget)
			return err
		})
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		return &progress{f: f, budget: budget}, nil
	}
	pr := &progress{}
	b, ok := strings.CutPrefix(lines[0], progressHeader)
	if pr.budget, err = strconv.Atoi(b); !ok || err != nil || pr.budget < 1 {
		return nil, fmt.Errorf("progress file %s: bad header %q", p, lines[0])
	}
	for i, l := range lines[1:] {
		id, what, _ := strings.Cut(l, " ")
		if n, err := strconv.Atoi(id); err != nil || n != i || what != "sent" && what != "kept" {
			return nil, fmt.Errorf("progress file %s: line %d is %q, want %q or %q", p, i+2, l, fmt.Sprint(i, " sent"), fmt.Sprint(i, " kept"))
		}
		if what == "sent" {
			pr.sent++
		} else {
			pr.kept++
		}
		pr.done++
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(int64(complete)); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(int64(complete), io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	pr.f = f
	return pr, nil
}

// add records chunk id as sent or kept.
func (p *progress) add(id int, sent bool) error {
	what := "kept"
	if sent {
		what = "sent"
	}
	if _, err := fmt.Fprintf(p.f, "%d %s\n", id, what); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return err
	}
	p.done++
	if sent {
		p.sent++
	} else {
		p.kept++
	}
	return nil
}

func (p *progress) close() error { return p.f.Close() }

// keptChunk is a file of failed/.
type keptChunk struct {
	path   string
	prefix string // the path up to _segment-
	id     int
}

var keptName = regexp.MustCompile(`^(.*)_segment-([0-9]+)\.csv$`)

// listKept returns the chunks kept in dir, by capture and then chunk id.
func listKept(dir string) ([]keptChunk, error) {
	var out []keptChunk
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || isTemp(d.Name()) {
			return nil
		}
		m := keptName.FindStringSubmatch(d.Name())
		if m == nil {
			return nil
		}
		id, err := strconv.Atoi(m[2])
		if err != nil {
			return nil
		}
		out = append(out, keptChunk{path: p, prefix: filepath.Join(filepath.Dir(p), m[1]), id: id})
		return nil
	})
	slices.SortFunc(out, func(a, b keptChunk) int {
		return cmp.Or(cmp.Compare(a.prefix, b.prefix), cmp.Compare(a.id, b.id))
	})
	return out, err
}

// readLines returns the lines of a file that are not empty.
func readLines(p string) ([]string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSuffix(l, "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// rejectFile collects a capture's rejected lines. It is created on the
// first one and truncated then, so a capture split again after a crash
// writes its rejected lines once.
type rejectFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

func (r *rejectFile) add(line string) error {
	if r.f == nil {
		if err := os.MkdirAll(filepath.Dir(r.path), 0o755); err != nil {
			return err
		}
		f, err := os.Create(r.path)
		if err != nil {
			return err
		}
		r.f, r.w = f, bufio.NewWriter(f)
	}
	_, err := r.w.WriteString(line + "\n")
	return err
}

// close flushes and syncs the file, if there is one.
func (r *rejectFile) close() error {
	if r.f == nil {
		return nil
	}
	err := r.w.Flush()
	if err == nil {
		err = r.f.Sync()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	if err == nil {
		err = syncDir(filepath.Dir(r.path))
	}
	return err
}
