package hdfstest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

func TestRPCErrors(t *testing.T) {
	c := New(t)

	r := dialRaw(t, c.Addr(), authNone, "raw")
	hdr, _ := r.call("noSuchMethod", fileInfoReq("/"))
	wantException(t, "unknown method", hdr, exNoSuchMethod)
	if getInt(hdr, "errorDetail") != 2 { // ERROR_NO_SUCH_METHOD
		t.Errorf("unknown method: error detail %d", getInt(hdr, "errorDetail"))
	}
	// The connection stays usable after an application error.
	if resp := r.mustCall("getFileInfo", fileInfoReq("/")); getMsg(resp, "fs") == nil {
		t.Errorf("getFileInfo(/) has no status")
	}
	if resp := r.mustCall("getFileInfo", fileInfoReq("/missing")); has(resp, "fs") {
		t.Errorf("getFileInfo of a missing path has a status")
	}
	hdr, _ = r.call("getFileInfo", fileInfoReq("relative"))
	wantException(t, "relative path", hdr, exInvalidPath)
	hdr, _ = r.call("getFileInfo", fileInfoReq("/a/../b"))
	wantException(t, "path with ..", hdr, exInvalidPath)

	// Another protocol in the request header.
	r.callID++
	r.send(r.header(r.callID), build(pbRequestHeader, "methodName", "getFileInfo",
		"declaringClassProtocolName", "org.example.Other", "clientProtocolVersion", 1), fileInfoReq("/"))
	hdr, _ = r.recv("")
	wantException(t, "unknown protocol", hdr, exNoSuchProtocol)

	// A request missing a required field (here an empty one) is fatal.
	r.callID++
	frame, _ := appendDelimited(nil, r.header(r.callID))
	frame, _ = appendDelimited(frame, build(pbRequestHeader, "methodName", "getFileInfo",
		"declaringClassProtocolName", clientProtocol, "clientProtocolVersion", 1))
	r.sendFrame(append(frame, 0))
	hdr, _ = r.recv("")
	if getInt(hdr, "status") != 2 || getInt(hdr, "errorDetail") != 13 { // FATAL, FATAL_DESERIALIZING_REQUEST
		t.Errorf("incomplete request: status %d detail %d", getInt(hdr, "status"), getInt(hdr, "errorDetail"))
	}
	r.wantClosed("after a fatal error")

	// A call before the connection context.
	r = dialRaw(t, c.Addr(), authNone, "")
	hdr, _ = r.call("getFileInfo", fileInfoReq("/"))
	if getInt(hdr, "status") != 2 {
		t.Errorf("call without a connection context: status %d", getInt(hdr, "status"))
	}
	r.wantClosed("after a call without a context")

	// Garbage in a frame.
	r = dialRaw(t, c.Addr(), authNone, "raw")
	r.sendFrame([]byte{0xff, 0xff, 0xff})
	hdr, _ = r.recv("")
	if getInt(hdr, "status") != 2 {
		t.Errorf("garbage frame: status %d", getInt(hdr, "status"))
	}
	r.wantClosed("after a garbage frame")

	// A frame longer than the limit.
	r = dialRaw(t, c.Addr(), authNone, "raw")
	r.conn.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	r.wantClosed("after an over-long frame")

	// SASL is not implemented: a fatal answer, then the connection closes.
	r = dialRaw(t, c.Addr(), authSASL, "")
	hdr, _ = r.recv("")
	wantException(t, "SASL", hdr, exAccessControl)
	r.wantClosed("after SASL")

	// A bad preamble closes the connection.
	conn, err := net.Dial("tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("bad preamble: read %d bytes", n)
	}

	// A ping and a close-connection frame.
	r = dialRaw(t, c.Addr(), authNone, "raw")
	r.send(r.header(pingCallID))
	r.mustCall("getFileInfo", fileInfoReq("/"))
	r.send(build(pbRPCRequestHeader, "rpcKind", "RPC_PROTOCOL_BUFFER", "rpcOp", "RPC_CLOSE_CONNECTION",
		"callId", 99, "clientId", "x"))
	r.wantClosed("after RPC_CLOSE_CONNECTION")
}

