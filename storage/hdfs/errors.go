package hdfs

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"

	gohdfs "github.com/colinmarc/hdfs/v2"
)

// Java exceptions the driver treats specially.
const (
	accessControlException   = "org.apache.hadoop.security.AccessControlException"
	recoveryInProgress       = "org.apache.hadoop.hdfs.protocol.RecoveryInProgressException"
	pathComponentTooLong     = "org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException"
	maxDirectoryItemsReached = "org.apache.hadoop.hdfs.protocol.FSLimitException$MaxDirectoryItemsExceededException"
)

// Errors of NameNode exceptions that io/fs has no error for. Compare with
// errors.Is; the error also wraps the client's hdfs.Error, which has the
// exception's class and message.
var (
	// ErrDirectoryFull is the kind of the NameNode's
	// FSLimitException$MaxDirectoryItemsExceededException: the directory
	// holds dfs.namenode.fs-limits.max-directory-items entries (1,048,576
	// by default) and takes no more.
	ErrDirectoryFull = errors.New("directory item limit exceeded")

	// ErrRecoveryInProgress is the kind of the NameNode's
	// RecoveryInProgressException: the file's writer is gone and the
	// NameNode is recovering its lease and last block, which takes a few
	// seconds; the file cannot be created over or appended to until then.
	ErrRecoveryInProgress = errors.New("lease recovery in progress")
)

// exceptionKinds maps the Java exceptions that have a matching error to
// it. The client maps several of these itself, dropping the exception;
// errors it returns raw (from complete, addBlock, delete after its stat,
// ...) are mapped here. A name over dfs.namenode.fs-limits.max-component-length
// (255 bytes by default) is syscall.ENAMETOOLONG, as on local disk.
var exceptionKinds = map[string]error{
	"java.io.FileNotFoundException":                                fs.ErrNotExist,
	accessControlException:                                         fs.ErrPermission,
	"org.apache.hadoop.fs.FileAlreadyExistsException":              fs.ErrExist,
	"org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException": fs.ErrExist,
	pathComponentTooLong:                                           syscall.ENAMETOOLONG,
	maxDirectoryItemsReached:                                       ErrDirectoryFull,
	recoveryInProgress:                                             ErrRecoveryInProgress,
}

// remoteError is a Java exception from the NameNode. Its text adds the
// exception's message to the client's; errors.Is finds the matching
// error, if any, and errors.As the client's hdfs.Error.
type remoteError struct {
	err  gohdfs.Error
	kind error // nil when no error matches
}

// message returns the exception's message without a stack trace.
func message(e gohdfs.Error) string {
	msg, _, _ := strings.Cut(e.Message(), "\n")
	return msg
}

func (e *remoteError) Error() string {
	if msg := message(e.err); msg != "" {
		return e.err.(error).Error() + ": " + msg
	}
	return e.err.(error).Error()
}

func (e *remoteError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err.(error)}
	}
	return []error{e.kind, e.err.(error)}
}

// remoteException returns the Java exception class of err, or "".
func remoteException(err error) string {
	var he gohdfs.Error
	if errors.As(err, &he) {
		return he.Exception()
	}
	return ""
}

// wrapErr returns err (nil stays nil) as an *fs.PathError for op on
// name, the name the caller gave, with remote exceptions mapped to the
// errors of exceptionKinds.
func wrapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	cause := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	if re, ok := cause.(gohdfs.Error); ok {
		if _, isErr := re.(error); isErr {
			cause = &remoteError{err: re, kind: exceptionKinds[re.Exception()]}
		}
	}
	return &fs.PathError{Op: op, Path: name, Err: cause}
}

// PermissionError is the cause of the error of a call the NameNode
// refused with an org.apache.hadoop.security.AccessControlException: the
// FS's user lacks a permission on the path or one of its ancestors (see
// the package documentation). It wraps fs.ErrPermission, and the
// client's hdfs.Error when the client kept the exception.
//
// Its text names the user and what refused the call: the NameNode's
// message when the client kept it,
//
//	permission denied for HDFS user alice: Permission denied: user=alice, access=WRITE, inode="/user/bob":bob:supergroup:drwxr-xr-x
//
// or else (the client reduces most refusals to os.ErrPermission) the
// owner, group and mode of the nearest inodes of the path that the user
// can see, found with further getFileInfo calls:
//
//	permission denied for HDFS user alice: "/user/bob" is bob:supergroup:drwx------ (AccessControlException)
type PermissionError struct {
	User   string       // the HDFS user the FS acts as
	Path   string       // the absolute path of the call
	Inodes []string     // `"path":owner:group:mode` of the inodes found
	Remote gohdfs.Error // the exception, when the client kept it
}

