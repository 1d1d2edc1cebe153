package parquetsink

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DefaultPartitionName is the directory value of a Hive partition whose
// value is empty (Hive's and Spark's name for a null or empty partition
// value).
const DefaultPartitionName = "__HIVE_DEFAULT_PARTITION__"

// MaxDirNameBytes is the longest a Hive partition directory's name,
// <col>=<value> with both escaped, may be, in bytes: NAME_MAX, the limit
// of a file name on Linux file systems (ext4, XFS, btrfs and others),
// which refuse longer ones with ENAMETOOLONG, and the default of HDFS's
// dfs.namenode.fs-limits.max-component-length. A row whose directory
// would be longer is not written (see PartitionBy).
const MaxDirNameBytes = 255

// ErrPartitionValue is wrapped by the error of a row whose Hive partition
// directory cannot be made: the PartitionBy function returned the wrong
// number of values, or a value is not valid UTF-8 (readers of Hive
// tables and HDFS take paths as Unicode text), or its escaped directory
// name is longer than MaxDirNameBytes. Such a row is rejected with it
// (dstream.Partition.Reject: the job's dead letters), or fails the batch
// with FailOnInvalidPartition.
var ErrPartitionValue = errors.New("parquetsink: invalid Hive partition value")

// escapeSet marks the bytes that EscapePathName escapes: the ASCII
// control characters 0x00-0x1F and 0x7F and "\"#%'*/:=?\\{[]^", the list
// of Hive's FileUtils.escapePathName (Spark's
// ExternalCatalogUtils.escapePathName has the same list, less 0x00, which
// no file system accepts in a name anyway).
var escapeSet = func() (set [128]bool) {
	for c := range 0x20 {
		set[c] = true
	}
	for _, c := range "\"#%'*/:=?\\\x7f{[]^" {
		set[c] = true
	}
	return set
}()

// EscapePathName escapes s for use as a partition column name or value in
// a path, as Hive and Spark do: every character of the escape set becomes
// "%" and its code in two upper-case hex digits ("a/b" -> "a%2Fb", "%" ->
// "%25"); every other character, including all non-ASCII ones, is kept.
// The escape set is the ASCII control characters (0x00-0x1F, 0x7F) and
//
//	" # % ' * / : = ? \ { [ ] ^
//
// An empty s gives an empty string; see PartitionPath for empty values.
// Spark on Windows also escapes ' ', '<', '>' and '|'; this function
// follows Hive and Spark on every other system.
func EscapePathName(s string) string {
	i := 0
	for i < len(s) && !needsEscape(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsEscape(c byte) bool { return c < 128 && escapeSet[c] }

// PartitionPath returns the relative directory of a Hive partition:
// "col1=value1/col2=value2/...", with names and values escaped by
// EscapePathName and an empty value written as DefaultPartitionName, as
// Spark's getPartitionPathString does. cols and values must have the same
// length.
func PartitionPath(cols, values []string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(EscapePathName(c))
		b.WriteByte('=')
		b.WriteString(partitionValue(values[i]))
	}
	return b.String()
}

// partitionValue is the escaped directory value of v.
func partitionValue(v string) string {
	if v == "" {
		return DefaultPartitionName
	}
	return EscapePathName(v)
}

// The reasons a row's Hive partition directory cannot be made, which its
// rejection names (dstream.RejectReasoner) and metrics count dead letters
// by.
const (
	// reasonValueCount: the PartitionBy function returned the wrong
	// number of values.
	reasonValueCount = "value_count"
	// reasonInvalidUTF8: a value is not valid UTF-8.
	reasonInvalidUTF8 = "invalid_utf8"
	// reasonNameTooLong: a value's escaped directory name is longer than
	// MaxDirNameBytes.
	reasonNameTooLong = "name_too_long"
)

// partitionError is the error of a row whose Hive partition directory
// cannot be made: its message, which wraps ErrPartitionValue, and the
// reason word of its rejection.
type partitionError struct {
	reason string
	err    error
}

func (e *partitionError) Error() string { return e.err.Error() }

func (e *partitionError) Unwrap() error { return e.err }

// RejectReason implements dstream.RejectReasoner: "value_count",
// "invalid_utf8" or "name_too_long".
func (e *partitionError) RejectReason() string { return e.reason }

// checkPartition returns an error wrapping ErrPartitionValue if the
// values vals of the columns cols (escaped, as the directory names start)
// cannot make a partition directory, and nil if they can. Escaping leaves
// no '/' or NUL in a value, and an empty value is DefaultPartitionName,
// so a valid UTF-8 value whose escaped name fits in MaxDirNameBytes
// makes a directory on every file system the sink writes to. The error
// is a *partitionError, which names the reason.
func checkPartition(cols, vals []string) error {
	if len(vals) != len(cols) {
		return &partitionError{reasonValueCount,
			fmt.Errorf("%w: the PartitionBy function returned %d values for %d columns", ErrPartitionValue, len(vals), len(cols))}
	}
	for i, v := range vals {
		if !utf8.ValidString(v) {
			return &partitionError{reasonInvalidUTF8,
				fmt.Errorf("%w: column %s: the value %s is not valid UTF-8", ErrPartitionValue, cols[i], quoteStart(v))}
		}
		if n := len(cols[i]) + 1 + len(partitionValue(v)); n > MaxDirNameBytes {
			return &partitionError{reasonNameTooLong,
				fmt.Errorf("%w: column %s: the value %s of %d bytes makes a directory name %s=... of %d bytes once escaped, over the limit of %d bytes (MaxDirNameBytes)",
					ErrPartitionValue, cols[i], quoteStart(v), len(v), cols[i], n, MaxDirNameBytes)}
		}
	}
	return nil
}

// quoteStart quotes the start of a value for an error message.
func quoteStart(v string) string {
	const most = 32
	if len(v) <= most {
		return fmt.Sprintf("%q", v)
	}
	end := most
	for end > 0 && !utf8.RuneStart(v[end]) {
		end--
	}
	return fmt.Sprintf("%q...", v[:end])
}