// TestWriteProtocol drives create, addBlock, the DataNode write and
// complete by hand, checking the NameNode's and DataNode's checks that
// the client never trips. The raw client is an ordinary user, working in
// the sticky /tmp.
func TestWriteProtocol(t *testing.T) {
	c := New(t, WithBlockSize(1024))
	r := dialRaw(t, c.Addr(), authNone, "raw")
	const me = "raw-client"

	// create: flags, parents, replacing.
	hdr, _ := r.call("create", createReq("/tmp/p/q/f", me, flagCreate, false))
	wantException(t, "create without its parent", hdr, exFileNotFound)
	status := getMsg(r.mustCall("create", createReq("/tmp/p/q/f", me, flagCreate, true)), "fs")
	fileID := getUint(status, "fileId")
	hdr, _ = r.call("create", createReq("/tmp/p/q/f", me, flagCreate|flagOverwrite, false))
	wantException(t, "create by the lease holder again", hdr, exAlreadyBeingCreated)
	hdr, _ = r.call("create", createReq("/tmp/p/q/f/g", me, flagCreate, true))
	wantException(t, "create under a file", hdr, exParentNotDir)
	hdr, _ = r.call("create", createReq("/tmp/p", me, flagCreate, true))
	wantException(t, "create over a directory", hdr, exAlreadyExists)
	hdr, _ = r.call("create", createReq("/tmp/new", me, flagAppend, true))
	wantException(t, "append", hdr, exUnsupported)
	hdr, _ = r.call("create", createReq("/tmp/new", me, 0, true))
	wantException(t, "no create flag", hdr, exIllegalArgument)
	hdr, _ = r.call("create", createReq("/tmp/new", me, flagOverwrite, true))
	wantException(t, "overwrite of a missing file", hdr, exFileNotFound)

	// addBlock, then a hand-written block write.
	addBlock := func(prev protoreflect.Message) *dynamicpb.Message {
		req := build("hadoop.hdfs.AddBlockRequestProto", "src", "/tmp/p/q/f", "clientName", me, "fileId", fileID)
		if prev != nil {
			setField(req, "previous", prev)
		}
		return req
	}
	hdr, _ = r.call("addBlock", build("hadoop.hdfs.AddBlockRequestProto", "src", "/tmp/p/q/f", "clientName", "thief"))
	wantException(t, "addBlock by another client", hdr, exLeaseExpired)
	lb := getMsg(r.mustCall("addBlock", addBlock(nil)), "block")
	eb := getMsg(lb, "b")
	hdr, _ = r.call("addBlock", addBlock(nil))
	wantException(t, "addBlock without the previous block", hdr, exIO)

	data := randomData(700)
	dn := dialDataNode(t, c)
	dn.writeOp(opWriteBlock, writeOpReq(eb, me, 0))
	if st := dn.opResponse(); st != "SUCCESS" {
		t.Fatalf("write op: %s", st)
	}
	dn.packet(0, 1, false, data[:512], nil)
	if seq, st := dn.ack(); seq != 1 || st != "SUCCESS" {
		t.Errorf("ack %d %s", seq, st)
	}
	dn.packet(512, 2, false, data[512:], func(sums []byte) { sums[0] ^= 1 }) // a bad checksum
	if seq, st := dn.ack(); seq != 2 || st != "ERROR_CHECKSUM" {
		t.Errorf("ack of a corrupt packet: %d %s", seq, st)
	}
	dn.wantClosed()

	// A replica that exists cannot be written again.
	dn = dialDataNode(t, c)
	dn.writeOp(opWriteBlock, writeOpReq(eb, me, 0))
	if st := dn.opResponse(); st != "ERROR" {
		t.Errorf("second write of a block: %s", st)
	}

	// Abandon the half-written block and write a fresh one properly.
	r.mustCall("abandonBlock", build("hadoop.hdfs.AbandonBlockRequestProto",
		"b", eb, "src", "/tmp/p/q/f", "holder", me, "fileId", fileID))
	eb = getMsg(getMsg(r.mustCall("addBlock", addBlock(nil)), "block"), "b")
	dn = dialDataNode(t, c)
	dn.writeOp(opWriteBlock, writeOpReq(eb, me, 0))
	dn.opResponse()
	dn.packet(0, 1, false, data, nil)
	dn.packet(700, 2, false, nil, nil) // a heartbeat-free empty packet is just a packet
	dn.ack()
	dn.ack()
	dn.packet(700, 3, true, nil, nil)
	if seq, st := dn.ack(); seq != 3 || st != "SUCCESS" {
		t.Errorf("last ack %d %s", seq, st)
	}

	// updateBlockForPipeline hands out a newer generation stamp.
	done := dynamicpb.NewMessage(eb.Descriptor())
	proto2Copy(done, eb)
	setField(done, "numBytes", 700)
	ub := getMsg(r.mustCall("updateBlockForPipeline", build("hadoop.hdfs.UpdateBlockForPipelineRequestProto",
		"block", done, "clientName", me)), "block")
	if getUint(getMsg(ub, "b"), "generationStamp") <= getUint(eb, "generationStamp") {
		t.Errorf("updateBlockForPipeline kept the generation stamp")
	}
	r.mustCall("fsync", build("hadoop.hdfs.FsyncRequestProto", "src", "/tmp/p/q/f", "client", me, "fileId", fileID))

	// A wrong length is refused; the right one completes the file.
	wrong := dynamicpb.NewMessage(eb.Descriptor())
	proto2Copy(wrong, done)
	setField(wrong, "numBytes", 699)
	complete := func(last protoreflect.Message) (hdr, resp *dynamicpb.Message) {
		return r.call("complete", build("hadoop.hdfs.CompleteRequestProto",
			"src", "/tmp/p/q/f", "clientName", me, "last", last, "fileId", fileID))
	}
	if _, resp := complete(wrong); resp == nil || getBool(resp, "result") {
		t.Errorf("complete with a wrong length did not answer false")
	}
	c.mu.Lock()
	c.blocks[getUint(eb, "blockId")].committed = false // undo the wrong commit
	c.mu.Unlock()
	if _, resp := complete(done); resp == nil || !getBool(resp, "result") {
		t.Errorf("complete did not answer true")
	}
	if _, resp := complete(done); resp == nil || !getBool(resp, "result") {
		t.Errorf("a retried complete did not answer true")
	}
	if got, err := c.ReadFile("/tmp/p/q/f"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("file holds %d bytes, %v", len(got), err)
	}

	// Reads: a range, a missing block, an offset past the end.
	dn = dialDataNode(t, c)
	dn.writeOp(opReadBlock, readOpReq(eb, 600, 50))
	if st := dn.opResponse(); st != "SUCCESS" {
		t.Fatalf("read op: %s", st)
	}
	got := dn.readPackets()
	if !bytes.Equal(got, data[512:]) { // from the chunk boundary to the end
		t.Errorf("read %d bytes from the chunk at 512", len(got))
	}
	missing := dynamicpb.NewMessage(eb.Descriptor())
	proto2Copy(missing, eb)
	setField(missing, "blockId", 12345)
	dn = dialDataNode(t, c)
	dn.writeOp(opReadBlock, readOpReq(missing, 0, 10))
	if st := dn.opResponse(); st != "ERROR" {
		t.Errorf("read of a missing block: %s", st)
	}
	dn = dialDataNode(t, c)
	dn.writeOp(opReadBlock, readOpReq(eb, 701, 1))
	if st := dn.opResponse(); st != "ERROR" {
		t.Errorf("read past the end: %s", st)
	}
	dn = dialDataNode(t, c)
	dn.writeOp(0x57, readOpReq(eb, 0, 1))
	if st := dn.opResponse(); st != "ERROR_UNSUPPORTED" {
		t.Errorf("unknown op: %s", st)
	}
	dn = dialDataNode(t, c)
	dn.conn.Write([]byte{0, 27, opReadBlock, 0})
	dn.wantClosed()

	// The old rename, recoverLease, overwrite.
	r.mustCall("mkdirs", build("hadoop.hdfs.MkdirsRequestProto", "src", "/tmp/into",
		"masked", build(pbPermission, "perm", 0o755), "createParent", false))
	if resp := r.mustCall("rename", build("hadoop.hdfs.RenameRequestProto", "src", "/tmp/p/q/f", "dst", "/tmp/into")); !getBool(resp, "result") {
		t.Errorf("rename into a directory failed")
	}
	if resp := r.mustCall("rename", build("hadoop.hdfs.RenameRequestProto", "src", "/tmp/nothing", "dst", "/tmp/x")); getBool(resp, "result") {
		t.Errorf("rename of a missing file succeeded")
	}
	if resp := r.mustCall("recoverLease", build("hadoop.hdfs.RecoverLeaseRequestProto", "src", "/tmp/into/f", "clientName", me)); !getBool(resp, "result") {
		t.Errorf("recoverLease of a closed file is not true")
	}
	r.mustCall("create", createReq("/tmp/into/f", me, flagCreate|flagOverwrite, false))
	if got := c.OpenFiles(); len(got) != 1 || got[0] != "/tmp/into/f" {
		t.Errorf("OpenFiles = %q", got)
	}
	if got, _ := c.ReadFile("/tmp/into/f"); len(got) != 0 {
		t.Errorf("the overwritten file holds %d bytes", len(got))
	}
	r.mustCall("recoverLease", build("hadoop.hdfs.RecoverLeaseRequestProto", "src", "/tmp/into/f", "clientName", "other"))
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles after recoverLease = %q", got)
	}
}

