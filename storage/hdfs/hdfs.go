// Package hdfs is the HDFS driver of package storage, built on the
// github.com/colinmarc/hdfs/v2 client. Importing it registers the "hdfs"
// URI scheme, as database/sql drivers register theirs:
//
//	import _ "github.com/microbatch-go/microbatch/storage/hdfs"
//
//	fsys, dir, err := storage.Open("hdfs://namenode:8020/data/in?user=etl")
//
// # URIs
//
// The authority names the NameNode, host:port (the port defaults to
// 8020). Several NameNodes of an HA pair are separated by commas,
// "hdfs://nn1:8020,nn2:8020/path": the client moves to the next one when
// a NameNode answers with a StandbyException or cannot be reached. An
// empty authority, "hdfs:///path", takes the NameNodes from the Hadoop
// configuration in $HADOOP_CONF_DIR (or $HADOOP_HOME/conf): the
// rpc-address of every NameNode it lists. The query may set:
//
//   - user: the HDFS user to act as; by default $HADOOP_USER_NAME, or
//     else the user running the process. A user in the authority
//     ("hdfs://etl@nn:8020/") is the same.
//   - replication, blocksize: for the files Create makes; by default the
//     NameNode's defaults.
//   - closetimeout: how long Close of a written file retries while the
//     NameNode reports the last block still replicating (a Go duration,
//     default 10s).
//
// Every storage.Open of the same NameNodes, user and settings shares one
// FS, and so one client connection, for the life of the process.
//
// # Users and permissions
//
// Without Kerberos (SIMPLE authentication) the client tells the NameNode
// which user it acts as, and the NameNode checks that user's permissions
// on every path (dfs.permissions.enabled is on by default). The user is,
// in order: Options.Client.User when Open is called; the user of an
// hdfs:// URI, from its authority ("hdfs://etl@nn:8020/") or its user
// parameter ("?user=etl"); $HADOOP_USER_NAME; else the user running the
// process. With Kerberos the principal is the user.
//
// As on any HDFS, that user needs EXECUTE on every directory above a
// path, WRITE on the directory it creates files and directories in (or
// the deepest existing one above them), READ to open a file and READ and
// EXECUTE to list a directory; removing and renaming need WRITE on the
// parent, and in a directory with the sticky bit, such as /tmp, only the
// owner of an entry (or of the directory) may remove or rename it. New
// files and directories belong to the user, in the group of their parent,
// with FilePerm and DirPerm. A job therefore writes under a directory it
// owns: its home, /user/NAME (relative names resolve there), or a
// directory such as /warehouse/events that an administrator created with
// the superuser (the NameNode's user, typically "hdfs") and gave to the
// job's user; the root directory is the superuser's and only it may
// create /warehouse.
//
// A refusal is an error wrapping fs.ErrPermission whose cause is a
// *PermissionError naming the user and what refused it, such as
//
//	create /user/bob/out/part-0: permission denied for HDFS user alice: "/user/bob" is bob:supergroup:drwx------ (AccessControlException)
//
// The NameNode's other limits map to errors too: a name longer than
// dfs.namenode.fs-limits.max-component-length (255 bytes) wraps
// syscall.ENAMETOOLONG, a directory at
// dfs.namenode.fs-limits.max-directory-items (1,048,576 entries) wraps
// ErrDirectoryFull, and a file whose lease the NameNode is recovering
// (its writer died) wraps ErrRecoveryInProgress; each keeps the client's
// hdfs.Error with the exception's class and message.
//
// # Kerberos
//
// A URI carries no credentials. A job logs in once (security.Kerberos's
// Client) and opens its URIs through a storage.Opener holding the
// logged-in gokrb5 client; the NameNode's service principal is the
// Opener's KerberosServicePrincipal, by default DefaultServicePrincipal
// ("nn/_HOST", _HOST replaced by the host of the NameNode's address):
//
//	o := &storage.Opener{Kerberos: krbClient}
//	fsys, dir, err := o.Open("hdfs://namenode:8020/data/in")
//
// The principal is then the user. FSs are shared only between Opens of
// the same client. A client without Kerberos on a cluster that requires
// it fails with an error wrapping ErrKerberosRequired:
//
//	storage/hdfs: nn:8020 refused SIMPLE authentication: the cluster requires Kerberos; give -principal and -keytab (or a ticket cache)
//
// and a Kerberos client that cannot get its tickets (a stale keytab, an
// expired ticket cache, a realm no KDC serves) or that the NameNode
// refuses fails with one line wrapping ErrKerberosLogin that names the
// NameNodes, the principal and the cause:
//
//	storage/hdfs: hdfs nn:8020 as alice@REALM: kerberos authentication failed: the KDC refused the key (KDC_ERR_PREAUTH_FAILED): ...
//
// Data transfer protection and any other client setting are not in the
// URI form: build the client options in Go and call Open, for example
// from the Hadoop configuration:
//
//	conf, _ := hadoopconf.LoadFromEnvironment()
//	copts := hdfs.ClientOptionsFromConf(conf) // colinmarc's hdfs package
//	copts.KerberosClient = krbClient          // a logged-in gokrb5 client
//	fsys, err := storagehdfs.Open(storagehdfs.Options{Client: copts})
//
// # Semantics
//
// Names are slash-separated HDFS paths; a relative name is relative to
// the user's home directory, /user/NAME, as in HDFS. Create truncates an
// existing file (by deleting it and creating it again: HDFS has no
// truncate-on-create in this client), also one another client is writing
// or whose lease the NameNode is recovering, and creates missing parent
// directories; CreateExclusive (storage.ExclusiveCreator) creates a file
// only if its name is free, as the NameNode decides: while the NameNode
// recovers the lease of a file of that name whose writer died, it retries
// for up to RecoveryTimeout, then reports the name taken. Rename
// atomically replaces an existing target file (rename2 with overwrite). The writer's Close waits for the NameNode to
// complete the file, retrying with exponential backoff while it reports
// the file still replicating; when a Write or Close fails, the file is
// removed, so that no partial file or open lease is left behind. Readers
// retry a failed read a few times (the client reconnects to the
// DataNode), and implement io.ReaderAt and io.Seeker. Errors wrap
// fs.ErrNotExist, fs.ErrExist and fs.ErrPermission for the matching Java
// exceptions (see Users and permissions for the others), and keep the
// client's hdfs.Error for errors.As when the client does. Now reads the
// NameNode's clock.
//
// Contexts are checked when each call starts; the client has no way to
// cancel a call in flight, and readers and writers do not depend on the
// context, as storage.FS requires.
package hdfs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/microbatch-go/microbatch/storage"
)

