package kudutest

// Enum values of Kudu's protocol, restated from Apache Kudu's .proto files
// (apache/kudu at 22028a29). Field numbers are written inline where the
// messages are encoded and decoded, each with the message it belongs to.

// Service names.
const (
	masterService  = "kudu.master.MasterService"
	tserverService = "kudu.tserver.TabletServerService"
)

// Special call ids (rpc/rpc_header.proto, RequestHeader.call_id).
const (
	negotiateCallID   int32 = -33
	connContextCallID int32 = -3
)

// RpcFeatureFlag (rpc/rpc_header.proto).
const (
	featureApplicationFlags = 1 // APPLICATION_FEATURE_FLAGS
	featureTLS              = 2 // TLS
	featureTLSAuthOnly      = 3 // TLS_AUTHENTICATION_ONLY
)

// NegotiatePB.NegotiateStep (rpc/rpc_header.proto).
const (
	stepSASLSuccess   = 0
	stepNegotiate     = 1
	stepSASLInitiate  = 2
	stepSASLChallenge = 3
	stepSASLResponse  = 4
	stepTLSHandshake  = 5
)

// RPCErrorCode is ErrorStatusPB.RpcErrorCodePB (rpc/rpc_header.proto).
type RPCErrorCode int32

// RPC-level error codes.
const (
	ErrorApplication          RPCErrorCode = 1
	ErrorNoSuchMethod         RPCErrorCode = 2
	ErrorNoSuchService        RPCErrorCode = 3
	ErrorServerTooBusy        RPCErrorCode = 4
	ErrorInvalidRequest       RPCErrorCode = 5
	ErrorUnavailable          RPCErrorCode = 7
	FatalUnknown              RPCErrorCode = 10
	FatalInvalidRPCHeader     RPCErrorCode = 12
	FatalDeserializingRequest RPCErrorCode = 13
	FatalUnauthorized         RPCErrorCode = 15
)

// StatusCode is AppStatusPB.ErrorCode (common/wire_protocol.proto).
type StatusCode int32

// AppStatusPB error codes.
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
)

// TServerErrorCode is TabletServerErrorPB.Code (tserver/tserver.proto).
type TServerErrorCode int32

// Tablet server error codes.
const (
	TServerUnknownError     TServerErrorCode = 1
	TServerInvalidSchema    TServerErrorCode = 2
	TServerMismatchedSchema TServerErrorCode = 5
	TServerTabletNotFound   TServerErrorCode = 6
	TServerNotTheLeader     TServerErrorCode = 15
)

// MasterErrorCode is MasterErrorPB.Code (master/master.proto).
type MasterErrorCode int32

// Master error codes.
const (
	MasterUnknownError             MasterErrorCode = 1
	MasterInvalidSchema            MasterErrorCode = 2
	MasterTableNotFound            MasterErrorCode = 3
	MasterTableAlreadyPresent      MasterErrorCode = 4
	MasterTooManyTablets           MasterErrorCode = 5
	MasterNotTheLeader             MasterErrorCode = 7
	MasterReplicationFactorTooHigh MasterErrorCode = 8
	MasterEvenReplicationFactor    MasterErrorCode = 10
	MasterIllegalReplicationFactor MasterErrorCode = 11
)

// RaftPeerPB.Role (consensus/metadata.proto).
const (
	roleFollower = 0
	roleLeader   = 1
)

// OpType is RowOperationsPB.Type (common/row_operations.proto).
type OpType uint8

// Row operation types.
const (
	OpUnknown                  OpType = 0
	OpInsert                   OpType = 1
	OpUpdate                   OpType = 2
	OpDelete                   OpType = 3
	OpSplitRow                 OpType = 4
	OpUpsert                   OpType = 5
	OpRangeLowerBound          OpType = 6
	OpRangeUpperBound          OpType = 7
	OpExclusiveRangeLowerBound OpType = 8
	OpInclusiveRangeUpperBound OpType = 9
	OpInsertIgnore             OpType = 10
	OpUpdateIgnore             OpType = 11
	OpDeleteIgnore             OpType = 12
	OpUpsertIgnore             OpType = 13
)

var opNames = map[OpType]string{
	OpUnknown: "UNKNOWN", OpInsert: "INSERT", OpUpdate: "UPDATE", OpDelete: "DELETE",
	OpSplitRow: "SPLIT_ROW", OpUpsert: "UPSERT", OpRangeLowerBound: "RANGE_LOWER_BOUND",
	OpRangeUpperBound: "RANGE_UPPER_BOUND", OpExclusiveRangeLowerBound: "EXCLUSIVE_RANGE_LOWER_BOUND",
	OpInclusiveRangeUpperBound: "INCLUSIVE_RANGE_UPPER_BOUND", OpInsertIgnore: "INSERT_IGNORE",
	OpUpdateIgnore: "UPDATE_IGNORE", OpDeleteIgnore: "DELETE_IGNORE", OpUpsertIgnore: "UPSERT_IGNORE",
}

func (o OpType) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "OpType(" + itoa(int64(o)) + ")"
}

// DataType is Kudu's DataType (common/common.proto).
type DataType int32

// Column types a table may use.
const (
	TypeInt8           DataType = 1
	TypeInt16          DataType = 3
	TypeInt32          DataType = 5
	TypeInt64          DataType = 7
	TypeString         DataType = 8
	TypeBool           DataType = 9
	TypeFloat          DataType = 10
	TypeDouble         DataType = 11
	TypeBinary         DataType = 12
	TypeUnixtimeMicros DataType = 13
	TypeDecimal32      DataType = 15
	TypeDecimal64      DataType = 16
	TypeDecimal128     DataType = 17
	TypeVarchar        DataType = 19
	TypeDate           DataType = 20
)

var typeNames = map[DataType]string{
	TypeInt8: "INT8", TypeInt16: "INT16", TypeInt32: "INT32", TypeInt64: "INT64",
	TypeString: "STRING", TypeBool: "BOOL", TypeFloat: "FLOAT", TypeDouble: "DOUBLE",
	TypeBinary: "BINARY", TypeUnixtimeMicros: "UNIXTIME_MICROS", TypeDecimal32: "DECIMAL32",
	TypeDecimal64: "DECIMAL64", TypeDecimal128: "DECIMAL128", TypeVarchar: "VARCHAR", TypeDate: "DATE",
}

func (t DataType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "DataType(" + itoa(int64(t)) + ")"
}

// size is the width of a cell of the type in a row operation: fixed-width
// values are little-endian, variable-length ones a 16-byte (offset, length)
// pair into indirect_data.
func (t DataType) size() int {
	switch t {
	case TypeInt8, TypeBool:
		return 1
	case TypeInt16:
		return 2
	case TypeInt32, TypeFloat, TypeDecimal32, TypeDate:
		return 4
	case TypeInt64, TypeDouble, TypeUnixtimeMicros, TypeDecimal64:
		return 8
	case TypeDecimal128, TypeString, TypeBinary, TypeVarchar:
		return 16
	}
	return 0
}

// varlen reports whether cells of the type live in indirect_data.
func (t DataType) varlen() bool {
	return t == TypeString || t == TypeBinary || t == TypeVarchar
}

// keyable reports whether the type may be a primary key column.
func (t DataType) keyable() bool {
	switch t {
	case TypeBool, TypeFloat, TypeDouble:
		return false
	}
	return t.size() > 0
}

func itoa(v int64) string {
	const digits = "0123456789"
	if v == 0 {
		return "0"
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	var b [24]byte
	i := len(b)
	for u > 0 {
		i--
		b[i] = digits[u%10]
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
