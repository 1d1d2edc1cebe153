package kudu

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// This file is the client side of KRPC connection negotiation
// (rpc/client_negotiation.cc in Kudu, described here from its protocol):
//
//  1. The connection header, then NEGOTIATE: the client's RPC features
//     (APPLICATION_FEATURE_FLAGS, TLS when it offers TLS,
//     TLS_AUTHENTICATION_ONLY on loopback when asked), its authentication
//     type (SASL) and SASL mechanisms. The server answers with its
//     features, the authentication type it chose and its mechanisms.
//  2. When both sides support TLS: TLS_HANDSHAKE messages carry the TLS
//     records both ways until the handshake completes. From then on the
//     negotiation messages and the calls go through TLS, unless both sides
//     advertised TLS_AUTHENTICATION_ONLY, in which case they stay in
//     plaintext on the socket.
//  3. SASL: PLAIN (SASL_INITIATE, SASL_SUCCESS) or GSSAPI (gssapi.go).
//  4. The ConnectionContextPB (call id -3), which gets no answer; with
//     GSSAPI it returns the server's nonce, integrity-protected.

// featureTLSAuthOnly is RpcFeatureFlag TLS_AUTHENTICATION_ONLY.
const featureTLSAuthOnly = 3

// SASL mechanism names.
const (
	mechPLAIN  = "PLAIN"
	mechGSSAPI = "GSSAPI"
)

// negotiation is the client's side of one connection's negotiation.
type negotiation struct {
	ctx  context.Context
	cfg  connConfig
	host string // the host dialled: TLS server name and Kerberos principal

	nc net.Conn      // the socket
	br *bufio.Reader // reads nc

	// Negotiation messages go to w and come from r: the socket, then TLS.
	w   io.Writer
	r   *bufio.Reader
	hdr []byte // RequestHeader of call -33
	buf []byte

	clientFeatures []uint64
	serverFeatures []uint64
	tc             *tls.Conn // after a TLS handshake
	authOnly       bool      // TLS for authentication only: plaintext after the handshake
}

// negotiate runs the client side of connection negotiation on nc, whose
// peer is addr, and returns the connection the calls use: nc, or TLS over
// it.
func negotiate(ctx context.Context, nc net.Conn, addr string, cfg connConfig) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	n := &negotiation{ctx: ctx, cfg: cfg, host: host, nc: nc, br: bufio.NewReader(nc)}
	n.w, n.r = nc, n.br
	n.hdr = (&requestHeader{callID: negotiateCallID}).marshal(nil)
	return n.run()
}

