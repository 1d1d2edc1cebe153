package kudu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// KRPC constants (src/kudu/rpc/rpc_header.proto and
// docs/design-docs/rpc.md).
const (
	// connectionHeader is sent by the client right after connecting:
	// "hrpc", protocol version 9, service class 0, auth protocol 0.
	connectionHeader = "hrpc\x09\x00\x00"

	negotiateCallID         int32 = -33 // RequestHeader.call_id for NegotiatePB
	connectionContextCallID int32 = -3  // RequestHeader.call_id for ConnectionContextPB

	// MaxMessageBytes is Kudu's default --rpc_max_message_size (50 MiB).
	MaxMessageBytes = 50 << 20

	// maxFrameBytes bounds what the reader accepts from a peer.
	maxFrameBytes = MaxMessageBytes + 1<<20
)

// RpcFeatureFlag values (rpc_header.proto).
const (
	featureApplicationFeatureFlags = 1
	featureTLS                     = 2
)

// NegotiatePB.NegotiateStep values (rpc_header.proto).
const (
	stepSASLSuccess   = 0
	stepNegotiate     = 1
	stepSASLInitiate  = 2
	stepSASLChallenge = 3
	stepSASLResponse  = 4
	stepTLSHandshake  = 5
	stepTokenExchange = 6
	stepJWTExchange   = 7
)

// RPCErrorCode is ErrorStatusPB.RpcErrorCodePB (rpc_header.proto).
type RPCErrorCode int32

// RPC-level error codes.
const (
	RPCErrorApplication                RPCErrorCode = 1
	RPCErrorNoSuchMethod               RPCErrorCode = 2
	RPCErrorNoSuchService              RPCErrorCode = 3
	RPCErrorServerTooBusy              RPCErrorCode = 4
	RPCErrorInvalidRequest             RPCErrorCode = 5
	RPCErrorRequestStale               RPCErrorCode = 6
	RPCErrorUnavailable                RPCErrorCode = 7
	RPCFatalUnknown                    RPCErrorCode = 10
	RPCFatalServerShuttingDown         RPCErrorCode = 11
	RPCFatalInvalidRPCHeader           RPCErrorCode = 12
	RPCFatalDeserializingRequest       RPCErrorCode = 13
	RPCFatalVersionMismatch            RPCErrorCode = 14
	RPCFatalUnauthorized               RPCErrorCode = 15
	RPCFatalInvalidAuthenticationToken RPCErrorCode = 16
	RPCErrorInvalidAuthorizationToken  RPCErrorCode = 17
	RPCFatalInvalidJWT                 RPCErrorCode = 18
)

// Errors returned by the connection layer.
var (
	// ErrUnsupportedSecurity means the server demands something this client
	// does not implement: TLS, Kerberos (GSSAPI), token, certificate or JWT
	// authentication. Only SASL PLAIN over plaintext is supported.
	ErrUnsupportedSecurity = errors.New("kudu: server requires unsupported security (TLS/Kerberos/token); only SASL PLAIN without TLS is supported")

	// ErrConnectionClosed is wrapped by errors of calls that failed because
	// the connection broke or was closed. Such calls may be retried on a new
	// connection.
	ErrConnectionClosed = errors.New("kudu: connection closed")
)

// RPCError is an ErrorStatusPB returned by a server instead of a response.
type RPCError struct {
	Code    RPCErrorCode
	Message string
	// UnsupportedFeatureFlags lists the required feature flags the server
	// did not know.
	UnsupportedFeatureFlags []uint32
}

// Error implements error.
func (e *RPCError) Error() string {
	return fmt.Sprintf("kudu: rpc error %d: %s", e.Code, e.Message)
}

// Retryable reports whether the same call may succeed if tried again
// later (server too busy or unavailable).
func (e *RPCError) Retryable() bool {
	return e.Code == RPCErrorServerTooBusy || e.Code == RPCErrorUnavailable
}

// fatal reports whether the server will close the connection.
func (e *RPCError) fatal() bool {
	return e.Code >= RPCFatalUnknown && e.Code != RPCErrorInvalidAuthorizationToken
}

// requestHeader is kudu.rpc.RequestHeader.
type requestHeader struct {
	callID        int32
	service       string // remote_method.service_name; empty for setup calls
	method        string
	timeoutMillis uint32
	features      []uint32
	requestID     *requestID
}

// requestID is kudu.rpc.RequestIdPB.
type requestID struct {
	clientID             string
	seqNo                int64
	firstIncompleteSeqNo int64
	attemptNo            int64
}

