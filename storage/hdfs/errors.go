package hdfs

import (
	"errors"
	"io/fs"
	"strings"

	gohdfs "github.com/colinmarc/hdfs/v2"
)

// exceptionKinds maps the Java exceptions that have a matching io/fs
// error to it. The client maps these itself for most calls; errors it
// returns raw (from complete, addBlock, delete after its stat, ...) are
// mapped here.
var exceptionKinds = map[string]error{
	"java.io.FileNotFoundException":                                fs.ErrNotExist,
	"org.apache.hadoop.security.AccessControlException":            fs.ErrPermission,
	"org.apache.hadoop.fs.FileAlreadyExistsException":              fs.ErrExist,
	"org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException": fs.ErrExist,
}

// remoteError is a Java exception from the NameNode. Its text adds the
// exception's message to the client's; errors.Is finds the matching io/fs
// error, if any, and errors.As the client's hdfs.Error.
type remoteError struct {
	err  gohdfs.Error
	kind error // nil when no io/fs error matches
}

func (e *remoteError) Error() string {
	msg, _, _ := strings.Cut(e.err.Message(), "\n") // the message, not a stack trace
	if msg == "" {
		return e.err.(error).Error()
	}
	return e.err.(error).Error() + ": " + msg
}

func (e *remoteError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err.(error)}
	}
	return []error{e.kind, e.err.(error)}
}

// wrapErr returns err (nil stays nil) as an *fs.PathError for op on
// name, the name the caller gave, with remote exceptions mapped to io/fs
// errors.
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