func (n *negotiation) run() (net.Conn, error) {
	cfg := &n.cfg
	n.clientFeatures = []uint64{featureApplicationFeatureFlags}
	if cfg.tlsMode != tlsOff {
		n.clientFeatures = append(n.clientFeatures, featureTLS)
		if cfg.tlsAuthOnly && isLoopback(n.nc.RemoteAddr()) {
			n.clientFeatures = append(n.clientFeatures, featureTLSAuthOnly)
		}
	}
	mech := mechPLAIN
	if cfg.krb != nil {
		mech = mechGSSAPI
	}
	n.buf = append(n.buf[:0], connectionHeader...)
	if err := n.send(&negotiatePB{
		features:   n.clientFeatures,
		step:       stepNegotiate,
		mechanisms: []string{mech},
		authnTypes: []int{authnSASL},
	}); err != nil {
		return nil, err
	}
	resp, err := n.recv(stepNegotiate)
	if err != nil {
		return nil, err
	}
	n.serverFeatures = resp.features
	serverTLS := slices.Contains(n.serverFeatures, featureTLS)
	if cfg.tlsMode == tlsRequired && !serverTLS {
		return nil, securityErrorf(ErrUnsupportedSecurity, nil,
			"does not offer TLS, which this client requires (the server needs --rpc_encryption and a certificate)")
	}
	if len(resp.authnTypes) > 0 && resp.authnTypes[0] != authnSASL {
		names := map[int]string{authnToken: "token", authnCertificate: "certificate", authnJWT: "JWT"}
		name := names[resp.authnTypes[0]]
		if name == "" {
			name = fmt.Sprintf("unknown (%d)", resp.authnTypes[0])
		}
		return nil, securityErrorf(ErrUnsupportedSecurity, nil,
			"chose %s authentication, which this client does not implement (it authenticates with SASL)", name)
	}
	if err := n.checkMechanism(mech, resp.mechanisms); err != nil {
		return nil, err
	}

	// Get the Kerberos ticket before the TLS handshake, so that a failure
	// to get one is reported as such.
	var gss *gssClient
	if mech == mechGSSAPI {
		if gss, err = newGSSClient(n.ctx, cfg.krb, cfg.authClock, cfg.krbServiceName(), n.host); err != nil {
			return nil, err
		}
	}
	if cfg.tlsMode != tlsOff && serverTLS {
		if err := n.handshakeTLS(); err != nil {
			return nil, err
		}
	}
	var nonce []byte
	switch mech {
	case mechPLAIN:
		err = n.authPlain()
	case mechGSSAPI:
		nonce, err = n.authGSSAPI(gss)
	}
	if err != nil {
		return nil, err
	}
	// ConnectionContextPB {encoded_nonce=3}: empty with PLAIN.
	var cc []byte
	if nonce != nil {
		enc, err := gss.saslEncode(nonce)
		if err != nil {
			return nil, fmt.Errorf("encoding the server's nonce: %w", err)
		}
		cc = appendBytesField(cc, 3, enc)
	}
	ctxHdr := (&requestHeader{callID: connectionContextCallID}).marshal(nil)
	n.buf = appendFrame(n.buf[:0], ctxHdr, cc)
	if _, err := n.w.Write(n.buf); err != nil {
		return nil, err
	}
	// Anything the server sent after SASL_SUCCESS would be lost in the
	// negotiation's buffers; the server sends nothing until the first call.
	if n.r.Buffered() > 0 || (n.tc == nil && n.br.Buffered() > 0) {
		return nil, malformed("unexpected bytes after SASL_SUCCESS")
	}
	if n.tc != nil && !n.authOnly {
		return n.tc, nil
	}
	return n.nc, nil
}

// checkMechanism checks that the server offers the client's SASL
// mechanism, and words the refusal as Kudu's clients do when it does not.
func (n *negotiation) checkMechanism(mech string, offered []string) error {
	has := func(m string) bool {
		return slices.ContainsFunc(offered, func(o string) bool { return strings.EqualFold(o, m) })
	}
	if has(mech) {
		return nil
	}
	list := strings.Join(offered, ", ")
	if list == "" {
		list = "none"
	}
	if mech == mechPLAIN && has(mechGSSAPI) {
		return securityErrorf(ErrUnsupportedSecurity, nil,
			"requires Kerberos authentication (SASL GSSAPI), and this client has no Kerberos credentials: configure a Kerberos principal with its keytab or ticket cache")
	}
	if mech == mechGSSAPI {
		return securityErrorf(ErrUnsupportedSecurity, nil,
			"does not offer Kerberos authentication (SASL mechanisms offered: %s), which this client requires: the server does not have Kerberos enabled", list)
	}
	return securityErrorf(ErrUnsupportedSecurity, nil, "offers SASL mechanisms %s, not %s", list, mech)
}

// authPlain runs SASL PLAIN: SASL_INITIATE with the token, SASL_SUCCESS.
func (n *negotiation) authPlain() error {
	if err := n.send(saslInitiateRequest(n.cfg.user, n.cfg.password)); err != nil {
		return err
	}
	_, err := n.recvAuth(mechPLAIN, stepSASLSuccess)
	return err
}

// saslInitiateRequest is the SASL_INITIATE step with the PLAIN token.
func saslInitiateRequest(user, password string) *negotiatePB {
	return &negotiatePB{
		step:       stepSASLInitiate,
		token:      saslPlainToken(user, password),
		mechanisms: []string{mechPLAIN},
	}
}

