package kudu

import (
	"errors"
	"fmt"
	"strings"
)

// errPrefix begins the message of every error of this package, once: an
// error that wraps or quotes another of them cuts it from the inner
// message (errorf, unprefixed).
const errPrefix = "kudu: "

// errorf is fmt.Errorf with errPrefix put before format and cut from the
// messages of the error arguments. Those stay wrapped (%w), so errors.Is
// and errors.As see them.
func errorf(format string, args ...any) error {
	a := make([]any, len(args))
	for i, arg := range args {
		if err, ok := arg.(error); ok {
			arg = unprefixed(err)
		}
		a[i] = arg
	}
	return fmt.Errorf(errPrefix+format, a...)
}

// unprefixed returns err with errPrefix cut from the start of its message,
// for a message that has the prefix already: err itself when its message
// does not start with it (or err is nil), otherwise an error that unwraps
// to err.
func unprefixed(err error) error {
	if err == nil || !strings.HasPrefix(err.Error(), errPrefix) {
		return err
	}
	return trimmedError{err}
}

// trimmedError is an error without errPrefix in its message.
type trimmedError struct{ err error }

func (e trimmedError) Error() string { return strings.TrimPrefix(e.err.Error(), errPrefix) }

func (e trimmedError) Unwrap() error { return e.err }

// StatusCode is AppStatusPB.ErrorCode (src/kudu/common/wire_protocol.proto).
type StatusCode int32

// Application status codes.
const (
	StatusOK                 StatusCode = 0
	StatusNotFound           StatusCode = 1
	StatusCorruption         StatusCode = 2
	StatusNotSupported       StatusCode = 3
	StatusInvalidArgument    StatusCode = 4
	StatusIOError            StatusCode = 5
	StatusAlreadyPresent     StatusCode = 6
	StatusRuntimeError       StatusCode = 7
	StatusNetworkError       StatusCode = 8
	StatusIllegalState       StatusCode = 9
	StatusNotAuthorized      StatusCode = 10
	StatusAborted            StatusCode = 11
	StatusRemoteError        StatusCode = 12
	StatusServiceUnavailable StatusCode = 13
	StatusTimedOut           StatusCode = 14
	StatusUninitialized      StatusCode = 15
	StatusConfigurationError StatusCode = 16
	StatusIncomplete         StatusCode = 17
	StatusEndOfFile          StatusCode = 18
	StatusCancelled          StatusCode = 19
	StatusImmutable          StatusCode = 20
	StatusUnknownError       StatusCode = 999
)

// StatusError is an AppStatusPB: the status of a row operation or the
// detail of a master or tablet server error.
type StatusError struct {
	Code      StatusCode
	Message   string
	PosixCode int32
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("kudu: status %d: %s", e.Code, e.Message)
}

func parseAppStatus(b []byte) (*StatusError, error) {
	s := &StatusError{Code: StatusUnknownError}
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 1:
			var c int32
			c, err = f.int32v()
			s.Code = StatusCode(c)
		case 2:
			s.Message, err = f.str()
		case 4:
			s.PosixCode, err = f.int32v()
		}
		return err
	})
	return s, err
}

// MasterErrorCode is MasterErrorPB.Code (src/kudu/master/master.proto).
type MasterErrorCode int32

// Master error codes.
const (
	MasterUnknownError                 MasterErrorCode = 1
	MasterInvalidSchema                MasterErrorCode = 2
	MasterTableNotFound                MasterErrorCode = 3
	MasterTableAlreadyPresent          MasterErrorCode = 4
	MasterTooManyTablets               MasterErrorCode = 5
	MasterCatalogManagerNotInitialized MasterErrorCode = 6
	MasterNotTheLeader                 MasterErrorCode = 7
	MasterReplicationFactorTooHigh     MasterErrorCode = 8
	MasterTabletNotRunning             MasterErrorCode = 9
)

// Sentinels matched by errors.Is against MasterError.
var (
	ErrTableNotFound = errors.New("kudu: table not found")
	ErrTableExists   = errors.New("kudu: table already exists")
	// ErrNonCoveredRange is wrapped by the RowError of a row whose
	// partition key falls in no tablet (outside every range partition).
	ErrNonCoveredRange = errors.New("kudu: row is not covered by any range partition")
)

