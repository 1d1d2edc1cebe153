package kudutest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is the server side of KRPC (docs/design-docs/rpc.md,
// rpc/rpc_header.proto): the connection header, framing, SASL PLAIN
// negotiation, the connection context and call dispatch.

// connHeader is what a client sends first: "hrpc", version 9, two zero
// flag bytes.
var connHeader = []byte{'h', 'r', 'p', 'c', 9, 0, 0}

// DefaultMaxMessageSize is the largest frame the servers accept, like
// Kudu's --rpc_max_message_size.
const DefaultMaxMessageSize = 50 << 20

// rpcError is an RPC-level error: a ResponseHeader with is_error and an
// ErrorStatusPB body.
type rpcError struct {
	code        RPCErrorCode
	msg         string
	unsupported []uint32
	fatal       bool // close the connection after answering
}

func (e *rpcError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.code, e.msg) }

// encodeErrorStatus encodes ErrorStatusPB {message=1, code=2,
// unsupported_feature_flags=3}.
func encodeErrorStatus(e *rpcError) []byte {
	var p pb
	p.str(1, e.msg)
	p.int32f(2, int32(e.code))
	for _, f := range e.unsupported {
		p.varint(3, uint64(f))
	}
	return p.b
}

// reqHeader is a decoded RequestHeader: call_id=3, remote_method=6
// {service_name=1, method_name=2}, timeout_millis=10,
// required_feature_flags=11, request_id=15, sidecar_offsets=16.
type reqHeader struct {
	callID          int32
	hasCallID       bool
	service, method string
	hasMethod       bool
	timeoutMillis   uint32
	features        []uint32
	sidecars        []uint32
}

// repeatedUint32 appends the values of a repeated uint32 field, packed or
// not.
func repeatedUint32(dst []uint32, f field) ([]uint32, error) {
	if f.typ == protowire.BytesType {
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 || v > 1<<32-1 {
				return nil, fmt.Errorf("field %d: bad packed uint32", f.num)
			}
			dst, b = append(dst, uint32(v)), b[n:]
		}
		return dst, nil
	}
	v, err := f.uint32v()
	return append(dst, v), err
}

// decodeReqHeader decodes a RequestHeader.
func decodeReqHeader(b []byte) (reqHeader, error) {
	var h reqHeader
	fs, err := parseFields(b)
	if err != nil {
		return h, err
	}
	for _, f := range fs {
		switch f.num {
		case 3:
			if h.callID, err = f.int32v(); err != nil {
				return h, err
			}
			h.hasCallID = true
		case 6:
			mb, err := f.bytes()
			if err != nil {
				return h, err
			}
			mfs, err := parseFields(mb)
			if err != nil {
				return h, err
			}
			var hasS, hasM bool
			for _, mf := range mfs {
				v, err := mf.bytes()
				if mf.num == 1 || mf.num == 2 {
					if err != nil {
						return h, err
					}
				}
				switch mf.num {
				case 1:
					h.service, hasS = string(v), true
				case 2:
					h.method, hasM = string(v), true
				}
			}
			if !hasS || !hasM {
				return h, errors.New("remote_method is missing service_name or method_name")
			}
			h.hasMethod = true
		case 10:
			if h.timeoutMillis, err = f.uint32v(); err != nil {
				return h, err
			}
		case 11:
			if h.features, err = repeatedUint32(h.features, f); err != nil {
				return h, err
			}
		case 15:
			if _, err := f.bytes(); err != nil {
				return h, err
			}
		case 16:
			if h.sidecars, err = repeatedUint32(h.sidecars, f); err != nil {
				return h, err
			}
		}
	}
	if !h.hasCallID {
		return h, errors.New("request header has no call_id")
	}
	return h, nil
}

// parseFrame splits a frame's payload (after the 4-byte length) into the
// request header and the body: a varint-delimited RequestHeader, then a
// varint-delimited message. Bytes after the message are allowed only as
// sidecars named in the header.
func parseFrame(payload []byte) (reqHeader, []byte, error) {
	hl, n := protowire.ConsumeVarint(payload)
	if n < 0 {
		return reqHeader{}, nil, errors.New("invalid packet: missing header delimiter")
	}
	payload = payload[n:]
	if hl > uint64(len(payload)) {
		return reqHeader{}, nil, errors.New("invalid packet: header too short")
	}
	h, err := decodeReqHeader(payload[:hl])
	if err != nil {
		return h, nil, fmt.Errorf("invalid request header: %w", err)
	}
	payload = payload[hl:]
	bl, n := protowire.ConsumeVarint(payload)
	if n < 0 {
		return h, nil, errors.New("invalid packet: missing main message length")
	}
	payload = payload[n:]
	if bl > uint64(len(payload)) {
		return h, nil, errors.New("invalid packet: main message length exceeds the frame")
	}
	body := payload[:bl]
	if rest := len(payload) - int(bl); rest > 0 && len(h.sidecars) == 0 {
		return h, nil, fmt.Errorf("invalid packet: %d bytes after the main message and no sidecars", rest)
	}
	return h, body, nil
}

