package hdfstest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Hadoop RPC constants (org.apache.hadoop.ipc.Server and RpcConstants).
const (
	rpcMagic          = "hrpc"
	rpcVersion        = 9
	authNone          = 0x00
	authSASL          = 0xdf
	connectionContext = -3 // call id of the IpcConnectionContextProto frame
	pingCallID        = -4 // call id of a client's keep-alive ping
	saslCallID        = -33
	clientProtocol    = "org.apache.hadoop.hdfs.protocol.ClientProtocol"
	rpcKindProtobuf   = 2 // RpcKindProto.RPC_PROTOCOL_BUFFER
	rpcOpFinal        = 0 // RpcRequestHeaderProto.RPC_FINAL_PACKET
	rpcOpClose        = 2 // RpcRequestHeaderProto.RPC_CLOSE_CONNECTION

	// defaultMaxFrame bounds the length of one request frame, like
	// ipc.maximum.data.length (whose default is 128 MiB).
	defaultMaxFrame = 64 << 20
)

// Java exception classes the server raises; the client maps several of
// them to Go errors by name.
const (
	exFileNotFound        = "java.io.FileNotFoundException"
	exIO                  = "java.io.IOException"
	exUnsupported         = "java.lang.UnsupportedOperationException"
	exAlreadyExists       = "org.apache.hadoop.fs.FileAlreadyExistsException"
	exParentNotDir        = "org.apache.hadoop.fs.ParentNotDirectoryException"
	exNotEmpty            = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"
	exInvalidPath         = "org.apache.hadoop.fs.InvalidPathException"
	exIllegalArgument     = "org.apache.hadoop.HadoopIllegalArgumentException"
	exAccessControl       = "org.apache.hadoop.security.AccessControlException"
	exLeaseExpired        = "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException"
	exAlreadyBeingCreated = "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException"
	exNotReplicatedYet    = "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException"
	exNoSuchMethod        = "org.apache.hadoop.ipc.RpcNoSuchMethodException"
	exNoSuchProtocol      = "org.apache.hadoop.ipc.RpcNoSuchProtocolException"
	exRPCServer           = "org.apache.hadoop.ipc.RpcServerException"
	exStandby             = "org.apache.hadoop.ipc.StandbyException"
	exRecoveryInProgress  = "org.apache.hadoop.hdfs.protocol.RecoveryInProgressException"

	exPathComponentTooLong = "org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException"
	exMaxDirectoryItems    = "org.apache.hadoop.hdfs.protocol.FSLimitException$MaxDirectoryItemsExceededException"
)

// remoteError is an exception sent back to the client: a Java class
// name, a message and an RpcErrorCodeProto. A fatal error closes the
// connection after it is sent, as the Java server does.
type remoteError struct {
	class string
	msg   string
	code  string // an RpcResponseHeaderProto.RpcErrorCodeProto name
	fatal bool
}

func (e *remoteError) Error() string { return e.class + ": " + e.msg }

// javaErr returns an application exception of the given class.
func javaErr(class, format string, args ...any) *remoteError {
	return &remoteError{class: class, msg: fmt.Sprintf(format, args...), code: "ERROR_APPLICATION"}
}

// fatalErr returns a fatal RPC-layer error with the given code.
func fatalErr(code, format string, args ...any) *remoteError {
	return &remoteError{class: exRPCServer, msg: fmt.Sprintf(format, args...), code: code, fatal: true}
}

// rpcCall is one decoded request frame: the connection context (call id
// -3), a ping (-4) or a method call.
type rpcCall struct {
	callID     int32
	clientID   []byte
	retryCount int32
	rpcOp      int64

	// context is the IpcConnectionContextProto of a call id -3 frame.
	context protoreflect.Message

	method   string
	protocol string
	version  uint64
	body     []byte // the serialized request message, possibly empty
}

// errFrameTooLong is returned by readFrame for a length over the limit.
var errFrameTooLong = errors.New("rpc frame longer than the limit")