// Error returns one line naming the user and what refused the call.
func (e *PermissionError) Error() string {
	var b strings.Builder
	b.WriteString("permission denied for HDFS user " + e.User)
	if e.Remote != nil {
		if msg := message(e.Remote); msg != "" {
			b.WriteString(": " + msg)
			return b.String()
		}
	}
	for i, in := range e.Inodes {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		p, rest, _ := strings.Cut(in[1:], `":`)
		b.WriteString(`"` + p + `" is ` + rest)
	}
	b.WriteString(" (AccessControlException)")
	return b.String()
}

// Unwrap returns fs.ErrPermission and the remote exception, if any.
func (e *PermissionError) Unwrap() []error {
	if e.Remote == nil {
		return []error{fs.ErrPermission}
	}
	return []error{fs.ErrPermission, e.Remote.(error)}
}

// wrapErr is the package's wrapErr, with a refused permission made a
// *PermissionError that names the FS's user and, when the client dropped
// the NameNode's message, the owners and modes of the nearest inodes of
// name and of the others names (a rename's target).
func (f *FS) wrapErr(op, name string, err error, others ...string) error {
	if f.opts.Client.KerberosClient == nil {
		if refused := simpleRefusal(f.opts.Client.Addresses, err); refused != nil {
			return &fs.PathError{Op: op, Path: name, Err: refused}
		}
	}
	err = wrapErr(op, name, err)
	pe, ok := err.(*fs.PathError)
	if !ok || !errors.Is(pe.Err, fs.ErrPermission) {
		return err
	}
	var perm *PermissionError
	if errors.As(pe.Err, &perm) {
		return err
	}
	perm = &PermissionError{User: f.c.User(), Path: f.abs(name)}
	var re *remoteError
	if errors.As(pe.Err, &re) && re.err.Exception() == accessControlException && message(re.err) != "" {
		perm.Remote = re.err
	} else {
		for _, n := range append([]string{name}, others...) {
			for _, in := range f.nearestInodes(f.abs(n)) {
				if !slices.Contains(perm.Inodes, in) {
					perm.Inodes = append(perm.Inodes, in)
				}
			}
		}
	}
	return &fs.PathError{Op: op, Path: name, Err: perm}
}

// nearestInodes describes, as HDFS does in permission errors, the inode
// at the absolute path p with its parent directory or, when the user
// cannot see p, the nearest ancestor the user can.
func (f *FS) nearestInodes(p string) []string {
	for q := p; ; q = path.Dir(q) {
		fi, err := f.c.Stat(q)
		if err == nil {
			out := []string{describe(q, fi)}
			if q == p && q != "/" {
				if pfi, err := f.c.Stat(path.Dir(q)); err == nil {
					out = append(out, describe(path.Dir(q), pfi))
				}
			}
			return out
		}
		if q == "/" || q == "." {
			return nil
		}
	}
}

// describe returns `"p":owner:group:mode` for the file info fi of p, the
// mode as HDFS prints it ("drwxr-xr-x", with t or T for the sticky bit).
func describe(p string, fi fs.FileInfo) string {
	var perm uint32
	owner, group := "?", "?"
	if st, ok := fi.Sys().(*gohdfs.FileStatus); ok {
		perm, owner, group = st.GetPermission().GetPerm(), st.GetOwner(), st.GetGroup()
	}
	mode := []byte("-rwxrwxrwx")
	if fi.IsDir() {
		mode[0] = 'd'
	}
	for i := range 9 {
		if perm&(1<<(8-i)) == 0 {
			mode[i+1] = '-'
		}
	}
	if perm&0o1000 != 0 {
		mode[9] = "Tt"[perm&1]
	}
	return `"` + p + `":` + owner + ":" + group + ":" + string(mode)
}