// readFrame reads one length-prefixed frame.
func readFrame(r io.Reader, max uint32) ([]byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n > max {
		return nil, fmt.Errorf("frame of %d bytes exceeds the maximum of %d", n, max)
	}
	if n == 0 {
		return nil, errors.New("empty frame")
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// appendResponse appends a response frame: the length, then the
// varint-delimited ResponseHeader {call_id=1, is_error=2} and body.
func appendResponse(dst []byte, callID int32, isErr bool, body []byte) []byte {
	var h pb
	h.int32f(1, callID)
	if isErr {
		h.boolf(2, true)
	}
	size := protowire.SizeBytes(len(h.b)) + protowire.SizeBytes(len(body))
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = protowire.AppendBytes(dst, h.b)
	return protowire.AppendBytes(dst, body)
}

// server is one master or tablet server endpoint.
type server struct {
	c       *Cluster
	master  bool
	idx     int
	uuid    string
	ln      net.Listener
	host    string
	port    int
	bytesIn atomic.Int64
}

func (s *server) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

func (s *server) name() string {
	if s.master {
		return "master" + strconv.Itoa(s.idx)
	}
	return "tserver" + strconv.Itoa(s.idx)
}

// srvConn is one accepted connection.
type srvConn struct {
	s      *server
	nc     net.Conn
	w      io.Writer // where responses go: nc, or TLS over it
	wmu    sync.Mutex
	closed atomic.Bool
}

func (sc *srvConn) close() {
	if sc.closed.CompareAndSwap(false, true) {
		sc.nc.Close()
	}
}

// send writes one response frame.
func (sc *srvConn) send(callID int32, isErr bool, body []byte) error {
	frame := appendResponse(nil, callID, isErr, body)
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_, err := sc.w.Write(frame)
	return err
}

// sendError answers a call with an RPC error.
func (sc *srvConn) sendError(callID int32, e *rpcError) error {
	sc.s.c.count(func(st *Stats) { st.RPCErrors++ })
	return sc.send(callID, true, encodeErrorStatus(e))
}

// countingReader counts the bytes a connection receives and, when limit
// is not negative, closes the connection once that many have arrived.
type countingReader struct {
	sc    *srvConn
	n     int64
	limit int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.limit >= 0 {
		if r.n >= r.limit {
			r.sc.close()
			return 0, io.EOF
		}
		if int64(len(p)) > r.limit-r.n {
			p = p[:r.limit-r.n]
		}
	}
	n, err := r.sc.nc.Read(p)
	r.n += int64(n)
	r.sc.s.bytesIn.Add(int64(n))
	r.sc.s.c.count(func(st *Stats) { st.BytesReceived += int64(n) })
	return n, err
}

// acceptLoop serves connections until the listener closes.
func (s *server) acceptLoop() {
	defer s.c.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		sc := &srvConn{s: s, nc: nc, w: nc}
		if !s.c.track(sc) {
			nc.Close()
			return
		}
		s.c.wg.Add(1)
		go func() {
			defer s.c.wg.Done()
			defer s.c.untrack(sc)
			defer sc.close()
			s.serveConn(sc)
		}()
	}
}

// serveConn runs one connection: header, negotiation, then calls.
func (s *server) serveConn(sc *srvConn) {
	c := s.c
	limit := c.takeDrop()
	raw := bufio.NewReader(&countingReader{sc: sc, limit: limit})
	var hdr [7]byte
	if _, err := io.ReadFull(raw, hdr[:]); err != nil {
		return
	}
	if !bytes.Equal(hdr[:], connHeader) {
		c.logf("kudutest: %s: bad connection header %q", s.name(), hdr[:])
		return
	}
	r, err := s.negotiate(sc, raw)
	if err != nil {
		if !hangup(err) {
			c.logf("kudutest: %s: negotiation: %v", s.name(), err)
		}
		return
	}
	c.count(func(st *Stats) { st.Connections++ })
	var last int32 = -1
	var calls sync.WaitGroup
	defer calls.Wait()
	for {
		payload, err := readFrame(r, uint32(c.cfg.maxMessage))
		if err != nil {
			if !hangup(err) {
				c.logf("kudutest: %s: %v", s.name(), err)
			}
			return
		}
		h, body, err := parseFrame(payload)
		if err != nil {
			c.logf("kudutest: %s: %v", s.name(), err)
			sc.sendError(h.callID, &rpcError{code: FatalInvalidRPCHeader, msg: err.Error()})
			return
		}
		if h.callID < 0 || h.callID <= last {
			msg := fmt.Sprintf("call id %d is not greater than the previous call id %d", h.callID, last)
			c.logf("kudutest: %s: %s", s.name(), msg)
			sc.sendError(h.callID, &rpcError{code: FatalInvalidRPCHeader, msg: msg})
			return
		}
		last = h.callID
		if !h.hasMethod {
			sc.sendError(h.callID, &rpcError{code: FatalInvalidRPCHeader, msg: "call has no remote_method"})
			return
		}
		calls.Add(1)
		go func() {
			defer calls.Done()
			resp, rerr := s.dispatch(h, body)
			if rerr != nil {
				sc.sendError(h.callID, rerr)
				if rerr.fatal {
					sc.close()
				}
				return
			}
			sc.send(h.callID, false, resp)
		}()
	}
}

// hangup reports whether err just means the peer went away.
func hangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// handler serves one method; it returns the response body or an error.
type handler func(s *server, body []byte) ([]byte, *rpcError)

var (
	masterMethods  map[string]handler
	tserverMethods map[string]handler
)

func init() {
	masterMethods = map[string]handler{
		"ConnectToMaster":   (*server).connectToMaster,
		"Ping":              func(*server, []byte) ([]byte, *rpcError) { return nil, nil },
		"GetTableSchema":    (*server).getTableSchema,
		"GetTableLocations": (*server).getTableLocations,
		"CreateTable":       (*server).createTable,
		"IsCreateTableDone": (*server).isCreateTableDone,
		"ListTables":        (*server).listTables,
		"DeleteTable":       (*server).deleteTable,
	}
	tserverMethods = map[string]handler{
		"Ping":  func(*server, []byte) ([]byte, *rpcError) { return nil, nil },
		"Write": (*server).write,
	}
}

// Feature flags the services support (MasterFeatures in master.proto,
// TabletServerFeatures in tserver.proto).
var (
	masterFeatures  = map[uint32]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 9: true, 10: true}
	tserverFeatures = map[uint32]bool{1: true, 2: true, 3: true, 5: true, 6: true}
)

