// Package storage is the small filesystem interface that the file source,
// the file sinks and the checkpoint directory share, so that each of them
// works on local disk, HDFS or any other store without knowing which.
//
// An FS is chosen by URI with Open:
//
//	fsys, dir, err := storage.Open("hdfs://namenode:8020/data/in")
//	files, err := fsys.List(ctx, dir)
//
// Plain paths ("data/in", "/var/ckpt") and file URIs ("file:///var/ckpt")
// are on local disk (Local). Every other scheme is provided by a driver
// package that registers it from its init function with Register, as
// database/sql drivers do; a program imports the driver for its side
// effects:
//
//	import _ "github.com/microbatch-go/microbatch/storage/hdfs"
//
// Credentials, which no URI carries, go through an Opener: a job logs in
// once and opens all its URIs with opener.Open(uri), the driver (one
// registered with RegisterOpener, as hdfs is) receiving the Opener's
// Kerberos client; there is no process-wide credential.
//
// This package itself imports only the standard library, so the engine
// can take a storage URI without depending on any connector.
//
// Names inside an FS are slash-separated paths (join them with
// path.Join); they are not URIs. Writes are not atomic by themselves:
// writers that need atomicity write a temporary name and Rename it, which
// WriteFileAtomic does. Glob expands path.Match patterns on any FS.
//
// Package storagetest holds the conformance suite every FS implementation
// runs.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// FS is a filesystem: local disk, HDFS, an object store. Names are
// slash-separated paths in the FS. Errors for names that do not exist
// satisfy errors.Is(err, fs.ErrNotExist). A method called with a done ctx
// returns an error wrapping ctx.Err(); the readers and writers it returned
// earlier are not affected by ctx, except that a writer's Close may stop
// waiting for the store (HDFS's replication of the last block) once the
// ctx given to Create is done, failing instead.
//
// Implementations must be safe for concurrent use.
type FS interface {
	// Create creates the file name, or truncates it if it exists, and
	// returns a writer for its contents; the data is in place once Close
	// returns nil. Missing parent directories are created. The file is
	// visible under name while it is written: write a temporary name and
	// Rename it (WriteFileAtomic) when readers must not see a partial
	// file. If the writer has a Sync() error method, Sync makes the data
	// durable before Close.
	Create(ctx context.Context, name string) (io.WriteCloser, error)
	// Open opens the file name for reading. Opening a directory is an
	// error.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Rename moves the file from to the name to, atomically replacing a
	// file already named to. The parent directory of to must exist.
	Rename(ctx context.Context, from, to string) error
	// MkdirAll creates the directory name and any missing parents. It
	// does nothing if the directory exists.
	MkdirAll(ctx context.Context, name string) error
	// Remove removes the file or empty directory name. Removing a name
	// that does not exist is an error wrapping fs.ErrNotExist.
	Remove(ctx context.Context, name string) error
	// List returns the entries of the directory dir, files and
	// directories, sorted by name. Each entry's Path is
	// path.Join(dir, Name). Listing a file is an error.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Stat describes the file or directory name; its Path is
	// path.Clean(name).
	Stat(ctx context.Context, name string) (FileInfo, error)
}

// FileInfo describes a file or directory of an FS.
type FileInfo struct {
	// Path is the full path of the entry in its FS.
	Path string
	// Name is the last element of Path.
	Name string
	// Size is the length of a file in bytes; for a directory it depends on
	// the FS.
	Size int64
	// ModTime is the time the file's contents last changed.
	ModTime time.Time
	// IsDir reports whether the entry is a directory.
	IsDir bool
}

// ErrUnknownScheme is returned by Open for a URI whose scheme no driver
// has registered, usually because the driver package was not imported.
var ErrUnknownScheme = errors.New("storage: unknown URI scheme")

// registry holds the drivers registered with Register and RegisterOpener.
var registry struct {
	sync.RWMutex
	drivers map[string]driver
}

// driver is a registered scheme's open function: open for Register,
// openWith for RegisterOpener.
type driver struct {
	open     func(*url.URL) (FS, error)
	openWith func(*url.URL, *Opener) (FS, error)
}

// Opener opens URIs as Open does, with settings that a URI cannot carry:
// credentials. A job logs in once and opens every URI through its Opener,
// so that two jobs of one process may use different identities; there is
// no process-wide credential. The zero Opener, and a nil *Opener, open as
// Open does.
type Opener struct {
	// Kerberos is a logged-in Kerberos client for the drivers that
	// authenticate with Kerberos; for hdfs it is a
	// *github.com/jcmturner/gokrb5/v8/client.Client, as
	// security.Kerberos.Client returns. Nil: no Kerberos (SIMPLE
	// authentication for hdfs). A driver that takes no credentials fails
	// to open a URI when Kerberos is set rather than ignore it.
	Kerberos any
	// KerberosServicePrincipal is the service principal drivers ask
	// tickets for; empty: the driver's default (hdfs: "nn/_HOST", _HOST
	// being replaced by the NameNode's host, as in
	// dfs.namenode.kerberos.principal).
	KerberosServicePrincipal string
}

// Open returns the FS that uri names and the path within it, as the
// package's Open does, giving the Opener's settings to the driver.
func (o *Opener) Open(uri string) (FS, string, error) { return open(uri, o) }