// Defaults of Options.
const (
	// DefaultCloseTimeout bounds how long Close retries while the
	// NameNode reports the last block still replicating.
	DefaultCloseTimeout = 10 * time.Second
	// DefaultCloseBackoff is the first wait between those retries; each
	// wait doubles, up to MaxCloseBackoff.
	DefaultCloseBackoff = 100 * time.Millisecond
	// MaxCloseBackoff is the longest wait between Close retries.
	MaxCloseBackoff = 2 * time.Second
	// DefaultReadRetries is how many times a failed read is retried.
	DefaultReadRetries = 3
	// DefaultDialTimeout bounds connecting to a NameNode or DataNode when
	// the client options have no dial function.
	DefaultDialTimeout = 10 * time.Second
	// DefaultPort is the NameNode RPC port used when a URI names none.
	DefaultPort = "8020"
	// DefaultRecoveryTimeout bounds how long CreateExclusive waits for
	// the NameNode to recover the lease of a file in the way.
	DefaultRecoveryTimeout = 10 * time.Second
)

// Options configures an FS made by Open.
type Options struct {
	// Client holds the options of the colinmarc/hdfs client: the
	// NameNode Addresses (required), the User (default
	// $HADOOP_USER_NAME, else the OS user; ignored with Kerberos, where
	// the principal is the user), KerberosClient and
	// KerberosServicePrincipleName for a kerberized cluster,
	// DataTransferProtection, UseDatanodeHostname and dial functions
	// (default: net.Dialer with DialTimeout).
	Client gohdfs.ClientOptions
	// Replication and BlockSize apply to the files Create makes; zero
	// means the NameNode's defaults.
	Replication int
	BlockSize   int64
	// FilePerm and DirPerm are the permissions of new files and
	// directories (default 0644 and 0755), before the NameNode's umask.
	FilePerm, DirPerm fs.FileMode
	// CloseTimeout bounds how long a writer's Close retries while the
	// NameNode answers that the file is still replicating
	// (DefaultCloseTimeout when zero; negative: no retry).
	CloseTimeout time.Duration
	// CloseBackoff is the first wait between those retries
	// (DefaultCloseBackoff when zero); each wait doubles, up to
	// MaxCloseBackoff.
	CloseBackoff time.Duration
	// ReadRetries is how many times a read that fails (a DataNode
	// connection lost, a checksum error) is retried before its error is
	// returned (DefaultReadRetries when zero; negative: none).
	ReadRetries int
	// DialTimeout bounds connecting to NameNodes and DataNodes when
	// Client has no dial functions (DefaultDialTimeout when zero).
	DialTimeout time.Duration
	// RecoveryTimeout bounds how long CreateExclusive retries, with the
	// backoff of Close, while the NameNode answers that it is recovering
	// the lease of a file of that name whose writer is gone
	// (RecoveryInProgressException), before it reports the name taken
	// (DefaultRecoveryTimeout when zero; negative: no retry).
	RecoveryTimeout time.Duration
}

