package kudu

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is a tiny in-test KRPC peer: enough server side to negotiate
// and answer calls. It decodes requests with protowire directly rather than
// with the package's own decoders where the test is about the bytes.

// reqHeader is a decoded RequestHeader.
type reqHeader struct {
	callID        int32
	service       string
	method        string
	timeoutMillis uint32
	features      []uint32
	hasRequestID  bool
}

// decodeReqHeader decodes a RequestHeader with protowire.
func decodeReqHeader(b []byte) (reqHeader, error) {
	var h reqHeader
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return h, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, protowire.ParseError(n)
			}
			h.callID = int32(int64(v))
			b = b[n:]
		case num == 10 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, protowire.ParseError(n)
			}
			h.timeoutMillis = uint32(v)
			b = b[n:]
		case num == 11 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, protowire.ParseError(n)
			}
			h.features = append(h.features, uint32(v))
			b = b[n:]
		case num == 6 && typ == protowire.BytesType:
			m, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return h, protowire.ParseError(n)
			}
			b = b[n:]
			for len(m) > 0 {
				fn, _, k := protowire.ConsumeTag(m)
				if k < 0 {
					return h, protowire.ParseError(k)
				}
				m = m[k:]
				s, k := protowire.ConsumeBytes(m)
				if k < 0 {
					return h, protowire.ParseError(k)
				}
				m = m[k:]
				if fn == 1 {
					h.service = string(s)
				} else if fn == 2 {
					h.method = string(s)
				}
			}
		default:
			if num == 15 {
				h.hasRequestID = true
			}
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return h, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return h, nil
}

// respFrame builds a response frame: ResponseHeader {call_id=1,
// is_error=2} and the body.
func respFrame(callID int32, isError bool, body []byte) []byte {
	var h []byte
	h = protowire.AppendTag(h, 1, protowire.VarintType)
	h = protowire.AppendVarint(h, uint64(int64(callID)))
	if isError {
		h = protowire.AppendTag(h, 2, protowire.VarintType)
		h = protowire.AppendVarint(h, 1)
	}
	return appendFrame(nil, h, body)
}

// errorStatus builds an ErrorStatusPB {message=1, code=2}.
func errorStatus(code RPCErrorCode, msg string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, msg)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(code))
}

// readReqFrame reads one request frame and splits it.
func readReqFrame(r io.Reader) (reqHeader, []byte, error) {
	frame, err := readFrame(r)
	if err != nil {
		return reqHeader{}, nil, err
	}
	hb, body, err := splitFrame(frame)
	if err != nil {
		return reqHeader{}, nil, err
	}
	h, err := decodeReqHeader(hb)
	return h, body, err
}

// negotiateReply is how a fake peer answers the client's NEGOTIATE step.
type negotiateReply struct {
	features   []uint64
	mechanisms []string
	authn      int // AuthenticationTypePB member: 1 sasl, 2 token, ...
	errCode    RPCErrorCode
	errMsg     string
}

var plainReply = negotiateReply{features: []uint64{1, 2}, mechanisms: []string{"GSSAPI", "PLAIN"}, authn: 1}

// serverNegotiate runs the server side of negotiation. It returns the
// SASL token the client sent.
func serverNegotiate(br *bufio.Reader, w io.Writer, reply negotiateReply) ([]byte, error) {
	hdr := make([]byte, 7)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, err
	}
	if string(hdr) != connectionHeader {
		return nil, fmt.Errorf("bad connection header %q", hdr)
	}
	h, body, err := readReqFrame(br)
	if err != nil {
		return nil, err
	}
	if h.callID != negotiateCallID {
		return nil, fmt.Errorf("negotiate call id %d", h.callID)
	}
	m, err := parseNegotiate(body)
	if err != nil || m.step != stepNegotiate {
		return nil, fmt.Errorf("bad NEGOTIATE: %v", err)
	}
	if reply.errCode != 0 {
		_, err := w.Write(respFrame(negotiateCallID, true, errorStatus(reply.errCode, reply.errMsg)))
		return nil, err
	}
	resp := &negotiatePB{features: reply.features, step: stepNegotiate, mechanisms: reply.mechanisms}
	if reply.authn != 0 {
		resp.authnTypes = []int{reply.authn}
	}
	if _, err := w.Write(respFrame(negotiateCallID, false, resp.marshal())); err != nil {
		return nil, err
	}
	h, body, err = readReqFrame(br)
	if err != nil {
		return nil, err
	}
	m, err = parseNegotiate(body)
	if err != nil || m.step != stepSASLInitiate || h.callID != negotiateCallID {
		return nil, fmt.Errorf("bad SASL_INITIATE: %v", err)
	}
	if _, err := w.Write(respFrame(negotiateCallID, false, (&negotiatePB{step: stepSASLSuccess}).marshal())); err != nil {
		return nil, err
	}
	h, body, err = readReqFrame(br)
	if err != nil {
		return nil, err
	}
	if h.callID != connectionContextCallID || len(body) != 0 {
		return nil, fmt.Errorf("bad connection context: id %d body % x", h.callID, body)
	}
	return m.token, nil
}

// handlerFunc answers one call: a response body, or an error status.
type handlerFunc func(h reqHeader, body []byte) ([]byte, *RPCError)

// fakeServer is a KRPC server on a loopback port.
type fakeServer struct {
	t       testing.TB
	ln      net.Listener
	addr    string
	reply   negotiateReply
	handler handlerFunc

	mu     sync.Mutex
	tokens [][]byte
	calls  []reqHeader
	conns  []net.Conn
}

func newFakeServer(t testing.TB, reply negotiateReply, h handlerFunc) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, addr: ln.Addr().String(), reply: reply, handler: h}
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

func (s *fakeServer) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, nc)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

func (s *fakeServer) serveConn(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	tok, err := serverNegotiate(br, nc, s.reply)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.tokens = append(s.tokens, tok)
	s.mu.Unlock()
	var wmu sync.Mutex
	lastID := int32(-1)
	for {
		h, body, err := readReqFrame(br)
		if err != nil {
			return
		}
		if h.callID <= lastID {
			s.t.Errorf("call id %d not above previous %d", h.callID, lastID)
		}
		lastID = h.callID
		s.mu.Lock()
		s.calls = append(s.calls, h)
		s.mu.Unlock()
		go func() {
			resp, rerr := s.handler(h, body)
			var f []byte
			switch {
			case rerr == noReply:
				return
			case rerr != nil:
				f = respFrame(h.callID, true, errorStatus(rerr.Code, rerr.Message))
			default:
				f = respFrame(h.callID, false, resp)
			}
			wmu.Lock()
			nc.Write(f)
			wmu.Unlock()
		}()
	}
}

// noReply makes a handler not answer (for timeout tests).
var noReply = &RPCError{Code: -1}