func (h *requestHeader) marshal(b []byte) []byte {
	b = appendInt32Field(b, 3, h.callID)
	if h.service != "" || h.method != "" {
		b = appendMessageField(b, 6, func(m []byte) []byte {
			m = appendStringField(m, 1, h.service)
			return appendStringField(m, 2, h.method)
		})
	}
	if h.timeoutMillis > 0 {
		b = appendVarintField(b, 10, uint64(h.timeoutMillis))
	}
	for _, f := range h.features {
		b = appendVarintField(b, 11, uint64(f))
	}
	if r := h.requestID; r != nil {
		b = appendMessageField(b, 15, func(m []byte) []byte {
			m = appendStringField(m, 1, r.clientID)
			m = appendVarintField(m, 2, uint64(r.seqNo))
			m = appendVarintField(m, 3, uint64(r.firstIncompleteSeqNo))
			return appendVarintField(m, 4, uint64(r.attemptNo))
		})
	}
	return b
}

// responseHeader is kudu.rpc.ResponseHeader.
type responseHeader struct {
	callID  int32
	isError bool
}

func parseResponseHeader(b []byte) (responseHeader, error) {
	var h responseHeader
	var haveID bool
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 1:
			h.callID, err = f.int32v()
			haveID = true
		case 2:
			h.isError, err = f.boolv()
		case 3:
			_, err = f.varints()
		}
		return err
	})
	if err == nil && !haveID {
		err = malformed("response header without call_id")
	}
	return h, err
}