// withDefaults returns o with its zero fields set to their defaults, or
// an error for invalid settings.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Replication < 0:
		return o, fmt.Errorf("storage/hdfs: negative replication %d", o.Replication)
	case o.BlockSize < 0:
		return o, fmt.Errorf("storage/hdfs: negative block size %d", o.BlockSize)
	case o.CloseBackoff < 0:
		return o, fmt.Errorf("storage/hdfs: negative close backoff %v", o.CloseBackoff)
	case o.DialTimeout < 0:
		return o, fmt.Errorf("storage/hdfs: negative dial timeout %v", o.DialTimeout)
	}
	if o.FilePerm == 0 {
		o.FilePerm = 0o644
	}
	if o.DirPerm == 0 {
		o.DirPerm = 0o755
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.CloseBackoff == 0 {
		o.CloseBackoff = DefaultCloseBackoff
	}
	if o.ReadRetries == 0 {
		o.ReadRetries = DefaultReadRetries
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RecoveryTimeout == 0 {
		o.RecoveryTimeout = DefaultRecoveryTimeout
	}
	return o, nil
}

// FS is a storage.FS on an HDFS cluster. It is safe for concurrent use:
// its calls share one NameNode connection, on which the client serializes
// them.
type FS struct {
	c    *gohdfs.Client
	opts Options
	home string // the user's home directory, for relative names

	defMu   sync.Mutex
	haveDef bool
	def     gohdfs.ServerDefaults

	cacheKey string // set for an FS shared through storage.Open

	closeOnce sync.Once // the client panics when closed twice
	closeErr  error
}

var (
	_ storage.FS               = (*FS)(nil)
	_ storage.ExclusiveCreator = (*FS)(nil)
)

// Open connects to the cluster that opts.Client names and returns its
// FS. The caller should Close it when done.
func Open(opts Options) (*FS, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	co := opts.Client
	if len(co.Addresses) == 0 {
		return nil, errors.New("storage/hdfs: no NameNode addresses")
	}
	if co.User == "" && co.KerberosClient == nil {
		if co.User, err = DefaultUser(); err != nil {
			return nil, err
		}
	}
	dial := (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	if co.NamenodeDialFunc == nil {
		co.NamenodeDialFunc = dial
	}
	if co.DatanodeDialFunc == nil {
		co.DatanodeDialFunc = dial
	}
	c, err := gohdfs.NewClient(co)
	if err != nil {
		if kc := co.KerberosClient; kc != nil && kc.Credentials != nil {
			return nil, kerberosError(kc.Credentials.UserName()+"@"+kc.Credentials.Realm(), co.Addresses, err)
		}
		return nil, fmt.Errorf("storage/hdfs: connecting to %s: %w", strings.Join(co.Addresses, ","), err)
	}
	opts.Client = co
	return newFS(c, opts), nil
}

// NewFromClient returns the FS of a client the caller made and keeps:
// opts.Client is ignored, and Close does not close the client.
func NewFromClient(c *gohdfs.Client, opts Options) (*FS, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := newFS(c, opts)
	f.cacheKey = borrowed
	return f, nil
}

func newFS(c *gohdfs.Client, opts Options) *FS {
	return &FS{c: c, opts: opts, home: path.Join("/user", c.User())}
}

// DefaultUser returns the HDFS user a client acts as when none is given:
// $HADOOP_USER_NAME, as Hadoop's own tools use, or else the user running
// the process (from the OS, or $USER).
func DefaultUser() (string, error) {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u, nil
	}
	u, err := user.Current()
	if err == nil && u.Username != "" {
		return u.Username, nil
	}
	if name := os.Getenv("USER"); name != "" {
		return name, nil
	}
	return "", fmt.Errorf("storage/hdfs: no user given and none found (set HADOOP_USER_NAME): %v", err)
}

// Client returns the colinmarc/hdfs client under the FS, for what the
// storage interface does not cover (permissions, owners, checksums,
// content summaries, ...).
func (f *FS) Client() *gohdfs.Client { return f.c }

// Close closes the client connection; calls after the first do nothing.
// An FS from storage.Open is shared by every Open of the same URI:
// closing it closes it for all of them (a later storage.Open connects
// again). Files being written when it is closed stay open until the
// NameNode's lease expires.
func (f *FS) Close() error {
	if f.cacheKey == borrowed {
		return nil
	}
	f.closeOnce.Do(func() {
		if f.cacheKey != "" {
			cache.Lock()
			if cache.fs[f.cacheKey] == f {
				delete(cache.fs, f.cacheKey)
			}
			cache.Unlock()
		}
		f.closeErr = f.c.Close()
	})
	return f.closeErr
}

// borrowed is the cacheKey of an FS on a client its caller keeps.
const borrowed = "\x00borrowed"

// abs returns the absolute HDFS path of name.
func (f *FS) abs(name string) string {
	if strings.HasPrefix(name, "/") {
		return path.Clean(name)
	}
	return path.Join(f.home, name)
}

// defaults returns the NameNode's server defaults, fetched once. Calling
// it before any read or write also makes sure that the client caches
// them before they are used concurrently: the client itself fetches and
// stores them without a lock.
func (f *FS) defaults() (gohdfs.ServerDefaults, error) {
	f.defMu.Lock()
	defer f.defMu.Unlock()
	if f.haveDef {
		return f.def, nil
	}
	d, err := f.c.ServerDefaults()
	if err != nil {
		return d, err
	}
	f.def, f.haveDef = d, true
	return d, nil
}

// errIsDir is the cause of an Open or Create of a directory.
var errIsDir = errors.New("is a directory")

// begin returns the error of a call started with a done ctx.
func begin(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// Create creates or truncates the file name and its missing parents.
// The returned writer's Close completes the file, waiting while the
// NameNode still replicates it (up to CloseTimeout, or until ctx is done:
// a cancelled batch does not wait); if a Write or Close fails, the file is
// removed.
func (f *FS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	return f.create(ctx, name, true)
}

// CreateExclusive creates the file name and its missing parents, unless
// a file or directory has that name already: then the error wraps
// fs.ErrExist (the NameNode's FileAlreadyExistsException, or
// AlreadyBeingCreatedException for a file another client is writing).
// The NameNode decides, so of several clients creating the name at once
// only one succeeds. The writer is the one Create returns.
func (f *FS) CreateExclusive(ctx context.Context, name string) (io.WriteCloser, error) {
	return f.create(ctx, name, false)
}

// create creates the file name, making its missing parents. An existing
// file is removed and created again with replace; without it the
// NameNode's refusal is returned, and nothing is removed.
func (f *FS) create(ctx context.Context, name string, replace bool) (io.WriteCloser, error) {
	if err := begin(ctx, "create", name); err != nil {
		return nil, err
	}
	p := f.abs(name)
	d, err := f.defaults()
	if err != nil {
		return nil, f.wrapErr("create", name, err)
	}
	replication, blockSize := f.fileSettings(d)
	var recovery *recoveryWait // while the NameNode recovers the lease of a file in the way
	for tries := 0; ; {
		fw, err := f.c.CreateFile(p, replication, blockSize, f.opts.FilePerm)
		if err == nil {
			w := &writer{f: f, name: name, p: p, fw: fw, ctx: ctx}
			if fi, err := f.c.Stat(p); err == nil {
				w.fileID = fileID(fi)
			}
			return w, nil
		}
		recovering := remoteException(err) == recoveryInProgress
		if !recovering || replace { // waits for a recovery have their own bound
			if tries == 3 {
				return nil, f.wrapErr("create", name, err)
			}
			tries++
		}
		switch {
		case errors.Is(err, fs.ErrNotExist): // a missing parent
			if err := f.c.MkdirAll(path.Dir(p), f.opts.DirPerm); err != nil {
				return nil, f.wrapErr("create", name, err)
			}
		case (errors.Is(err, fs.ErrExist) || recovering) && replace:
			// A file to replace, or one being written, or one whose
			// dead writer's lease is being recovered: a delete ends it.
			fi, serr := f.c.Stat(p)
			if serr == nil && fi.IsDir() {
				return nil, &fs.PathError{Op: "create", Path: name, Err: errIsDir}
			}
			if err := f.c.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, f.wrapErr("create", name, err)
			}
		case recovering:
			// The name is taken by a file whose writer is gone: wait for
			// the NameNode to finish its recovery and give a definite
			// answer (FileAlreadyExistsException, unless it went away).
			if recovery == nil {
				recovery = f.newRecoveryWait()
			}
			if werr := recovery.wait(ctx); werr != nil {
				last := wrapErr("create", name, err).(*fs.PathError).Err
				return nil, &fs.PathError{Op: "create", Path: name, Err: fmt.Errorf("%w: %w; the NameNode's last answer: %w", fs.ErrExist, werr, last)}
			}
		default:
			return nil, f.wrapErr("create", name, err)
		}
	}
}

// recoveryWait paces the retries of a create while the NameNode recovers
// the lease of the file in the way, up to RecoveryTimeout.
type recoveryWait struct {
	deadline time.Time
	timeout  time.Duration
	backoff  time.Duration
}

// newRecoveryWait starts the wait for a lease recovery.
func (f *FS) newRecoveryWait() *recoveryWait {
	return &recoveryWait{deadline: time.Now().Add(f.opts.RecoveryTimeout), timeout: f.opts.RecoveryTimeout, backoff: f.opts.CloseBackoff}
}

// wait sleeps before the next retry, with exponential backoff. It returns
// an error once the timeout would pass or ctx is done.
func (r *recoveryWait) wait(ctx context.Context) error {
	if r.timeout < 0 || time.Now().Add(r.backoff).After(r.deadline) {
		return fmt.Errorf("%w: the NameNode did not finish recovering the lease of the file, whose writer is gone, within %v",
			ErrRecoveryInProgress, max(r.timeout, 0))
	}
	select {
	case <-time.After(r.backoff):
	case <-ctx.Done():
		return fmt.Errorf("%w: stopped waiting for the NameNode to recover the lease of the file: %w", ErrRecoveryInProgress, ctx.Err())
	}
	r.backoff = min(2*r.backoff, MaxCloseBackoff)
	return nil
}

// fileSettings returns the replication and block size of new files.
func (f *FS) fileSettings(d gohdfs.ServerDefaults) (replication int, blockSize int64) {
	replication, blockSize = f.opts.Replication, f.opts.BlockSize
	if replication == 0 {
		replication = d.Replication
	}
	if blockSize == 0 {
		blockSize = d.BlockSize
	}
	return replication, blockSize
}

// writer is the io.WriteCloser of a file being written.
type writer struct {
	f      *FS
	name   string // as the caller named it, for errors
	p      string // the absolute path
	fw     *gohdfs.FileWriter
	fileID uint64          // the inode id, to remove only this file after a failure
	ctx    context.Context // Create's: Close stops waiting for the NameNode when it is done
	err    error           // the first Write error
	closed bool
}

// fileID returns the inode id of a file the client describes, or 0.
func fileID(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*gohdfs.FileStatus); ok {
		return st.GetFileId()
	}
	return 0
}

