package file

import (
	"fmt"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

// Defaults of the options.
const (
	// DefaultMinRememberDuration is the default of MinRememberDuration,
	// Spark's spark.streaming.fileStream.minRememberDuration.
	DefaultMinRememberDuration = 60 * time.Second

	// DefaultMaxLineBytes is the default of MaxLineBytes.
	DefaultMaxLineBytes = 64 << 20
)

// Option configures a file stream. Options are checked when the stream is
// built: an invalid one makes the stream invalid (see Stream).
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config is what the options set.
type config struct {
	filter       func(storage.FileInfo) bool
	newFilesOnly bool
	minRemember  time.Duration
	fsys         storage.FS
	opener       *storage.Opener // WithStorage; nil: storage.Open
	maxLineBytes int
	maxLineSet   bool
}

func defaultConfig() config {
	return config{
		filter:       DefaultFilter,
		newFilesOnly: true,
		minRemember:  DefaultMinRememberDuration,
		maxLineBytes: DefaultMaxLineBytes,
	}
}

// DefaultFilter is the filter of a file stream without the Filter option,
// Spark's: it accepts a file unless its name starts with ".", which skips
// hidden files and the temporary files of storage.WriteFileAtomic and of
// most tools that write and rename.
func DefaultFilter(f storage.FileInfo) bool { return !strings.HasPrefix(f.Name, ".") }

// Filter sets which files the stream considers: only those for which keep
// returns true. It replaces DefaultFilter; call DefaultFilter from keep to
// keep skipping names that start with ".". keep is called from the
// batch generator, once per listed file and batch, and must be quick.
func Filter(keep func(f storage.FileInfo) bool) Option {
	return optionFunc(func(c *config) error {
		if keep == nil {
			return fmt.Errorf("%w: nil filter", dstream.ErrInvalidOption)
		}
		c.filter = keep
		return nil
	})
}

// NewFilesOnly sets whether files modified before the context started are
// ignored. Default: true. With false, the first batches also read the
// files already there whose modification time is inside the remember
// window (Spark's newFilesOnly = false); older ones are never read.
func NewFilesOnly(only bool) Option {
	return optionFunc(func(c *config) error {
		c.newFilesOnly = only
		return nil
	})
}

// MinRememberDuration sets how far back the stream looks for files and
// how long it remembers the files it selected: the remember window is d
// rounded up to a whole number of batch intervals. Files whose
// modification time is older than the window when they appear are never
// read, so it must cover how late files can arrive. Default:
// DefaultMinRememberDuration (60 s). It must be positive.
func MinRememberDuration(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: MinRememberDuration %v must be positive", dstream.ErrInvalidOption, d)
		}
		c.minRemember = d
		return nil
	})
}

// WithFS makes the stream list and read fsys instead of the FS that
// storage.Open gives for dir; dir is then a path in fsys. Use it for an FS
// that needs configuration beyond a URI, or in tests.
func WithFS(fsys storage.FS) Option {
	return optionFunc(func(c *config) error {
		if fsys == nil {
			return fmt.Errorf("%w: nil FS", dstream.ErrInvalidOption)
		}
		c.fsys = fsys
		return nil
	})
}

// WithStorage makes the stream open dir through opener instead of
// storage.Open: the opener holds the credentials that a URI cannot
// carry, such as the logged-in Kerberos client of an hdfs:// directory
// on a Kerberized cluster. A job opens all its URIs through one Opener.
// A nil opener is storage.Open's default, as without the option; WithFS,
// which gives the FS itself, wins over it.
func WithStorage(opener *storage.Opener) Option {
	return optionFunc(func(c *config) error {
		c.opener = opener
		return nil
	})
}

// MaxLineBytes caps the length of a line of a TextStream, without its
// line terminator: a longer line fails its batch with an error wrapping
// ErrLineTooLong, so that a file without line breaks cannot exhaust
// memory. Default: DefaultMaxLineBytes (64 MiB). It must be positive, and
// applies only to TextStream.
func MaxLineBytes(n int) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: MaxLineBytes %d must be positive", dstream.ErrInvalidOption, n)
		}
		c.maxLineBytes = n
		c.maxLineSet = true
		return nil
	})
}
