package hdfstest

import (
	"bufio"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// rawConn is a hand-driven RPC connection to a NameNode, for tests of
// what the colinmarc client never sends.
type rawConn struct {
	t      *testing.T
	conn   net.Conn
	br     *bufio.Reader
	callID int32
}

// dialRaw connects to addr and sends the preamble with auth and, when
// user is not empty, the connection context.
func dialRaw(t *testing.T, addr string, auth byte, user string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
	if _, err := conn.Write([]byte{'h', 'r', 'p', 'c', rpcVersion, 0, auth}); err != nil {
		t.Fatal(err)
	}
	if user != "" {
		ctx := build(pbConnectionContext,
			"userInfo", build("hadoop.common.UserInformationProto", "effectiveUser", user),
			"protocol", clientProtocol)
		r.send(r.header(connectionContext), ctx)
	}
	return r
}

// header returns an RpcRequestHeaderProto for callID.
func (r *rawConn) header(callID int32) *dynamicpb.Message {
	return build(pbRPCRequestHeader, "rpcKind", "RPC_PROTOCOL_BUFFER", "rpcOp", "RPC_FINAL_PACKET",
		"callId", callID, "clientId", "0123456789abcdef")
}

// send writes a frame of the delimited messages.
func (r *rawConn) send(msgs ...protoreflect.Message) {
	r.t.Helper()
	b := make([]byte, 4)
	for _, m := range msgs {
		var err error
		if b, err = appendDelimited(b, m); err != nil {
			r.t.Fatal(err)
		}
	}
	r.sendFrame(b[4:])
}

// sendFrame writes body with its length in front.
func (r *rawConn) sendFrame(body []byte) {
	r.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := r.conn.Write(append(b, body...)); err != nil {
		r.t.Fatal(err)
	}
}

// recv reads a response frame: its header and, on success, the response
// parsed as respType.
func (r *rawConn) recv(respType string) (hdr, resp *dynamicpb.Message) {
	r.t.Helper()
	frame, err := readFrame(r.br, defaultMaxFrame)
	if err != nil {
		r.t.Fatalf("reading a response: %v", err)
	}
	hb, rest, err := nextDelimited(frame)
	if err != nil {
		r.t.Fatal(err)
	}
	if hdr, err = parse(pbRPCResponseHeader, hb); err != nil {
		r.t.Fatal(err)
	}
	if len(rest) == 0 {
		return hdr, nil
	}
	body, rest, err := nextDelimited(rest)
	if err != nil || len(rest) != 0 {
		r.t.Fatalf("response body: %v (%d extra bytes)", err, len(rest))
	}
	if resp, err = parse(respType, body); err != nil {
		r.t.Fatal(err)
	}
	return hdr, resp
}

// call sends a method call and returns the response header and message.
func (r *rawConn) call(method string, req protoreflect.Message) (hdr, resp *dynamicpb.Message) {
	r.t.Helper()
	r.callID++
	rh := build(pbRequestHeader, "methodName", method,
		"declaringClassProtocolName", clientProtocol, "clientProtocolVersion", 1)
	r.send(r.header(r.callID), rh, req)
	respType := "hadoop.hdfs.GetFileInfoResponseProto"
	if m, ok := rpcMethods[method]; ok {
		respType = m.resp
	}
	hdr, resp = r.recv(respType)
	if got := int32(getUint(hdr, "callId")); got != r.callID {
		r.t.Fatalf("response to call %d has call id %d", r.callID, got)
	}
	return hdr, resp
}

// mustCall is call for a call that must succeed.
func (r *rawConn) mustCall(method string, req protoreflect.Message) *dynamicpb.Message {
	r.t.Helper()
	hdr, resp := r.call(method, req)
	if getInt(hdr, "status") != 0 {
		r.t.Fatalf("%s: %s: %s", method, getStr(hdr, "exceptionClassName"), getStr(hdr, "errorMsg"))
	}
	return resp
}

// wantException checks that hdr reports the exception class.
func wantException(t *testing.T, what string, hdr *dynamicpb.Message, class string) {
	t.Helper()
	if getInt(hdr, "status") == 0 || getStr(hdr, "exceptionClassName") != class {
		t.Errorf("%s: status %d exception %q (%s), want %s", what, getInt(hdr, "status"),
			getStr(hdr, "exceptionClassName"), getStr(hdr, "errorMsg"), class)
	}
}

// wantClosed checks that the server closed the connection.
func (r *rawConn) wantClosed(what string) {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.br.ReadByte(); err == nil {
		r.t.Errorf("%s: the connection is still open", what)
	}
}

// Request builders for the raw tests.

func createReq(src, client string, flag uint32, createParent bool) *dynamicpb.Message {
	return build("hadoop.hdfs.CreateRequestProto", "src", src, "masked", build(pbPermission, "perm", 0o644),
		"clientName", client, "createFlag", flag, "createParent", createParent,
		"replication", 1, "blockSize", 64<<10)
}

func fileInfoReq(src string) *dynamicpb.Message {
	return build("hadoop.hdfs.GetFileInfoRequestProto", "src", src)
}