// Write buffers b and sends it to the DataNode in packets. After an
// error every Write fails, and Close removes the file.
func (w *writer) Write(b []byte) (int, error) {
	switch {
	case w.closed:
		return 0, &fs.PathError{Op: "write", Path: w.name, Err: fs.ErrClosed}
	case w.err != nil:
		return 0, w.err
	case len(b) == 0:
		// The client would allocate a block and never send it to a
		// DataNode; the NameNode would then never complete the file.
		return 0, nil
	}
	n, err := w.fw.Write(b)
	if err != nil {
		w.err = w.f.wrapErr("write", w.name, err)
		return n, w.err
	}
	return n, nil
}

// Close flushes the data, waits for the DataNode's acknowledgements and
// completes the file with the NameNode, retrying while the NameNode
// reports it still replicating. If the file cannot be completed it is
// removed and the error returned.
func (w *writer) Close() error {
	if w.closed {
		return &fs.PathError{Op: "close", Path: w.name, Err: fs.ErrClosed}
	}
	w.closed = true
	if w.err != nil {
		// The client cannot recover a failed block write: end it at once
		// (a deadline in the past fails the pending I/O), then remove.
		w.fw.SetDeadline(time.Now())
		w.fw.Close()
		return w.failed(w.err)
	}
	if err := w.f.closeFile(w.ctx, w.fw); err != nil {
		return w.failed(w.f.wrapErr("close", w.name, err))
	}
	return nil
}