// dispatch routes a call to its method after the injected faults.
func (s *server) dispatch(h reqHeader, body []byte) ([]byte, *rpcError) {
	c := s.c
	c.count(func(st *Stats) { st.Calls[h.method]++ })
	if d := c.takeDelay(h.method); d > 0 {
		select {
		case <-time.After(d):
		case <-c.done:
		}
	}
	if c.takeTooBusy(h.method) {
		return nil, &rpcError{code: ErrorServerTooBusy, msg: "Service unavailable: kudutest: injected server too busy"}
	}
	want, methods, features := tserverService, tserverMethods, tserverFeatures
	if s.master {
		want, methods, features = masterService, masterMethods, masterFeatures
	}
	if h.service != want {
		return nil, &rpcError{code: ErrorNoSuchService, msg: fmt.Sprintf("Service unavailable: service %s not registered on %s", h.service, s.name())}
	}
	fn, ok := methods[h.method]
	if !ok {
		return nil, &rpcError{code: ErrorNoSuchMethod, msg: fmt.Sprintf("Invalid argument: call on service %s received at %s from with an invalid method name: %s", h.service, s.name(), h.method)}
	}
	var unsupported []uint32
	for _, f := range h.features {
		if !features[f] {
			unsupported = append(unsupported, f)
		}
	}
	if len(unsupported) > 0 {
		return nil, &rpcError{code: ErrorInvalidRequest, msg: "Invalid argument: server does not support the required feature flags", unsupported: unsupported}
	}
	return fn(s, body)
}

// invalidRequest is the error for a request that cannot be parsed or
// lacks required fields.
func invalidRequest(method string, err error) *rpcError {
	return &rpcError{code: ErrorInvalidRequest, msg: fmt.Sprintf("Invalid argument: invalid parameter for call %s: %v", method, err)}
}

// appStatus encodes AppStatusPB {code=1, message=2}.
func appStatus(p *pb, n protowire.Number, code StatusCode, msg string) {
	p.msg(n, func(q *pb) {
		q.int32f(1, int32(code))
		q.str(2, msg)
	})
}