// authGSSAPI runs SASL GSSAPI (RFC 4752) as Kudu's servers run it through
// Cyrus SASL: SASL_INITIATE with the AP-REQ; a SASL_CHALLENGE with the
// server's AP-REP, answered with an empty SASL_RESPONSE; a SASL_CHALLENGE
// with the wrapped security layer offer, answered with the wrapped choice;
// SASL_SUCCESS with the nonce and, over TLS, the channel bindings. It
// returns the nonce to send back.
func (n *negotiation) authGSSAPI(g *gssClient) ([]byte, error) {
	tok, err := g.initialToken()
	if err != nil {
		return nil, securityErrorf(ErrAuthentication, err, "Kerberos: building the AP-REQ for %s", g.spn)
	}
	if err := n.send(&negotiatePB{step: stepSASLInitiate, token: tok, mechanisms: []string{mechGSSAPI}}); err != nil {
		return nil, err
	}
	resp, err := n.recvAuth(mechGSSAPI, stepSASLChallenge)
	if err != nil {
		return nil, err
	}
	if err := g.acceptAPRep(resp.token); err != nil {
		return nil, securityErrorf(ErrAuthentication, err, "failed Kerberos mutual authentication as %s", g.spn)
	}
	if err := n.send(&negotiatePB{step: stepSASLResponse, token: []byte{}}); err != nil {
		return nil, err
	}
	if resp, err = n.recvAuth(mechGSSAPI, stepSASLChallenge); err != nil {
		return nil, err
	}
	reply, err := g.securityLayer(resp.token)
	if err != nil {
		return nil, securityErrorf(ErrAuthentication, err, "Kerberos: SASL security layer negotiation")
	}
	if err := n.send(&negotiatePB{step: stepSASLResponse, token: reply}); err != nil {
		return nil, err
	}
	if resp, err = n.recvAuth(mechGSSAPI, stepSASLSuccess); err != nil {
		return nil, err
	}
	if n.tc != nil {
		if err := n.checkChannelBindings(g, resp); err != nil {
			return nil, err
		}
	}
	return resp.nonce, nil
}

// checkChannelBindings checks that the server's channel bindings, which it
// integrity-protected with the Kerberos context, are those of the
// certificate the TLS handshake saw: then the TLS channel ends at the
// server that holds the Kerberos service key, not at a man in the middle.
func (n *negotiation) checkChannelBindings(g *gssClient, resp *negotiatePB) error {
	if resp.channelBindings == nil {
		return securityErrorf(ErrAuthentication, nil, "sent no channel bindings for the TLS connection")
	}
	got, err := g.saslDecode(resp.channelBindings)
	if err != nil {
		return securityErrorf(ErrAuthentication, err, "sent channel bindings that do not verify")
	}
	certs := n.tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return securityErrorf(ErrAuthentication, nil, "sent no TLS certificate")
	}
	want, err := tlsServerEndPoint(certs[0])
	if err != nil {
		return securityErrorf(ErrAuthentication, err, "channel bindings")
	}
	if string(got) != string(want) {
		return securityErrorf(ErrAuthentication, nil,
			"sent channel bindings that do not match its TLS certificate: the TLS connection may not end at the Kerberos service (a man in the middle?)")
	}
	return nil
}

// handshakeTLS runs the TLS handshake inside TLS_HANDSHAKE messages.
func (n *negotiation) handshakeTLS() error {
	cfg := n.cfg.tls.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = n.host
	}
	hc := &tlsCarrier{
		nc:          n.nc,
		r:           n.br,
		handshaking: true,
		send: func(b []byte) error {
			return n.send(&negotiatePB{step: stepTLSHandshake, tlsHandshake: b})
		},
		recv: func() ([]byte, error) {
			m, err := n.recv(stepTLSHandshake)
			if err != nil {
				return nil, err
			}
			if m.tlsHandshake == nil {
				return nil, malformed("TLS_HANDSHAKE message without tls_handshake")
			}
			return m.tlsHandshake, nil
		},
	}
	tc := tls.Client(hc, cfg)
	if err := tc.HandshakeContext(n.ctx); err != nil {
		if hc.err != nil { // the carrier failed: the server's error, or the socket's
			return hc.err
		}
		_ = hc.flush() // the alert, if any, so that the server can log why
		return tlsHandshakeError(err, cfg.ServerName)
	}
	// The client's last flight (its Finished in TLS 1.3) goes in one more
	// TLS_HANDSHAKE message.
	if err := hc.flush(); err != nil {
		return err
	}
	hc.handshaking = false
	n.tc = tc
	n.authOnly = slices.Contains(n.clientFeatures, featureTLSAuthOnly) &&
		slices.Contains(n.serverFeatures, featureTLSAuthOnly)
	if n.authOnly {
		hc.in = nil // e.g. TLS 1.3 session tickets: nobody reads TLS records any more
		return nil
	}
	n.w, n.r = tc, bufio.NewReader(tc)
	return nil
}