// failed removes the file a failed write leaves (HDFS deletes files
// under construction, which also ends their lease) and returns err, with
// the removal's error if it failed too. A file another writer has put
// in its place since (a different inode) is left alone.
func (w *writer) failed(err error) error {
	if fi, serr := w.f.c.Stat(w.p); serr != nil || w.fileID != 0 && fileID(fi) != w.fileID {
		return err
	}
	if rerr := w.f.c.Remove(w.p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return errors.Join(err, fmt.Errorf("storage/hdfs: removing %s after a failed write: %w", w.name, rerr))
	}
	return err
}

// closeFile closes fw, retrying with exponential backoff while the
// NameNode reports the file still replicating (hdfs.ErrReplicating), for
// up to CloseTimeout or until ctx is done. The client then calls only
// complete again: the data is already acknowledged.
func (f *FS) closeFile(ctx context.Context, fw *gohdfs.FileWriter) error {
	deadline := time.Now().Add(f.opts.CloseTimeout)
	wait := f.opts.CloseBackoff
	for {
		err := fw.Close()
		if err == nil || !errors.Is(err, gohdfs.ErrReplicating) {
			return err
		}
		if f.opts.CloseTimeout < 0 || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w: the NameNode did not complete the file within %v",
				gohdfs.ErrReplicating, max(f.opts.CloseTimeout, 0))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("%w: stopped waiting for the NameNode to complete the file: %w", gohdfs.ErrReplicating, ctx.Err())
		}
		wait = min(2*wait, MaxCloseBackoff)
	}
}