// MasterError is a MasterErrorPB returned by the leader master.
type MasterError struct {
	Code   MasterErrorCode
	Status *StatusError
}

// Error implements error.
func (e *MasterError) Error() string {
	msg := ""
	if e.Status != nil {
		msg = e.Status.Message
	}
	return fmt.Sprintf("kudu: master error %d: %s", e.Code, msg)
}

// Is makes errors.Is(err, ErrTableNotFound) and ErrTableExists work.
func (e *MasterError) Is(target error) bool {
	return (target == ErrTableNotFound && e.Code == MasterTableNotFound) ||
		(target == ErrTableExists && e.Code == MasterTableAlreadyPresent)
}

func (e *MasterError) Unwrap() error {
	if e.Status == nil {
		return nil
	}
	return e.Status
}

// parseMasterError decodes MasterErrorPB {code=1, status=2}.
func parseMasterError(b []byte) (*MasterError, error) {
	e := &MasterError{Code: MasterUnknownError}
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 1:
			var c int32
			c, err = f.int32v()
			e.Code = MasterErrorCode(c)
		case 2:
			var sb []byte
			if sb, err = f.bytes(); err == nil {
				e.Status, err = parseAppStatus(sb)
			}
		}
		return err
	})
	return e, err
}

// TabletServerErrorCode is TabletServerErrorPB.Code
// (src/kudu/tserver/tserver.proto).
type TabletServerErrorCode int32

// Tablet server error codes used by the write path.
const (
	TServerUnknownError      TabletServerErrorCode = 1
	TServerInvalidSchema     TabletServerErrorCode = 2
	TServerMismatchedSchema  TabletServerErrorCode = 5
	TServerTabletNotFound    TabletServerErrorCode = 6
	TServerTabletNotRunning  TabletServerErrorCode = 12
	TServerNotTheLeader      TabletServerErrorCode = 15
	TServerWrongServerUUID   TabletServerErrorCode = 16
	TServerAlreadyInProgress TabletServerErrorCode = 18
	TServerThrottled         TabletServerErrorCode = 19
	TServerTabletFailed      TabletServerErrorCode = 20
	TServerNotAuthorized     TabletServerErrorCode = 21
)

// TabletServerError is a tablet-level error of a Write (the whole request
// failed, no row was applied).
type TabletServerError struct {
	TabletID string
	Code     TabletServerErrorCode
	Status   *StatusError
}

// Error implements error.
func (e *TabletServerError) Error() string {
	msg := ""
	if e.Status != nil {
		msg = e.Status.Message
	}
	return fmt.Sprintf("kudu: tablet %s: tablet server error %d: %s", e.TabletID, e.Code, msg)
}

func (e *TabletServerError) Unwrap() error {
	if e.Status == nil {
		return nil
	}
	return e.Status
}

// relocate reports whether the error means the location cache is stale
// (retry after asking the master again).
func (e *TabletServerError) relocate() bool {
	switch e.Code {
	case TServerTabletNotFound, TServerTabletNotRunning, TServerNotTheLeader, TServerWrongServerUUID:
		return true
	}
	return false
}

// retryable reports whether the write may succeed if retried.
func (e *TabletServerError) retryable() bool {
	if e.relocate() || e.Code == TServerThrottled || e.Code == TServerAlreadyInProgress {
		return true
	}
	return e.Status != nil && e.Status.Code == StatusServiceUnavailable
}

// RowError reports the failure of one operation passed to Apply.
type RowError struct {
	// Index is the position of the operation in the slice given to Apply.
	Index int
	// Op is that operation.
	Op *Operation
	// Err is a *StatusError for errors reported by the tablet server (for
	// example StatusAlreadyPresent for a duplicate INSERT, StatusNotFound
	// for an UPDATE of a missing row), or wraps ErrInvalidRow,
	// ErrUnsupported or ErrNonCoveredRange for rows rejected by the client
	// before sending.
	Err error
}

// Error implements error.
func (e RowError) Error() string {
	return fmt.Sprintf("kudu: operation %d: %v", e.Index, unprefixed(e.Err))
}

// Unwrap returns Err.
func (e RowError) Unwrap() error { return e.Err }
