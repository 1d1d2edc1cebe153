package hdfstest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// frameOf returns the body of a request frame made of msgs.
func frameOf(tb testing.TB, msgs ...protoreflect.Message) []byte {
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = appendDelimited(b, m); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// callFrame returns the body of a request frame calling method.
func callFrame(tb testing.TB, callID int32, method string, req protoreflect.Message) []byte {
	return frameOf(tb,
		build(pbRPCRequestHeader, "rpcKind", "RPC_PROTOCOL_BUFFER", "rpcOp", "RPC_FINAL_PACKET",
			"callId", callID, "clientId", "0123456789abcdef"),
		build(pbRequestHeader, "methodName", method,
			"declaringClassProtocolName", clientProtocol, "clientProtocolVersion", 1),
		req)
}

// FuzzRPCFrame decodes arbitrary request frames and runs the calls they
// hold against a NameNode: a malformed frame or request must give an
// error, never a panic, and every answer must encode.
func FuzzRPCFrame(f *testing.F) {
	f.Add(callFrame(f, 1, "getFileInfo", fileInfoReq("/")))
	f.Add(callFrame(f, 2, "mkdirs", build("hadoop.hdfs.MkdirsRequestProto", "src", "/tmp/a/b",
		"masked", build(pbPermission, "perm", 0o755), "createParent", true)))
	f.Add(callFrame(f, 3, "create", createReq("/tmp/a/f", "fuzz", flagCreate|flagOverwrite, true)))
	f.Add(callFrame(f, 4, "getListing", build("hadoop.hdfs.GetListingRequestProto", "src", "/",
		"startAfter", "", "needLocation", true)))
	f.Add(callFrame(f, 5, "rename2", build("hadoop.hdfs.Rename2RequestProto", "src", "/tmp/a/f",
		"dst", "/tmp/f", "overwriteDest", true)))
	f.Add(callFrame(f, 6, "delete", build("hadoop.hdfs.DeleteRequestProto", "src", "/tmp/a", "recursive", true)))
	f.Add(callFrame(f, 7, "addBlock", build("hadoop.hdfs.AddBlockRequestProto", "src", "/tmp/f", "clientName", "fuzz")))
	f.Add(callFrame(f, 8, "setOwner", build("hadoop.hdfs.SetOwnerRequestProto", "src", "/tmp/f", "username", "other")))
	f.Add(frameOf(f, build(pbRPCRequestHeader, "rpcKind", "RPC_PROTOCOL_BUFFER", "callId", connectionContext,
		"clientId", "x"), build(pbConnectionContext, "protocol", clientProtocol)))
	f.Add([]byte{})
	f.Add([]byte{0x05, 0x08, 0x02})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})

	c, err := Start()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	cx := &callCtx{user: "fuzz"}
	f.Fuzz(func(t *testing.T, frame []byte) {
		call, err := decodeCall(frame)
		if err != nil {
			if call != nil {
				if _, err := encodeResponse(call, nil, fatalErr("FATAL_DESERIALIZING_REQUEST", "%v", err)); err != nil {
					t.Fatalf("encoding the fatal answer: %v", err)
				}
			}
			return
		}
		if call.callID < 0 || call.rpcOp == rpcOpClose {
			return
		}
		resp, rerr := c.dispatch(c.Addr(), cx, call)
		if rerr != nil && rerr.code == "ERROR_RPC_SERVER" {
			t.Fatalf("%s panicked: %s", call.method, rerr.msg)
		}
		if _, err := encodeResponse(call, resp, rerr); err != nil {
			t.Fatalf("%s: encoding the answer: %v", call.method, err)
		}
	})
}

// FuzzDataPacket parses arbitrary data transfer packets: a malformed
// packet must give an error, never a panic.
func FuzzDataPacket(f *testing.F) {
	good, err := encodePacket(0, 1, false, []byte("some block data, more than nothing"), 8, checksumCRC32C)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, uint16(8), uint8(checksumCRC32C))
	last, _ := encodePacket(34, 2, true, nil, 512, checksumCRC32C)
	f.Add(last, uint16(512), uint8(checksumCRC32C))
	f.Add(good[:10], uint16(8), uint8(checksumCRC32))
	f.Add([]byte{0, 0, 0, 4, 0, 0}, uint16(512), uint8(checksumNull))
	f.Fuzz(func(t *testing.T, data []byte, bpc uint16, ctype uint8) {
		b := int(bpc%4096) + 1
		ct := int64(ctype % 3)
		p, err := readPacket(bytes.NewReader(data), b, ct)
		if err != nil {
			return
		}
		verifyChecksums(p.data, p.checksums, b, ct)
	})
}