// Now returns the time on the NameNode's clock, the clock that stamps
// the modification times List and Stat report, which may be ahead of or
// behind this host's. It creates an empty file named
// .microbatch-clock-<random> in /tmp (or, when the user may not write
// there, in the user's home directory), takes its modification time and
// removes it. The time is truncated to the millisecond and stamped before
// Now returns: the NameNode's clock is at least that when it returns.
// The file source (package sources/file) calls it when it starts, to
// compare modification times with its job's clock.
func (f *FS) Now(ctx context.Context) (time.Time, error) {
	if err := begin(ctx, "now", "/tmp"); err != nil {
		return time.Time{}, err
	}
	d, err := f.defaults()
	if err != nil {
		return time.Time{}, fmt.Errorf("storage/hdfs: reading the NameNode's clock: %w", f.wrapErr("create", "/tmp", err))
	}
	replication, blockSize := f.fileSettings(d)
	name := ".microbatch-clock-" + rand.Text()
	var errs []error
	for _, dir := range []string{"/tmp", f.home} {
		p := path.Join(dir, name)
		fw, err := f.c.CreateFile(p, replication, blockSize, 0o600)
		if err != nil {
			errs = append(errs, f.wrapErr("create", p, err))
			continue
		}
		err = f.closeFile(ctx, fw)
		fi, serr := f.c.Stat(p)
		if rerr := f.c.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, f.wrapErr("remove", p, rerr))
		}
		if err == nil && serr != nil {
			err = f.wrapErr("stat", p, serr)
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("storage/hdfs: reading the NameNode's clock: %w", err)
		}
		return fi.ModTime(), nil
	}
	return time.Time{}, fmt.Errorf("storage/hdfs: reading the NameNode's clock: %w; %w", errs[0], errs[1])
}

// Open opens the file name for reading. The reader also implements
// io.ReaderAt and io.Seeker, and has a Size method.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := begin(ctx, "open", name); err != nil {
		return nil, err
	}
	if _, err := f.defaults(); err != nil {
		return nil, f.wrapErr("open", name, err)
	}
	fr, err := f.c.Open(f.abs(name))
	if err != nil {
		return nil, f.wrapErr("open", name, err)
	}
	if fr.Stat().IsDir() {
		fr.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return &Reader{f: f, fr: fr, name: name, retries: max(f.opts.ReadRetries, 0)}, nil
}

