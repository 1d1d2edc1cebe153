package kudu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
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
	// ErrUnsupportedSecurity is wrapped by the errors of connections whose
	// security settings do not match the server's: the server requires TLS
	// or Kerberos and the client is not configured for it, the client
	// requires them and the server does not offer them, the server chose
	// token, certificate or JWT authentication (not implemented), or the
	// server refuses the client's address (--trusted_subnets). Such errors
	// are not retried.
	ErrUnsupportedSecurity = errors.New("kudu: security settings do not match the server's")

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

// AuthenticationTypePB members (the oneof's field numbers).
const (
	authnSASL        = 1
	authnToken       = 2
	authnCertificate = 3
	authnJWT         = 4
)

// negotiatePB is the subset of kudu.rpc.NegotiatePB this client uses:
// supported_features=1, step=2, token=3, sasl_mechanisms=4
// {mechanism=2}, tls_handshake=5, channel_bindings=6, authn_types=7
// (AuthenticationTypePB, a oneof of empty messages), nonce=9.
type negotiatePB struct {
	features        []uint64
	step            int32
	token           []byte // nil: absent
	mechanisms      []string
	authnTypes      []int  // field number of the oneof member set: authnSASL...
	tlsHandshake    []byte // nil: absent
	channelBindings []byte // nil: absent
	nonce           []byte // nil: absent
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
	if m.tlsHandshake != nil {
		b = appendBytesField(b, 5, m.tlsHandshake)
	}
	if m.channelBindings != nil {
		b = appendBytesField(b, 6, m.channelBindings)
	}
	for _, t := range m.authnTypes {
		b = appendMessageField(b, 7, func(x []byte) []byte {
			return appendBytesField(x, protowire.Number(t), nil)
		})
	}
	if m.nonce != nil {
		b = appendBytesField(b, 9, m.nonce)
	}
	return b
}

func parseNegotiate(b []byte) (*negotiatePB, error) {
	m := &negotiatePB{step: -1}
	nonNil := func(v []byte, err error) ([]byte, error) {
		if err == nil && v == nil {
			v = []byte{}
		}
		return v, err
	}
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
			m.token, err = nonNil(f.bytes())
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
		case 5:
			m.tlsHandshake, err = nonNil(f.bytes())
		case 6:
			m.channelBindings, err = nonNil(f.bytes())
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
		case 9:
			m.nonce, err = nonNil(f.bytes())
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
	role           string // "master", "tablet server": how errors name the peer
	user, password string
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	tls            *tls.Config // nil with tlsOff
	tlsMode        tlsMode
	tlsAuthOnly    bool
	krb            *client.Client // nil: SASL PLAIN
	krbService     string
	authClock      *authClock // the Client's: authenticator times never repeat
}

func (cfg *connConfig) krbServiceName() string {
	if cfg.krbService == "" {
		return DefaultKerberosService
	}
	return cfg.krbService
}

// krbPrincipal names the client's Kerberos principal, name@REALM.
func (cfg *connConfig) krbPrincipal() string {
	if cfg.krb == nil || cfg.krb.Credentials == nil {
		return "(none)"
	}
	return cfg.krb.Credentials.UserName() + "@" + cfg.krb.Credentials.Domain()
}

// dialConn connects to addr and negotiates the connection.
func dialConn(ctx context.Context, addr string, cfg connConfig) (*conn, error) {
	role := cfg.role
	if role == "" {
		role = "server"
	}
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
	cc, err := negotiate(ctx, nc, addr, cfg)
	stopped := stop()
	if err == nil && !stopped {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil && !securityError(err) {
			return nil, errorf("%s %s: negotiation: %w", role, addr, ctx.Err())
		}
		return nil, errorf("%s %s: %w", role, addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{
		addr:    addr,
		nc:      cc,
		pending: make(map[int32]chan callResult),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
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