// proto2Copy copies the set fields of src into dst.
func proto2Copy(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
}

// writeOpReq returns an OpWriteBlockProto for eb.
func writeOpReq(eb protoreflect.Message, client string, targets int) *dynamicpb.Message {
	return build(pbOpWriteBlock,
		"header", build("hadoop.hdfs.ClientOperationHeaderProto",
			"baseHeader", build("hadoop.hdfs.BaseHeaderProto", "block", eb, "token", emptyToken()),
			"clientName", client),
		"stage", "PIPELINE_SETUP_CREATE", "pipelineSize", targets,
		"minBytesRcvd", 0, "maxBytesRcvd", 0, "latestGenerationStamp", 0,
		"requestedChecksum", build(pbChecksum, "type", "CHECKSUM_CRC32C", "bytesPerChecksum", 512))
}

// readOpReq returns an OpReadBlockProto for eb.
func readOpReq(eb protoreflect.Message, offset, length uint64) *dynamicpb.Message {
	return build(pbOpReadBlock,
		"header", build("hadoop.hdfs.ClientOperationHeaderProto",
			"baseHeader", build("hadoop.hdfs.BaseHeaderProto", "block", eb, "token", emptyToken()),
			"clientName", "raw"),
		"offset", offset, "len", length)
}

// dnConn is a hand-driven DataNode connection.
type dnConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialDataNode(t *testing.T, c *Cluster) *dnConn {
	t.Helper()
	conn, err := net.Dial("tcp", c.DataNodeAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &dnConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (d *dnConn) writeOp(op byte, m protoreflect.Message) {
	d.t.Helper()
	b, err := appendDelimited([]byte{0, dataTransferVersion, op}, m)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.conn.Write(b); err != nil {
		d.t.Fatal(err)
	}
}

// readDelimited reads one varint-delimited message of the named type.
func (d *dnConn) readDelimited(name string) *dynamicpb.Message {
	d.t.Helper()
	n, err := binary.ReadUvarint(d.br)
	if err != nil {
		d.t.Fatalf("reading %s: %v", name, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.br, b); err != nil {
		d.t.Fatal(err)
	}
	m, err := parse(name, b)
	if err != nil {
		d.t.Fatal(err)
	}
	return m
}

// opResponse reads a BlockOpResponseProto and returns its status name.
func (d *dnConn) opResponse() string {
	d.t.Helper()
	m := d.readDelimited(pbBlockOpResponse)
	if !has(m, "firstBadLink") {
		d.t.Errorf("BlockOpResponseProto without firstBadLink")
	}
	return statusName(m, "status")
}

// statusName returns the enum value name of m's field.
func statusName(m protoreflect.Message, name string) string {
	fd := field(m, name)
	return string(fd.Enum().Values().ByNumber(protoreflect.EnumNumber(getInt(m, name))).Name())
}

// packet sends a write packet; corrupt may change its checksums.
func (d *dnConn) packet(offset, seqno int64, last bool, data []byte, corrupt func([]byte)) {
	d.t.Helper()
	p, err := encodePacket(offset, seqno, last, data, 512, checksumCRC32C)
	if err != nil {
		d.t.Fatal(err)
	}
	if corrupt != nil {
		hlen := int(binary.BigEndian.Uint16(p[4:]))
		corrupt(p[6+hlen : len(p)-len(data)])
	}
	if _, err := d.conn.Write(p); err != nil {
		d.t.Fatal(err)
	}
}

// ack reads a PipelineAckProto and returns its seqno and first reply.
func (d *dnConn) ack() (int64, string) {
	d.t.Helper()
	m := d.readDelimited(pbPipelineAck)
	replies := m.Get(field(m, "reply")).List()
	if replies.Len() != 1 {
		d.t.Fatalf("ack with %d replies", replies.Len())
	}
	fd := field(m, "reply")
	return getInt(m, "seqno"), string(fd.Enum().Values().ByNumber(replies.Get(0).Enum()).Name())
}

// readPackets reads data packets up to the last one, checking their
// CRC32C checksums, and returns the data.
func (d *dnConn) readPackets() []byte {
	d.t.Helper()
	var out []byte
	for {
		p, err := readPacket(d.br, 512, checksumCRC32C)
		if err != nil {
			d.t.Fatal(err)
		}
		for i := 0; i*512 < len(p.data); i++ {
			chunk := p.data[i*512 : min(len(p.data), (i+1)*512)]
			if binary.BigEndian.Uint32(p.checksums[4*i:]) != crc32.Checksum(chunk, castagnoli) {
				d.t.Errorf("bad checksum in a packet the DataNode sent")
			}
		}
		out = append(out, p.data...)
		if p.last {
			return out
		}
	}
}

func (d *dnConn) wantClosed() {
	d.t.Helper()
	d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, d.br); err != nil {
		d.t.Errorf("connection ended with %v, want a close", err)
	}
}