// Reader reads a file of an FS; Open returns one as an io.ReadCloser.
// Its methods may be called concurrently (parallel ReadAt calls, as
// io.ReaderAt allows, are serialized).
type Reader struct {
	mu      sync.Mutex
	f       *FS
	fr      *gohdfs.FileReader
	name    string
	retries int
	failed  int // failed reads in a row
}

// Read reads the next bytes of the file. A read that fails is retried
// (the client connects to the DataNode again at the same offset) up to
// the FS's ReadRetries times in a row before the error is returned.
func (r *Reader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		n, err := r.fr.Read(b)
		if err == nil || err == io.EOF {
			r.failed = 0
			return n, err
		}
		if r.failed++; r.failed > r.retries || errors.Is(err, io.ErrClosedPipe) {
			return n, r.f.wrapErr("read", r.name, err)
		}
		if n > 0 {
			return n, nil // the next Read picks up where this one stopped
		}
		time.Sleep(time.Duration(r.failed) * 10 * time.Millisecond)
	}
}

// ReadAt reads len(b) bytes from offset off, with the same retries as
// Read, and returns io.EOF when the file ends before b is full. Unlike
// the client's own ReadAt it leaves the offset of Read unchanged.
func (r *Reader) ReadAt(b []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: errors.New("negative offset")}
	}
	pos, err := r.fr.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, r.f.wrapErr("read", r.name, err)
	}
	defer r.fr.Seek(pos, io.SeekStart)
	done, failed := 0, 0
	for done < len(b) {
		if off+int64(done) >= r.fr.Stat().Size() {
			return done, io.EOF
		}
		n, err := r.fr.ReadAt(b[done:], off+int64(done))
		done += n
		switch {
		case err == nil:
		case err == io.EOF:
			return done, io.EOF
		case failed >= r.retries || errors.Is(err, io.ErrClosedPipe):
			return done, r.f.wrapErr("read", r.name, err)
		default:
			failed++
			time.Sleep(time.Duration(failed) * 10 * time.Millisecond)
		}
	}
	return done, nil
}

// Seek sets the offset of the next Read, as io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.fr.Seek(offset, whence)
	if err != nil {
		return n, &fs.PathError{Op: "seek", Path: r.name, Err: err}
	}
	return n, nil
}

// Size returns the length of the file when it was opened.
func (r *Reader) Size() int64 { return r.fr.Stat().Size() }

// Close closes the reader's DataNode connection.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fr.Close()
}

// Rename moves from to to, replacing a file named to.
func (f *FS) Rename(ctx context.Context, from, to string) error {
	if err := begin(ctx, "rename", from); err != nil {
		return err
	}
	return f.wrapErr("rename", from, f.c.Rename(f.abs(from), f.abs(to)), to)
}

// MkdirAll creates the directory name and its missing parents.
func (f *FS) MkdirAll(ctx context.Context, name string) error {
	if err := begin(ctx, "mkdir", name); err != nil {
		return err
	}
	return f.wrapErr("mkdir", name, f.c.MkdirAll(f.abs(name), f.opts.DirPerm))
}

// Remove removes the file or empty directory name. A file still being
// written may be removed: its writer's next call fails.
func (f *FS) Remove(ctx context.Context, name string) error {
	if err := begin(ctx, "remove", name); err != nil {
		return err
	}
	return f.wrapErr("remove", name, f.c.Remove(f.abs(name)))
}

// List returns the entries of the directory dir sorted by name.
func (f *FS) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	if err := begin(ctx, "list", dir); err != nil {
		return nil, err
	}
	entries, err := f.c.ReadDir(f.abs(dir))
	if err != nil {
		return nil, f.wrapErr("list", dir, err)
	}
	out := make([]storage.FileInfo, len(entries))
	for i, e := range entries {
		out[i] = fileInfo(path.Join(dir, e.Name()), e)
	}
	slices.SortFunc(out, func(a, b storage.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Stat describes the file or directory name.
func (f *FS) Stat(ctx context.Context, name string) (storage.FileInfo, error) {
	if err := begin(ctx, "stat", name); err != nil {
		return storage.FileInfo{}, err
	}
	fi, err := f.c.Stat(f.abs(name))
	if err != nil {
		return storage.FileInfo{}, f.wrapErr("stat", name, err)
	}
	return fileInfo(path.Clean(name), fi), nil
}

// fileInfo converts the client's file info for the entry at p.
func fileInfo(p string, fi fs.FileInfo) storage.FileInfo {
	return storage.FileInfo{Path: p, Name: path.Base(p), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
}