// RegisterOpener is Register for a driver that takes an Opener's
// settings (credentials): open is called with the parsed URI and the
// Opener, which is the zero Opener for the package's Open. It panics as
// Register does.
func RegisterOpener(scheme string, open func(u *url.URL, o *Opener) (FS, error)) {
	if open == nil {
		panic("storage: RegisterOpener of scheme " + scheme + " with a nil open function")
	}
	register(scheme, driver{openWith: open})
}

// Register makes the URI scheme available to Open: open is called with
// the parsed URI (its scheme, host and port, user, query) each time Open
// meets the scheme, and returns the FS for it; the path in that FS is the
// URI's path. A driver package calls Register from its init function.
//
// Schemes are case-insensitive. Register panics if open is nil, if the
// scheme is not a valid URI scheme or is "file" (always local disk), or if
// the scheme is already registered, as database/sql.Register does: these
// are programming errors found at init.
func Register(scheme string, open func(u *url.URL) (FS, error)) {
	if open == nil {
		panic("storage: Register of scheme " + scheme + " with a nil open function")
	}
	register(scheme, driver{open: open})
}

// register adds a driver to the registry.
func register(scheme string, d driver) {
	s := strings.ToLower(scheme)
	switch {
	case !validScheme(s):
		panic(fmt.Sprintf("storage: Register of invalid scheme %q", scheme))
	case s == "file":
		panic("storage: the file scheme is built in and cannot be registered")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.drivers[s]; dup {
		panic("storage: Register called twice for scheme " + s)
	}
	if registry.drivers == nil {
		registry.drivers = map[string]driver{}
	}
	registry.drivers[s] = d
}

// schemes returns the registered schemes, sorted, for error messages.
func schemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := []string{"file"}
	for s := range registry.drivers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open returns the FS that uri names and the path within it.
//
//   - A plain path, relative or absolute ("in", "/data/in"), is on local
//     disk and returned unchanged. Anything that is not "scheme://..." or
//     "file:..." is a plain path, so Windows paths ("C:\data") are too.
//   - "file:///abs/path" (also "file:/abs/path" and
//     "file://localhost/abs/path") is on local disk; the path is the
//     URI's decoded path.
//   - "scheme://authority/path" goes to the driver registered for the
//     scheme; the path is the URI's decoded path ("/" when empty).
//
// In a URI, "?" starts the query and "%" an escape, so a path that holds
// them must be percent-encoded ("%3F", "%25"). An unregistered scheme
// gives an error wrapping ErrUnknownScheme.
func Open(uri string) (FS, string, error) { return open(uri, nil) }

// open is Open with an Opener's settings (nil: none).
func open(uri string, o *Opener) (FS, string, error) {
	if uri == "" {
		return nil, "", errors.New("storage: empty path")
	}
	if !isURI(uri) {
		return Local(), uri, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", fmt.Errorf("storage: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return nil, "", fmt.Errorf("storage: %q: a file URI names the local disk and cannot have the host %q", uri, u.Host)
		}
		if u.Path == "" {
			return nil, "", fmt.Errorf("storage: %q: a file URI needs an absolute path (file:///path)", uri)
		}
		return Local(), u.Path, nil
	}
	registry.RLock()
	d, ok := registry.drivers[scheme]
	registry.RUnlock()
	if !ok {
		return nil, "", fmt.Errorf("%w %q in %q: import the package that provides it for its side effects "+
			"(for hdfs: import _ \"github.com/microbatch-go/microbatch/storage/hdfs\"); registered schemes: %s",
			ErrUnknownScheme, scheme, u.Redacted(), strings.Join(schemes(), ", "))
	}
	var fsys FS
	switch {
	case d.openWith != nil:
		if o == nil {
			o = &Opener{}
		}
		fsys, err = d.openWith(u, o)
	case o != nil && o.Kerberos != nil:
		err = fmt.Errorf("the driver for scheme %q takes no Kerberos credentials", scheme)
	default:
		fsys, err = d.open(u)
	}
	if err != nil {
		return nil, "", fmt.Errorf("storage: opening %s: %w", u.Redacted(), err)
	}
	if fsys == nil {
		return nil, "", fmt.Errorf("storage: the driver for scheme %q returned no FS for %s", scheme, u.Redacted())
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	return fsys, p, nil
}

// isURI reports whether s is "scheme://..." or "file:...": everything else
// is a plain local path.
func isURI(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 || !validScheme(s[:i]) {
		return false
	}
	return strings.HasPrefix(s[i+1:], "//") || strings.EqualFold(s[:i], "file")
}

// validScheme reports whether s is a URI scheme (RFC 3986: a letter, then
// letters, digits, "+", "-" or ".").
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// Redact returns a location for messages and logs: a URI with its
// password replaced by "xxxxx" (url.URL.Redacted), a plain path as it is.
func Redact(location string) string {
	if !isURI(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return "(a URI that does not parse)"
	}
	return u.Redacted()
}

// Join returns the location of name inside the directory dir, where dir
// is a plain path or a URI as Open takes them: for a URI, name is added to
// its path and its query (such as hdfs's ?user=) and fragment are kept,
// so Join("hdfs://nn:8020/data?user=etl", "dead") is
// "hdfs://nn:8020/data/dead?user=etl". name is a relative slash-separated
// path; for a URI it is percent-encoded as a path.
func Join(dir, name string) string {
	if !isURI(dir) {
		if dir == "" {
			return name
		}
		return strings.TrimRight(dir, "/") + "/" + name
	}
	rest, suffix := dir, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest, suffix = rest[:i], rest[i:]
	}
	return strings.TrimRight(rest, "/") + "/" + (&url.URL{Path: name}).EscapedPath() + suffix
}