// FuzzXceiver feeds arbitrary bytes to a DataNode connection (an op and
// what follows it) against a cluster with one allocated block: nothing
// may panic or hang.
func FuzzXceiver(f *testing.F) {
	c, err := Start()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	c.mu.Lock()
	cx := &callCtx{user: "fuzz"}
	if _, rerr := c.create(cx, createReq("/tmp/f", "fuzz", flagCreate, true)); rerr != nil {
		f.Fatal(rerr)
	}
	lb, rerr := c.addBlock(cx, build("hadoop.hdfs.AddBlockRequestProto", "src", "/tmp/f", "clientName", "fuzz"))
	c.mu.Unlock()
	if rerr != nil {
		f.Fatal(rerr)
	}
	eb := getMsg(getMsg(lb, "block"), "b")
	blockID := getUint(eb, "blockId")

	op := func(code byte, m protoreflect.Message) []byte {
		b, err := appendDelimited([]byte{0, dataTransferVersion, code}, m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	data := []byte("0123456789")
	p1, _ := encodePacket(0, 1, false, data, 512, checksumCRC32C)
	p2, _ := encodePacket(10, 2, true, nil, 512, checksumCRC32C)
	hb, _ := encodePacket(0, heartbeatSeqno, false, nil, 512, checksumCRC32C)
	write := op(opWriteBlock, writeOpReq(eb, "fuzz", 0))
	f.Add(append(append(append(append([]byte{}, write...), hb...), p1...), p2...))
	f.Add(append(append([]byte{}, write...), p1[:20]...))
	f.Add(op(opReadBlock, readOpReq(eb, 3, 5)))
	f.Add(op(opBlockChecksum, build(pbOpBlockChecksum, "header",
		build("hadoop.hdfs.BaseHeaderProto", "block", eb))))
	f.Add([]byte{0, dataTransferVersion, 0x50, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0, 1, 0x51})

	f.Fuzz(func(t *testing.T, in []byte) {
		// Let a write of the block start afresh, and leave a finished
		// replica for reads.
		c.mu.Lock()
		delete(c.replicas, blockID)
		if bytes.HasPrefix(in, []byte{0, dataTransferVersion, opReadBlock}) ||
			bytes.HasPrefix(in, []byte{0, dataTransferVersion, opBlockChecksum}) {
			c.replicas[blockID] = &replica{id: blockID, gs: getUint(eb, "generationStamp"), data: data, finalized: true}
		}
		c.mu.Unlock()

		client, server := net.Pipe()
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, client)
			close(drained)
		}()
		go func() {
			client.Write(in)
			client.Close()
		}()
		c.serveXceiver(server)
		server.Close()
		<-drained
	})
}

// TestReadOpBounds checks readOp's limits directly.
func TestReadOpBounds(t *testing.T) {
	long := binary.AppendUvarint([]byte{0, dataTransferVersion, opReadBlock}, maxOpLength+1)
	if _, _, err := readOp(bufio.NewReader(bytes.NewReader(long))); err == nil {
		t.Errorf("an over-long op message was accepted")
	}
	short := binary.AppendUvarint([]byte{0, dataTransferVersion, opReadBlock}, 10)
	if _, _, err := readOp(bufio.NewReader(bytes.NewReader(short))); err == nil {
		t.Errorf("a truncated op message was accepted")
	}
}

// FuzzSASLFrame decodes arbitrary SASL request frames (call id -33) and
// answers them at each step of a Kerberized NameNode's negotiation: a
// malformed frame, message or GSS token must give an error, never a
// panic, and every answer must encode.
func FuzzSASLFrame(f *testing.F) {
	hdr := build(pbRPCRequestHeader, "rpcKind", "RPC_PROTOCOL_BUFFER", "rpcOp", "RPC_FINAL_PACKET",
		"callId", saslCallID, "clientId", "0123456789abcdef")
	krb := []any{build(pbRPCSaslAuth, "method", "KERBEROS", "mechanism", "GSSAPI", "protocol", "nn", "serverId", "127.0.0.1")}
	f.Add(frameOf(f, hdr, build(pbRPCSasl, "state", "NEGOTIATE")))
	f.Add(frameOf(f, hdr, build(pbRPCSasl, "state", "INITIATE", "auths", krb,
		"token", []byte{0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00, 0x6e, 0x00})))
	f.Add(frameOf(f, hdr, build(pbRPCSasl, "state", "INITIATE", "auths", []any{build(pbRPCSaslAuth, "method", "SIMPLE", "mechanism", "")})))
	f.Add(frameOf(f, hdr, build(pbRPCSasl, "state", "RESPONSE",
		"token", []byte{0x05, 0x04, 0x00, 0xff, 0x00, 0x0c, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0})))
	f.Add(frameOf(f, build(pbRPCRequestHeader, "rpcKind", "RPC_PROTOCOL_BUFFER", "callId", 1, "clientId", "x")))
	f.Add([]byte{})
	f.Add([]byte{0x05, 0x08, 0x02})

	cfg := &kerberosConfig{principal: "nn/127.0.0.1@R", kt: keytab.New(), protocol: "nn", serverID: "127.0.0.1", realm: "R"}
	f.Fuzz(func(t *testing.T, frame []byte) {
		call, m, err := decodeSASL(frame)
		if err != nil {
			if call != nil {
				if _, err := encodeResponse(call, nil, fatalErr("FATAL_DESERIALIZING_REQUEST", "%v", err)); err != nil {
					t.Fatal(err)
				}
			}
			return
		}
		for step := range 3 {
			s := &saslSession{krb: cfg, step: step}
			reply, _, rerr := s.next(m)
			if _, err := encodeResponse(call, reply, rerr); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
	})
}
