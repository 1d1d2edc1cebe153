package hdfstest

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// DataTransferProtocol constants (org.apache.hadoop.hdfs.protocol.datatransfer).
const (
	dataTransferVersion = 28
	opWriteBlock        = 0x50
	opReadBlock         = 0x51
	opBlockChecksum     = 0x55

	stageSetupCreate = 6 // OpWriteBlockProto.PIPELINE_SETUP_CREATE

	checksumNull   = 0 // ChecksumTypeProto
	checksumCRC32  = 1
	checksumCRC32C = 2

	maxOpLength     = 1 << 20  // an op request's message
	maxPacketLength = 16 << 20 // a packet's payload, as PacketReceiver.MAX_PACKET_SIZE
	maxHeaderLength = 4096     // a packet's PacketHeaderProto
	readPacketSize  = 64 << 10 // the data in one packet the DataNode sends
	heartbeatSeqno  = -1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// serveDataNode accepts data transfer connections on ln until it is
// closed.
func (c *Cluster) serveDataNode(ln net.Listener) { c.accept(ln, c.serveXceiver) }

// serveXceiver serves one data transfer connection: one op, as the
// DataNode's DataXceiver does for a client.
func (c *Cluster) serveXceiver(conn net.Conn) {
	br := bufio.NewReader(conn)
	op, body, err := readOp(br)
	if err != nil {
		if !hangup(err) {
			c.cfg.logf("hdfstest: DataNode: %v", err)
		}
		return
	}
	c.mu.Lock()
	c.dnOps[op]++
	drop := -1
	if (op == opWriteBlock || op == opReadBlock) && len(c.drops) > 0 {
		drop, c.drops = c.drops[0], c.drops[1:]
	}
	c.mu.Unlock()
	switch op {
	case opWriteBlock:
		err = c.writeBlock(conn, br, body, drop)
	case opReadBlock:
		err = c.readBlock(conn, br, body, drop)
	case opBlockChecksum:
		err = c.blockChecksum(conn, body)
	default:
		err = fmt.Errorf("op %#x is not implemented", op)
		writeOpResponse(conn, "ERROR_UNSUPPORTED", err.Error(), nil)
	}
	if err != nil && !errors.Is(err, errDropped) && !hangup(err) {
		c.cfg.logf("hdfstest: DataNode: op %#x: %v", op, err)
	}
}

// errDropped reports a connection closed by DropDataNodeConnection.
var errDropped = errors.New("connection dropped by DropDataNodeConnection")

// readOp reads an op request: the int16 protocol version, the op code and
// the varint-delimited op message.
func readOp(r *bufio.Reader) (op byte, body []byte, err error) {
	var h [3]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if v := binary.BigEndian.Uint16(h[:2]); v != dataTransferVersion {
		return 0, nil, fmt.Errorf("data transfer version %d, want %d", v, dataTransferVersion)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, fmt.Errorf("op %#x: length: %w", h[2], noEOF(err))
	}
	if n > maxOpLength {
		return 0, nil, fmt.Errorf("op %#x: message of %d bytes is too long", h[2], n)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("op %#x: %w", h[2], noEOF(err))
	}
	return h[2], body, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF, for reads cut short.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writeOpResponse sends a delimited BlockOpResponseProto. It always sets
// firstBadLink, as the DataNode does: the client reads at least five
// bytes for the response, and a shorter one would leave it waiting.
func writeOpResponse(w io.Writer, status, msg string, readInfo protoreflect.Message) error {
	m := build(pbBlockOpResponse, "status", status, "firstBadLink", "")
	if msg != "" {
		setField(m, "message", msg)
	}
	if readInfo != nil {
		setField(m, "readOpChecksumInfo", readInfo)
	}
	b, err := appendDelimited(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeAck sends a delimited PipelineAckProto for seqno with one reply.
func writeAck(w io.Writer, seqno int64, status string) error {
	m := build(pbPipelineAck, "seqno", seqno, "reply", []string{status}, "downstreamAckTimeNanos", 0)
	b, err := appendDelimited(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// blockIdent returns the ExtendedBlockProto of an op's BaseHeaderProto.
func blockIdent(base protoreflect.Message) (pool string, id, gs uint64) {
	b := getMsg(base, "block")
	return getStr(b, "poolId"), getUint(b, "blockId"), getUint(b, "generationStamp")
}

// packet is a data packet of a block transfer.
type packet struct {
	offset    int64
	seqno     int64
	last      bool
	checksums []byte
	data      []byte
}

// checksumSize returns the bytes per chunk of a checksum type.
func checksumSize(ctype int64) int {
	if ctype == checksumNull {
		return 0
	}
	return 4
}

// readPacket reads one packet: a uint32 payload length (which counts
// itself, the checksums and the data), a uint16 header length, the
// PacketHeaderProto, the checksums of each bpc-byte chunk and the data.
// Every malformed packet gives an error.
func readPacket(r io.Reader, bpc int, ctype int64) (*packet, error) {
	var h [6]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	payload := binary.BigEndian.Uint32(h[:4])
	hlen := binary.BigEndian.Uint16(h[4:])
	if payload < 4 || payload > maxPacketLength {
		return nil, fmt.Errorf("packet payload length %d is out of range", payload)
	}
	if hlen == 0 || hlen > maxHeaderLength {
		return nil, fmt.Errorf("packet header length %d is out of range", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, noEOF(err)
	}
	hdr, err := parse(pbPacketHeader, hb)
	if err != nil {
		return nil, err
	}
	dataLen := getInt(hdr, "dataLen")
	if dataLen < 0 || dataLen > maxPacketLength {
		return nil, fmt.Errorf("packet data length %d is out of range", dataLen)
	}
	sums := (dataLen + int64(bpc) - 1) / int64(bpc) * int64(checksumSize(ctype))
	if int64(payload)-4 != sums+dataLen {
		return nil, fmt.Errorf("packet payload length %d does not match %d bytes of data with %d of checksums", payload, dataLen, sums)
	}
	body := make([]byte, sums+dataLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, noEOF(err)
	}
	return &packet{
		offset:    getInt(hdr, "offsetInBlock"),
		seqno:     getInt(hdr, "seqno"),
		last:      getBool(hdr, "lastPacketInBlock"),
		checksums: body[:sums],
		data:      body[sums:],
	}, nil
}

// checksum returns the checksum of one chunk.
func checksum(ctype int64, chunk []byte) uint32 {
	if ctype == checksumCRC32 {
		return crc32.ChecksumIEEE(chunk)
	}
	return crc32.Checksum(chunk, castagnoli)
}

// verifyChecksums checks each bpc-byte chunk of data against its
// big-endian checksum in sums, and returns the index of the first bad
// chunk, or -1.
func verifyChecksums(data, sums []byte, bpc int, ctype int64) int {
	if ctype == checksumNull {
		return -1
	}
	for i := 0; i*bpc < len(data); i++ {
		chunk := data[i*bpc : min((i+1)*bpc, len(data))]
		if binary.BigEndian.Uint32(sums[4*i:]) != checksum(ctype, chunk) {
			return i
		}
	}
	return -1
}

// appendChecksums appends the checksum of each bpc-byte chunk of data.
func appendChecksums(b, data []byte, bpc int, ctype int64) []byte {
	if ctype == checksumNull {
		return b
	}
	for i := 0; i < len(data); i += bpc {
		b = binary.BigEndian.AppendUint32(b, checksum(ctype, data[i:min(i+bpc, len(data))]))
	}
	return b
}

// writeBlock receives a block (op 0x50, stage PIPELINE_SETUP_CREATE):
// it checks the block with the NameNode's records, answers the op, then
// reads packets, verifies their checksums, stores their data and acks
// each one. The last packet finalizes the replica. drop >= 0 closes the
// connection once that many data bytes have arrived.
func (c *Cluster) writeBlock(conn net.Conn, br *bufio.Reader, body []byte, drop int) error {
	req, err := parse(pbOpWriteBlock, body)
	if err != nil {
		writeOpResponse(conn, "ERROR", err.Error(), nil)
		return err
	}
	pool, id, gs := blockIdent(getMsg(getMsg(req, "header"), "baseHeader"))
	cs := getMsg(req, "requestedChecksum")
	ctype, bpc := getInt(cs, "type"), int(getUint(cs, "bytesPerChecksum"))
	stage := getInt(req, "stage")
	targets := req.Get(field(req, "targets")).List().Len()

	c.mu.Lock()
	b := c.blocks[id]
	var rep *replica
	var limit uint64
	switch {
	case stage != stageSetupCreate:
		err = fmt.Errorf("block construction stage %d is not implemented (only PIPELINE_SETUP_CREATE)", stage)
	case targets > 0:
		err = fmt.Errorf("pipeline of %d more DataNodes: the cluster has one", targets)
	case ctype != checksumNull && ctype != checksumCRC32 && ctype != checksumCRC32C:
		err = fmt.Errorf("checksum type %d is not supported", ctype)
	case bpc <= 0 || bpc > maxPacketLength:
		err = fmt.Errorf("bytes per checksum %d is out of range", bpc)
	case b == nil || pool != c.poolID:
		err = fmt.Errorf("block %s:blk_%d was not allocated by the NameNode", pool, id)
	case b.gs != gs:
		err = fmt.Errorf("block blk_%d has generation stamp %d, not %d", id, b.gs, gs)
	case !b.file.uc:
		err = fmt.Errorf("block blk_%d belongs to a file that is not under construction", id)
	case c.replicas[id] != nil:
		err = fmt.Errorf("replica blk_%d_%d already exists", id, gs)
	default:
		rep = &replica{id: id, gs: gs}
		c.replicas[id] = rep
		limit = b.file.blockSize
	}
	c.mu.Unlock()
	if err != nil {
		status := "ERROR"
		if stage != stageSetupCreate || targets > 0 {
			status = "ERROR_UNSUPPORTED"
		}
		writeOpResponse(conn, status, err.Error(), nil)
		return err
	}
	if err := writeOpResponse(conn, "SUCCESS", "", nil); err != nil {
		return err
	}

	var received int
	lastSeqno := int64(-1 << 62)
	for {
		if drop >= 0 && received >= drop {
			return errDropped
		}
		p, err := readPacket(br, bpc, ctype)
		if err != nil {
			if hangup(err) {
				return nil // the client gave up on the block
			}
			return fmt.Errorf("blk_%d: %w", id, err)
		}
		if p.seqno == heartbeatSeqno && len(p.data) == 0 && !p.last {
			if err := writeAck(conn, heartbeatSeqno, "SUCCESS"); err != nil {
				return err
			}
			continue
		}
		var fail error
		status := "ERROR"
		switch {
		case p.seqno <= lastSeqno:
			fail = fmt.Errorf("packet seqno %d after %d", p.seqno, lastSeqno)
		case p.offset != int64(received):
			fail = fmt.Errorf("packet at offset %d, but %d bytes were received", p.offset, received)
		case uint64(received+len(p.data)) > limit:
			fail = fmt.Errorf("%d bytes is over the block size %d", received+len(p.data), limit)
		default:
			if i := verifyChecksums(p.data, p.checksums, bpc, ctype); i >= 0 {
				fail = fmt.Errorf("checksum error in chunk %d at offset %d", i, received+i*bpc)
				status = "ERROR_CHECKSUM"
			}
		}
		if fail == nil {
			c.mu.Lock()
			if c.replicas[id] != rep || rep.finalized || rep.recovering {
				fail = fmt.Errorf("blk_%d was deleted or recovered while it was written", id)
			} else {
				rep.data = append(rep.data, p.data...)
				if p.last {
					// The NameNode counts the block once it has the
					// report (blockCompleteLocked).
					rep.finalized, rep.finalizedAt = true, c.cfg.now()
				}
			}
			c.mu.Unlock()
		}
		if fail != nil {
			writeAck(conn, p.seqno, status)
			return fmt.Errorf("blk_%d: %w", id, fail)
		}
		received += len(p.data)
		lastSeqno = p.seqno
		if drop >= 0 && received >= drop {
			return errDropped
		}
		if err := writeAck(conn, p.seqno, "SUCCESS"); err != nil {
			return err
		}
		if p.last {
			return nil
		}
	}
}

// readBlock sends part of a block (op 0x51): the op answer with the
// checksum type and the chunk-aligned start, packets of data with their
// checksums, and an empty last packet. drop >= 0 cuts the connection in
// the middle of the packet that crosses that many data bytes.
func (c *Cluster) readBlock(conn net.Conn, br *bufio.Reader, body []byte, drop int) error {
	req, err := parse(pbOpReadBlock, body)
	if err != nil {
		writeOpResponse(conn, "ERROR", err.Error(), nil)
		return err
	}
	pool, id, gs := blockIdent(getMsg(getMsg(req, "header"), "baseHeader"))
	offset, length := getUint(req, "offset"), getUint(req, "len")
	ctype, bpc := int64(checksumCRC32C), bytesPerChecksum
	if !getBool(req, "sendChecksums") {
		ctype = checksumNull
	}

	c.mu.Lock()
	rep := c.replicas[id]
	var data []byte
	switch {
	case rep == nil || pool != c.poolID:
		//lint:ignore ST1005 Hadoop's DataNode message
		err = fmt.Errorf("Replica not found for %s:blk_%d_%d", pool, id, gs)
	case rep.gs < gs:
		err = fmt.Errorf("replica blk_%d has generation stamp %d, older than %d", id, rep.gs, gs)
	case offset > uint64(len(rep.data)):
		err = fmt.Errorf("Offset %d and length %d don't match block %s:blk_%d_%d ( blockLen %d )", //lint:ignore ST1005 Hadoop's DataNode message
			offset, length, pool, id, gs, len(rep.data))
	default:
		data = rep.data[:len(rep.data):len(rep.data)] // what is there now; appends go elsewhere
	}
	c.mu.Unlock()
	if err != nil {
		writeOpResponse(conn, "ERROR", err.Error(), nil)
		return err
	}
	end := offset + min(length, uint64(len(data))-offset)
	start := offset - offset%uint64(bpc)
	end = min((end+uint64(bpc)-1)/uint64(bpc)*uint64(bpc), uint64(len(data)))
	info := build(pbReadOpChecksumInfo,
		"checksum", build(pbChecksum, "type", ctype, "bytesPerChecksum", bpc),
		"chunkOffset", start)
	if err := writeOpResponse(conn, "SUCCESS", "", info); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(conn, readPacketSize+4096)
	sent := 0
	seqno := int64(0)
	for pos := start; ; seqno++ {
		n := min(uint64(readPacketSize), end-pos)
		last := n == 0
		pkt, err := encodePacket(int64(pos), seqno, last, data[pos:pos+n], bpc, ctype)
		if err != nil {
			return err
		}
		if drop >= 0 && sent+int(n) > drop {
			// Cut mid-packet: the header, the checksums and part of the data.
			cut := len(pkt) - int(n) + (drop - sent)
			bw.Write(pkt[:cut])
			bw.Flush()
			return errDropped
		}
		if _, err := bw.Write(pkt); err != nil {
			return err
		}
		sent += int(n)
		pos += n
		if last {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	// A Java client answers with a ClientReadStatusProto; this client
	// closes the connection. Wait briefly for either.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, io.LimitReader(br, 64))
	return nil
}

// encodePacket returns a packet with its length prefix, header,
// checksums and data.
func encodePacket(offset, seqno int64, last bool, data []byte, bpc int, ctype int64) ([]byte, error) {
	hdr, err := marshal(build(pbPacketHeader,
		"offsetInBlock", offset,
		"seqno", seqno,
		"lastPacketInBlock", last,
		"dataLen", len(data),
		"syncBlock", false,
	))
	if err != nil {
		return nil, err
	}
	sums := appendChecksums(nil, data, bpc, ctype)
	b := make([]byte, 6, 6+len(hdr)+len(sums)+len(data))
	binary.BigEndian.PutUint32(b, uint32(4+len(sums)+len(data)))
	binary.BigEndian.PutUint16(b[4:], uint16(len(hdr)))
	b = append(b, hdr...)
	b = append(b, sums...)
	return append(b, data...), nil
}

// blockChecksum answers op 0x55 with the MD5 of the block's chunk
// CRC32Cs, the per-block part of HDFS's MD5-of-MD5-of-CRC32C file
// checksum.
func (c *Cluster) blockChecksum(conn net.Conn, body []byte) error {
	req, err := parse(pbOpBlockChecksum, body)
	if err != nil {
		writeOpResponse(conn, "ERROR", err.Error(), nil)
		return err
	}
	base := getMsg(req, "header")
	pool, id, _ := blockIdent(base)
	want := getUint(getMsg(base, "block"), "numBytes")
	c.mu.Lock()
	rep := c.replicas[id]
	var data []byte
	if rep != nil && pool == c.poolID && rep.finalized {
		data = rep.data
		if want > 0 && want < uint64(len(data)) {
			data = data[:want]
		}
	} else {
		rep = nil
	}
	c.mu.Unlock()
	if rep == nil {
		err := fmt.Errorf("Replica not found for %s:blk_%d", pool, id) //lint:ignore ST1005 Hadoop's DataNode message
		writeOpResponse(conn, "ERROR", err.Error(), nil)
		return err
	}
	sums := appendChecksums(nil, data, bytesPerChecksum, checksumCRC32C)
	sum := md5.Sum(sums)
	m := build(pbBlockOpResponse,
		"status", "SUCCESS",
		"firstBadLink", "",
		"checksumResponse", build(pbBlockChecksumResponse,
			"bytesPerCrc", bytesPerChecksum,
			"crcPerBlock", len(sums)/4,
			"blockChecksum", sum[:],
			"crcType", "CHECKSUM_CRC32C",
		))
	b, err := appendDelimited(nil, m)
	if err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}