// tlsHandshakeError words a failed TLS handshake.
func tlsHandshakeError(err error, serverName string) error {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var alert tls.AlertError
	switch {
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return securityErrorf(ErrAuthentication, err, "TLS: the server's certificate is not trusted (server name %q)", serverName)
	case errors.As(err, &alert):
		return securityErrorf(ErrAuthentication, err, "TLS: the server refused the handshake")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		return fmt.Errorf("TLS handshake: %w", err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	return securityErrorf(ErrUnsupportedSecurity, err, "TLS handshake failed")
}

// send writes one negotiation message (after whatever n.buf holds: the
// connection header before NEGOTIATE).
func (n *negotiation) send(m *negotiatePB) error {
	n.buf = appendFrame(n.buf, n.hdr, m.marshal())
	_, err := n.w.Write(n.buf)
	n.buf = n.buf[:0]
	return err
}

// recv reads one negotiation message, which must be step want. A server's
// refusal is returned as a securityErr wrapping the *RPCError.
func (n *negotiation) recv(want int32) (*negotiatePB, error) {
	frame, err := readFrame(n.r)
	if err != nil {
		return nil, err
	}
	h, body, err := decodeResponse(frame)
	var re *RPCError
	if errors.As(err, &re) {
		return nil, n.refusal(re, want)
	}
	if err != nil {
		return nil, err
	}
	if h.callID != negotiateCallID {
		return nil, malformed("negotiation response has call_id %d", h.callID)
	}
	m, err := parseNegotiate(body)
	if err != nil {
		return nil, err
	}
	if m.step != want {
		return nil, negotiationStepError(m.step, stepName(want))
	}
	return m, nil
}

// recvAuth is recv during SASL authentication with mech.
func (n *negotiation) recvAuth(mech string, want int32) (*negotiatePB, error) {
	m, err := n.recv(want)
	var se *securityErr
	var re *RPCError
	if errors.As(err, &se) && errors.As(err, &re) && se.kind == ErrUnsupportedSecurity && !se.subnets {
		// The server refused the credentials.
		what := "SASL " + mech + " authentication"
		if mech == mechGSSAPI {
			what = "Kerberos authentication of " + n.cfg.krbPrincipal()
		} else if n.cfg.user != "" {
			what += " of user " + n.cfg.user
		}
		return nil, securityErrorf(ErrAuthentication, re, "refused %s", what)
	}
	return m, err
}

// refusal words an RPC error the server answered a negotiation message
// with.
func (n *negotiation) refusal(re *RPCError, step int32) error {
	switch {
	case re.Code != RPCFatalUnauthorized && re.Code != RPCFatalInvalidAuthenticationToken && re.Code != RPCFatalInvalidJWT:
		return re
	case strings.Contains(re.Message, "trusted_subnets"):
		e := securityErrorf(ErrUnsupportedSecurity, re,
			"refuses unencrypted or unauthenticated connections from this client's address, which is not in its --trusted_subnets (KUDU-1875): connect with TLS and Kerberos, or from a trusted network")
		e.(*securityErr).subnets = true
		return e
	case step == stepNegotiate && strings.Contains(re.Message, "TLS"):
		return securityErrorf(ErrUnsupportedSecurity, re, "requires TLS, which this client does not use")
	}
	return securityErrorf(ErrUnsupportedSecurity, re, "refused the connection during %s", stepName(step))
}

func stepName(step int32) string {
	switch step {
	case stepSASLSuccess:
		return "SASL_SUCCESS"
	case stepNegotiate:
		return "NEGOTIATE"
	case stepSASLInitiate:
		return "SASL_INITIATE"
	case stepSASLChallenge:
		return "SASL_CHALLENGE"
	case stepSASLResponse:
		return "SASL_RESPONSE"
	case stepTLSHandshake:
		return "TLS_HANDSHAKE"
	case stepTokenExchange:
		return "TOKEN_EXCHANGE"
	case stepJWTExchange:
		return "JWT_EXCHANGE"
	}
	return fmt.Sprintf("step %d", step)
}

func negotiationStepError(step int32, want string) error {
	switch step {
	case stepTLSHandshake:
		return securityErrorf(ErrUnsupportedSecurity, nil, "started a TLS handshake, which this client did not offer")
	case stepTokenExchange, stepJWTExchange:
		return securityErrorf(ErrUnsupportedSecurity, nil, "asked for a %s, which this client does not implement", stepName(step))
	case stepSASLChallenge:
		return securityErrorf(ErrUnsupportedSecurity, nil, "sent a SASL challenge, which %s does not have", want)
	}
	return malformed("negotiation: got step %s, want %s", stepName(step), want)
}

// securityErr is a negotiation failure on the client's or the server's
// security settings. It wraps its kind (ErrUnsupportedSecurity or
// ErrAuthentication) and its cause, but its message is only what happened.
type securityErr struct {
	kind    error
	msg     string
	cause   error
	subnets bool // the server's --trusted_subnets refusal
}

func securityErrorf(kind, cause error, format string, args ...any) error {
	return &securityErr{kind: kind, cause: cause, msg: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *securityErr) Error() string {
	if e.cause == nil {
		return e.msg
	}
	return e.msg + ": " + unprefixed(e.cause).Error()
}

// Unwrap returns the kind and the cause.
func (e *securityErr) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// isLoopback reports whether a is a loopback TCP address.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// tlsCarrier is the net.Conn under the client's tls.Conn. During the
// handshake it carries the TLS records in TLS_HANDSHAKE messages: what
// crypto/tls writes is collected and sent as one message when it next
// reads (or when the handshake ends), and what it reads comes from the
// server's messages. After the handshake it reads the socket (through the
// negotiation's buffer, which may hold TLS records already) and writes to
// it.
type tlsCarrier struct {
	nc          net.Conn
	r           io.Reader
	send        func([]byte) error
	recv        func() ([]byte, error)
	handshaking bool
	in, out     []byte
	err         error // the first failure of send or recv
}

// Read implements net.Conn.
func (h *tlsCarrier) Read(p []byte) (int, error) {
	if len(h.in) > 0 {
		n := copy(p, h.in)
		h.in = h.in[n:]
		return n, nil
	}
	if !h.handshaking {
		return h.r.Read(p)
	}
	if err := h.flush(); err != nil {
		return 0, err
	}
	tok, err := h.recv()
	if err == nil && len(tok) == 0 {
		err = malformed("empty TLS_HANDSHAKE message")
	}
	if err != nil {
		h.err = err
		return 0, err
	}
	h.in = tok
	n := copy(p, h.in)
	h.in = h.in[n:]
	return n, nil
}

// Write implements net.Conn.
func (h *tlsCarrier) Write(p []byte) (int, error) {
	if h.handshaking {
		h.out = append(h.out, p...)
		return len(p), nil
	}
	return h.nc.Write(p)
}

// flush sends what the handshake wrote since it last read.
func (h *tlsCarrier) flush() error {
	if len(h.out) == 0 {
		return nil
	}
	out := h.out
	h.out = nil
	if err := h.send(out); err != nil {
		h.err = err
		return err
	}
	return nil
}

// Close implements net.Conn.
func (h *tlsCarrier) Close() error { return h.nc.Close() }

// LocalAddr implements net.Conn.
func (h *tlsCarrier) LocalAddr() net.Addr { return h.nc.LocalAddr() }

// RemoteAddr implements net.Conn.
func (h *tlsCarrier) RemoteAddr() net.Addr { return h.nc.RemoteAddr() }

// SetDeadline implements net.Conn.
func (h *tlsCarrier) SetDeadline(t time.Time) error { return h.nc.SetDeadline(t) }

// SetReadDeadline implements net.Conn.
func (h *tlsCarrier) SetReadDeadline(t time.Time) error { return h.nc.SetReadDeadline(t) }

// SetWriteDeadline implements net.Conn.
func (h *tlsCarrier) SetWriteDeadline(t time.Time) error { return h.nc.SetWriteDeadline(t) }