// readFrame reads one frame: a big-endian uint32 length and that many
// bytes. A length over max is an error, so a bad length cannot make the
// server allocate without bound.
func readFrame(r io.Reader, max uint32) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > max {
		return nil, fmt.Errorf("%w: %d > %d", errFrameTooLong, size, max)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(r, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// decodeCall decodes a request frame (without its length): a delimited
// RpcRequestHeaderProto, then for a method call a delimited
// RequestHeaderProto and a delimited request, or for the connection
// context a delimited IpcConnectionContextProto. Every malformed frame
// gives an error.
func decodeCall(frame []byte) (*rpcCall, error) {
	hb, rest, err := nextDelimited(frame)
	if err != nil {
		return nil, fmt.Errorf("rpc request header: %w", err)
	}
	hdr, err := parse(pbRPCRequestHeader, hb)
	if err != nil {
		return nil, err
	}
	c := &rpcCall{
		callID:     int32(getInt(hdr, "callId")),
		clientID:   []byte(getStr(hdr, "clientId")),
		retryCount: int32(getInt(hdr, "retryCount")),
		rpcOp:      getInt(hdr, "rpcOp"),
	}
	if !has(hdr, "rpcKind") || getInt(hdr, "rpcKind") != rpcKindProtobuf {
		return c, fmt.Errorf("rpc kind %d is not RPC_PROTOCOL_BUFFER", getInt(hdr, "rpcKind"))
	}
	switch {
	case c.callID == connectionContext:
		cb, rest, err := nextDelimited(rest)
		if err != nil {
			return c, fmt.Errorf("connection context: %w", err)
		}
		if len(rest) != 0 {
			return c, fmt.Errorf("%d bytes after the connection context", len(rest))
		}
		if c.context, err = parse(pbConnectionContext, cb); err != nil {
			return c, err
		}
		return c, nil
	case c.callID == pingCallID:
		return c, nil
	case c.callID < 0:
		return c, fmt.Errorf("unexpected call id %d", c.callID)
	}
	if c.rpcOp == rpcOpClose {
		return c, nil
	}
	rb, rest, err := nextDelimited(rest)
	if err != nil {
		return c, fmt.Errorf("request header: %w", err)
	}
	rh, err := parse(pbRequestHeader, rb)
	if err != nil {
		return c, err
	}
	c.method = getStr(rh, "methodName")
	c.protocol = getStr(rh, "declaringClassProtocolName")
	c.version = getUint(rh, "clientProtocolVersion")
	if len(rest) > 0 {
		if c.body, rest, err = nextDelimited(rest); err != nil {
			return c, fmt.Errorf("request: %w", err)
		}
		if len(rest) != 0 {
			return c, fmt.Errorf("%d bytes after the request", len(rest))
		}
	}
	return c, nil
}

// encodeResponse returns the frame answering call: a delimited
// RpcResponseHeaderProto, then on success the delimited response.
func encodeResponse(c *rpcCall, resp protoreflect.Message, rerr *remoteError) ([]byte, error) {
	hdr := build(pbRPCResponseHeader,
		"callId", uint32(c.callID),
		"status", "SUCCESS",
		"serverIpcVersionNum", rpcVersion,
		"retryCount", c.retryCount,
	)
	if c.clientID != nil {
		setField(hdr, "clientId", c.clientID)
	}
	if rerr != nil {
		status := "ERROR"
		if rerr.fatal {
			status = "FATAL"
		}
		setField(hdr, "status", status)
		setField(hdr, "exceptionClassName", rerr.class)
		setField(hdr, "errorMsg", rerr.msg)
		setField(hdr, "errorDetail", rerr.code)
	}
	b, err := appendDelimited(make([]byte, 4, 128), hdr)
	if err != nil {
		return nil, err
	}
	if rerr == nil {
		if b, err = appendDelimited(b, resp); err != nil {
			return nil, err
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// readPreamble reads the 7 bytes a client sends first: "hrpc", the
// version, the service class and the auth protocol.
func readPreamble(r io.Reader) (auth byte, err error) {
	var p [7]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return 0, err
	}
	if !bytes.Equal(p[:4], []byte(rpcMagic)) {
		return 0, fmt.Errorf("bad connection preamble %q", p[:4])
	}
	if p[4] != rpcVersion {
		return 0, fmt.Errorf("rpc version %d, want %d", p[4], rpcVersion)
	}
	return p[6], nil
}