// parseErrorStatus decodes an ErrorStatusPB.
func parseErrorStatus(b []byte) (*RPCError, error) {
	e := &RPCError{}
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 1:
			e.Message, err = f.str()
		case 2:
			var c int32
			c, err = f.int32v()
			e.Code = RPCErrorCode(c)
		case 3:
			var vs []uint64
			vs, err = f.varints()
			for _, v := range vs {
				e.UnsupportedFeatureFlags = append(e.UnsupportedFeatureFlags, uint32(v))
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// appendFrame appends one KRPC frame: 4-byte big-endian length of the rest,
// then the varint-delimited header and the varint-delimited body.
func appendFrame(b, header, body []byte) []byte {
	n := protowire.SizeBytes(len(header)) + protowire.SizeBytes(len(body))
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = protowire.AppendBytes(b, header)
	return protowire.AppendBytes(b, body)
}

// splitFrame splits the payload of a frame (without its 4-byte length) into
// the header and the main message. Sidecars after the main message are
// ignored (writes never use them).
func splitFrame(frame []byte) (header, body []byte, err error) {
	header, n := protowire.ConsumeBytes(frame)
	if n < 0 {
		return nil, nil, malformed("frame header: %v", protowire.ParseError(n))
	}
	body, m := protowire.ConsumeBytes(frame[n:])
	if m < 0 {
		return nil, nil, malformed("frame body: %v", protowire.ParseError(m))
	}
	return header, body, nil
}

// readFrame reads one frame's payload from r.
func readFrame(r io.Reader) ([]byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n > maxFrameBytes {
		return nil, malformed("frame of %d bytes exceeds limit %d", n, maxFrameBytes)
	}
	if n <= 1<<20 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, nil
	}
	// Large frame: grow as bytes arrive rather than trusting the length
	// prefix with one big allocation.
	var bb bytes.Buffer
	bb.Grow(1 << 20)
	if _, err := io.CopyN(&bb, r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bb.Bytes(), nil
}

// decodeResponse decodes a frame payload into its header and either the
// response body or the RPCError the server sent instead.
func decodeResponse(frame []byte) (responseHeader, []byte, error) {
	hb, body, err := splitFrame(frame)
	if err != nil {
		return responseHeader{}, nil, err
	}
	h, err := parseResponseHeader(hb)
	if err != nil {
		return h, nil, err
	}
	if h.isError {
		e, err := parseErrorStatus(body)
		if err != nil {
			return h, nil, err
		}
		return h, nil, e
	}
	return h, body, nil
}

// negotiatePB is the subset of kudu.rpc.NegotiatePB this client uses.
type negotiatePB struct {
	features   []uint64
	step       int32
	token      []byte
	mechanisms []string
	authnTypes []int // field number of the oneof member set: 1 sasl, 2 token, 3 certificate, 4 jwt
}

func (m *negotiatePB) marshal() []byte {
	var b []byte
	for _, f := range m.features {
		b = appendVarintField(b, 1, f)
	}
	b = appendInt32Field(b, 2, m.step)
	if m.token != nil {
		b = appendBytesField(b, 3, m.token)
	}
	for _, mech := range m.mechanisms {
		b = appendMessageField(b, 4, func(x []byte) []byte { return appendStringField(x, 2, mech) })
	}
	for _, t := range m.authnTypes {
		b = appendMessageField(b, 7, func(x []byte) []byte {
			return appendBytesField(x, protowire.Number(t), nil)
		})
	}
	return b
}

func parseNegotiate(b []byte) (*negotiatePB, error) {
	m := &negotiatePB{step: -1}
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 1:
			var vs []uint64
			vs, err = f.varints()
			m.features = append(m.features, vs...)
		case 2:
			m.step, err = f.int32v()
		case 3:
			m.token, err = f.bytes()
		case 4:
			var mb []byte
			if mb, err = f.bytes(); err != nil {
				return err
			}
			err = walkFields(mb, func(g field) error {
				if g.num == 2 {
					s, err := g.str()
					m.mechanisms = append(m.mechanisms, s)
					return err
				}
				return nil
			})
		case 7:
			var tb []byte
			if tb, err = f.bytes(); err != nil {
				return err
			}
			t := 0
			err = walkFields(tb, func(g field) error {
				t = int(g.num)
				return nil
			})
			m.authnTypes = append(m.authnTypes, t)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if m.step < 0 {
		return nil, malformed("NegotiatePB without step")
	}
	return m, nil
}

// saslPlainToken is the SASL PLAIN initial response: authzid (empty),
// NUL, authcid, NUL, password (RFC 4616).
func saslPlainToken(user, password string) []byte {
	return []byte("\x00" + user + "\x00" + password)
}

// conn is one negotiated KRPC connection. Calls are multiplexed: call ids
// strictly increase in the order requests are written, many calls can be
// in flight and responses are matched by call id in any order.
type conn struct {
	addr string
	nc   net.Conn

	wmu    sync.Mutex // serializes writes and call id assignment
	nextID int32
	wbuf   []byte

	mu      sync.Mutex
	pending map[int32]chan callResult
	err     error // set once the connection is dead
	done    chan struct{}
}

type callResult struct {
	body []byte
	err  error
}

// connConfig carries what a connection needs from the client options.
type connConfig struct {
	user, password string
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialConn connects to addr and negotiates the connection.
func dialConn(ctx context.Context, addr string, cfg connConfig) (*conn, error) {
	dial := cfg.dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnectionClosed, unprefixed(err)) // err names addr
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err = negotiate(nc, cfg.user, cfg.password)
	stopped := stop()
	if err == nil && !stopped {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil && !errors.Is(err, ErrUnsupportedSecurity) {
			return nil, errorf("negotiating with %s: %w", addr, ctx.Err())
		}
		return nil, errorf("negotiating with %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{
		addr:    addr,
		nc:      nc,
		pending: make(map[int32]chan callResult),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// negotiate runs the client side of connection negotiation: the connection
// header, NEGOTIATE, SASL_INITIATE with PLAIN, and the ConnectionContextPB.
func negotiate(rw io.ReadWriter, user, password string) error {
	br := bufio.NewReader(rw)
	out := []byte(connectionHeader)
	hdr := (&requestHeader{callID: negotiateCallID}).marshal(nil)
	out = appendFrame(out, hdr, negotiateRequest())
	if _, err := rw.Write(out); err != nil {
		return err
	}
	resp, err := readNegotiate(br)
	if err != nil {
		return err
	}
	if resp.step != stepNegotiate {
		return negotiationStepError(resp.step, "NEGOTIATE")
	}
	if len(resp.authnTypes) > 0 && resp.authnTypes[0] != 1 {
		names := map[int]string{2: "token", 3: "certificate", 4: "JWT"}
		n := names[resp.authnTypes[0]]
		if n == "" {
			n = fmt.Sprintf("unknown (%d)", resp.authnTypes[0])
		}
		return fmt.Errorf("%w: server chose %s authentication", ErrUnsupportedSecurity, n)
	}
	plain := false
	for _, m := range resp.mechanisms {
		if strings.EqualFold(m, "PLAIN") {
			plain = true
		}
	}
	if !plain {
		return fmt.Errorf("%w: server offers SASL mechanisms %v, not PLAIN (Kerberos/GSSAPI is not supported)",
			ErrUnsupportedSecurity, resp.mechanisms)
	}
	out = appendFrame(out[:0], hdr, saslInitiateRequest(user, password))
	if _, err := rw.Write(out); err != nil {
		return err
	}
	resp, err = readNegotiate(br)
	if err != nil {
		return err
	}
	if resp.step != stepSASLSuccess {
		return negotiationStepError(resp.step, "SASL_SUCCESS")
	}
	ctxHdr := (&requestHeader{callID: connectionContextCallID}).marshal(nil)
	out = appendFrame(out[:0], ctxHdr, nil) // empty ConnectionContextPB
	_, err = rw.Write(out)
	// Anything the server sent after SASL_SUCCESS would be lost in br; the
	// server sends nothing until the first call.
	if err == nil && br.Buffered() > 0 {
		err = malformed("unexpected %d bytes after SASL_SUCCESS", br.Buffered())
	}
	return err
}

// negotiateRequest is the client's NEGOTIATE step: feature
// APPLICATION_FEATURE_FLAGS (no TLS), SASL authentication, mechanism PLAIN.
func negotiateRequest() []byte {
	return (&negotiatePB{
		features:   []uint64{featureApplicationFeatureFlags},
		step:       stepNegotiate,
		mechanisms: []string{"PLAIN"},
		authnTypes: []int{1},
	}).marshal()
}

// saslInitiateRequest is the SASL_INITIATE step with the PLAIN token.
func saslInitiateRequest(user, password string) []byte {
	return (&negotiatePB{
		step:       stepSASLInitiate,
		token:      saslPlainToken(user, password),
		mechanisms: []string{"PLAIN"},
	}).marshal()
}

func negotiationStepError(step int32, want string) error {
	switch step {
	case stepTLSHandshake:
		return fmt.Errorf("%w: server started a TLS handshake", ErrUnsupportedSecurity)
	case stepTokenExchange, stepJWTExchange:
		return fmt.Errorf("%w: server asked for a token exchange", ErrUnsupportedSecurity)
	case stepSASLChallenge:
		return fmt.Errorf("%w: server sent a SASL challenge (PLAIN has none)", ErrUnsupportedSecurity)
	}
	return malformed("negotiation: got step %d, want %s", step, want)
}

func readNegotiate(r io.Reader) (*negotiatePB, error) {
	frame, err := readFrame(r)
	if err != nil {
		return nil, err
	}
	h, body, err := decodeResponse(frame)
	var re *RPCError
	if errors.As(err, &re) {
		if re.Code == RPCFatalUnauthorized || re.Code == RPCFatalInvalidAuthenticationToken ||
			re.Code == RPCFatalInvalidJWT {
			return nil, fmt.Errorf("%w: %w", ErrUnsupportedSecurity, unprefixed(re))
		}
		return nil, re
	}
	if err != nil {
		return nil, err
	}
	if h.callID != negotiateCallID {
		return nil, malformed("negotiation response has call_id %d", h.callID)
	}
	return parseNegotiate(body)
}

// readLoop reads responses and hands them to the waiting calls.
func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var err error
	for {
		var frame []byte
		frame, err = readFrame(br)
		if err != nil {
			break
		}
		h, body, derr := decodeResponse(frame)
		var re *RPCError
		if derr != nil && !errors.As(derr, &re) {
			err = derr // cannot tell which call it was for
			break
		}
		c.mu.Lock()
		ch := c.pending[h.callID]
		delete(c.pending, h.callID)
		c.mu.Unlock()
		if ch != nil {
			ch <- callResult{body: body, err: derr}
		}
		if re != nil && re.fatal() {
			err = re
			break
		}
	}
	c.fail(err)
}

// fail marks the connection dead and fails every pending call.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = fmt.Errorf("%w: %s: %w", ErrConnectionClosed, c.addr, unprefixed(err))
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
	for _, ch := range pending {
		ch <- callResult{err: c.err}
	}
}

// Close closes the connection; pending calls fail with ErrConnectionClosed.
func (c *conn) Close() error {
	c.fail(errors.New("closed by client"))
	return nil
}

// broken reports whether the connection can no longer be used.
func (c *conn) broken() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// call sends one request and waits for its response body. The ctx deadline
// becomes the request's timeout_millis.
func (c *conn) call(ctx context.Context, service, method string, req []byte, features []uint32, rid *requestID) ([]byte, error) {
	h := requestHeader{service: service, method: method, features: features, requestID: rid}
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms <= 0 {
			return nil, context.DeadlineExceeded
		}
		h.timeoutMillis = uint32(min(ms, 1<<31))
	}
	ch := make(chan callResult, 1)

	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, err
	}
	id := c.nextID
	c.nextID++
	if c.nextID < 0 { // wrapped: ids must keep increasing, so retire the connection
		c.nextID = 0
		c.mu.Unlock()
		c.wmu.Unlock()
		c.fail(errors.New("call ids exhausted"))
		return nil, c.err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	h.callID = id
	hb := h.marshal(nil)
	c.wbuf = appendFrame(c.wbuf[:0], hb, req)
	if len(c.wbuf)-4 > MaxMessageBytes {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, fmt.Errorf("kudu: request of %d bytes exceeds the %d-byte message limit", len(c.wbuf)-4, MaxMessageBytes)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetWriteDeadline(dl)
	} else {
		_ = c.nc.SetWriteDeadline(time.Time{})
	}
	_, werr := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // do not pin large buffers
	}
	c.wmu.Unlock()
	if werr != nil {
		c.fail(werr)
	}

	select {
	case r := <-ch:
		return r.body, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}
