package kudutest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"slices"
	"strconv"
	"time"
)

// This file is the server side of KRPC connection negotiation
// (rpc/server_negotiation.cc in Kudu, written here from its protocol):
// NEGOTIATE, a TLS handshake carried in TLS_HANDSHAKE messages when both
// sides support TLS, the trusted-subnets check, SASL PLAIN or GSSAPI, and
// the ConnectionContextPB.

// negotiatePB is a decoded NegotiatePB: supported_features=1, step=2,
// token=3, sasl_mechanisms=4 {mechanism=2}, tls_handshake=5,
// channel_bindings=6, authn_types=7 {sasl=1, token=2, certificate=3,
// jwt=4}, authn_token=8, nonce=9, jwt_raw=10.
type negotiatePB struct {
	features        []uint32
	step            int32
	hasStep         bool
	token           []byte
	hasToken        bool
	mechanisms      []string
	authnSASL       bool
	authnCount      int
	tlsHandshake    []byte
	hasTLSHandshake bool
	channelBindings []byte
	nonce           []byte
}

func decodeNegotiate(b []byte) (negotiatePB, error) {
	var n negotiatePB
	fs, err := parseFields(b)
	if err != nil {
		return n, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			if n.features, err = repeatedUint32(n.features, f); err != nil {
				return n, err
			}
		case 2:
			if n.step, err = f.int32v(); err != nil {
				return n, err
			}
			n.hasStep = true
		case 3:
			if n.token, err = f.bytes(); err != nil {
				return n, err
			}
			n.hasToken = true
		case 4:
			mb, err := f.bytes()
			if err != nil {
				return n, err
			}
			mfs, err := parseFields(mb)
			if err != nil {
				return n, err
			}
			mech, found := "", false
			for _, mf := range mfs {
				if mf.num == 2 {
					v, err := mf.bytes()
					if err != nil {
						return n, err
					}
					mech, found = string(v), true
				}
			}
			if !found {
				return n, errors.New("SaslMechanism without mechanism")
			}
			n.mechanisms = append(n.mechanisms, mech)
		case 5:
			if n.tlsHandshake, err = f.bytes(); err != nil {
				return n, err
			}
			n.hasTLSHandshake = true
		case 6:
			if n.channelBindings, err = f.bytes(); err != nil {
				return n, err
			}
		case 7:
			ab, err := f.bytes()
			if err != nil {
				return n, err
			}
			afs, err := parseFields(ab)
			if err != nil {
				return n, err
			}
			n.authnCount++
			for _, af := range afs {
				if af.num == 1 {
					n.authnSASL = true
				}
			}
		case 8, 10: // authn_token, jwt_raw: messages this server never accepts
			if _, err := f.bytes(); err != nil {
				return n, err
			}
		case 9:
			if n.nonce, err = f.bytes(); err != nil {
				return n, err
			}
		}
	}
	if !n.hasStep {
		return n, errors.New("NegotiatePB has no step")
	}
	return n, nil
}

// connectionContext is a decoded ConnectionContextPB:
// DEPRECATED_user_info=2 {effective_user=1, real_user=2 (required)},
// encoded_nonce=3.
type connectionContext struct {
	realUser     string
	encodedNonce []byte
	hasNonce     bool
}

func decodeConnectionContext(b []byte) (connectionContext, error) {
	var cc connectionContext
	fs, err := parseFields(b)
	if err != nil {
		return cc, err
	}
	for _, f := range fs {
		switch f.num {
		case 2:
			ub, err := f.bytes()
			if err != nil {
				return cc, err
			}
			ufs, err := parseFields(ub)
			if err != nil {
				return cc, err
			}
			hasReal := false
			for _, uf := range ufs {
				if uf.num == 1 || uf.num == 2 {
					v, err := uf.bytes()
					if err != nil {
						return cc, err
					}
					if uf.num == 2 {
						cc.realUser, hasReal = string(v), true
					}
				}
			}
			if !hasReal {
				return cc, errors.New("UserInformationPB without real_user")
			}
		case 3:
			if cc.encodedNonce, err = f.bytes(); err != nil {
				return cc, err
			}
			cc.hasNonce = true
		}
	}
	return cc, nil
}

// Messages of Kudu's refusals (server_negotiation.cc).
const (
	msgUnencryptedPublic     = "Not authorized: unencrypted connections from publicly routable IPs are prohibited. See --trusted_subnets flag for more information."
	msgUnauthenticatedPublic = "Not authorized: unauthenticated connections from publicly routable IPs are prohibited. See --trusted_subnets flag for more information."
)

// srvNegotiation is one connection's negotiation on the server side.
type srvNegotiation struct {
	s   *server
	sc  *srvConn
	raw *bufio.Reader // reads the socket
	r   io.Reader     // where negotiation messages come from: raw, then TLS
	tc  *tls.Conn     // after a TLS handshake
	rec Negotiation
}

// fail answers the client with an RPC error and returns it as an error.
func (ng *srvNegotiation) fail(code RPCErrorCode, msg string) error {
	ng.sc.sendError(negotiateCallID, &rpcError{code: code, msg: msg})
	return errors.New(msg)
}

// next reads one negotiation message.
func (ng *srvNegotiation) next() (negotiatePB, error) {
	payload, err := readFrame(ng.r, uint32(ng.s.c.cfg.maxMessage))
	if err != nil {
		return negotiatePB{}, err
	}
	h, body, err := parseFrame(payload)
	if err != nil {
		return negotiatePB{}, ng.fail(FatalInvalidRPCHeader, err.Error())
	}
	if h.callID != negotiateCallID {
		return negotiatePB{}, ng.fail(FatalInvalidRPCHeader, fmt.Sprintf("negotiation message has call id %d, want %d", h.callID, negotiateCallID))
	}
	n, err := decodeNegotiate(body)
	if err != nil {
		return n, ng.fail(FatalDeserializingRequest, "invalid NegotiatePB: "+err.Error())
	}
	return n, nil
}

// reply sends one negotiation message.
func (ng *srvNegotiation) reply(p *pb) error {
	return ng.sc.send(negotiateCallID, false, p.b)
}

// expect reads the next message, which must be step want.
func (ng *srvNegotiation) expect(want int32, name string) (negotiatePB, error) {
	n, err := ng.next()
	if err != nil {
		return n, err
	}
	if n.step != want {
		return n, ng.fail(FatalUnauthorized, fmt.Sprintf("Not authorized: expected %s step: %d", name, n.step))
	}
	return n, nil
}

// negotiate runs the server side of connection negotiation on the
// socket read through raw and returns the reader of the calls: raw, or
// TLS over it.
func (s *server) negotiate(sc *srvConn, raw *bufio.Reader) (io.Reader, error) {
	cfg, sec := &s.c.cfg, &s.c.sec
	ng := &srvNegotiation{s: s, sc: sc, raw: raw, r: raw}
	peer := sc.nc.RemoteAddr()
	ng.rec.Server, ng.rec.Peer = s.name(), peer.String()
	loopback := false
	if ta, ok := peer.(*net.TCPAddr); ok {
		loopback = ta.IP.IsLoopback()
	}

	// Step 1: NEGOTIATE.
	n, err := ng.expect(stepNegotiate, "NEGOTIATE")
	if err != nil {
		return nil, err
	}
	clientTLS := slices.Contains(n.features, featureTLS)
	clientAuthOnly := slices.Contains(n.features, featureTLSAuthOnly)
	if cfg.requireTLS && !clientTLS {
		return nil, ng.fail(FatalUnauthorized, "Not authorized: client does not support required TLS encryption")
	}
	if n.authnCount > 0 && !n.authnSASL {
		return nil, ng.fail(FatalUnauthorized, "Not supported: no mutually supported authentication types")
	}
	mechs := []string{"PLAIN"}
	if cfg.onlyGSSAPI || sec.keytab != nil {
		mechs = []string{"GSSAPI"}
	}
	serverAuthOnly := sec.tls != nil && cfg.authOnly && loopback
	var resp pb
	resp.varint(1, featureApplicationFlags)
	if sec.tls != nil {
		resp.varint(1, featureTLS)
	}
	if serverAuthOnly {
		resp.varint(1, featureTLSAuthOnly)
	}
	resp.int32f(2, stepNegotiate)
	for _, m := range mechs {
		resp.msg(4, func(q *pb) { q.str(2, m) })
	}
	resp.msg(7, func(q *pb) { q.msg(1, func(*pb) {}) })
	if err := ng.reply(&resp); err != nil {
		return nil, err
	}

	// Step 2: TLS, when both sides support it.
	if sec.tls != nil && clientTLS {
		if err := ng.handshakeTLS(serverAuthOnly && clientAuthOnly); err != nil {
			return nil, err
		}
	}
	// KUDU-1875: no unencrypted connection from an untrusted address. The
	// client's next message is read first, so that it gets the error.
	trusted := sec.trustedPeer(peer)
	if ng.tc == nil && !trusted {
		if _, err := ng.next(); err != nil {
			return nil, err
		}
		return nil, ng.fail(FatalUnauthorized, msgUnencryptedPublic+": "+peer.String())
	}

	// Step 3: SASL.
	if n, err = ng.expect(stepSASLInitiate, "SASL_INITIATE"); err != nil {
		return nil, err
	}
	if len(n.mechanisms) != 1 {
		return nil, ng.fail(FatalUnauthorized, fmt.Sprintf("Not authorized: SASL_INITIATE request must include exactly one SASL mechanism, found: %d", len(n.mechanisms)))
	}
	if n.mechanisms[0] != mechs[0] {
		return nil, ng.fail(FatalUnauthorized, fmt.Sprintf("Not authorized: unsupported SASL mechanism %q (server offers %s)", n.mechanisms[0], mechs[0]))
	}
	ng.rec.Mechanism = mechs[0]
	var acc *gssAcceptor
	var nonce []byte
	switch mechs[0] {
	case "PLAIN":
		if !trusted {
			return nil, ng.fail(FatalUnauthorized, msgUnauthenticatedPublic+": "+peer.String())
		}
		if err := ng.plain(n.token); err != nil {
			return nil, err
		}
	case "GSSAPI":
		if acc, nonce, err = ng.gssapi(n.token); err != nil {
			return nil, err
		}
	}

	// Step 4: the connection context.
	payload, err := readFrame(ng.r, uint32(cfg.maxMessage))
	if err != nil {
		return nil, err
	}
	h, body, err := parseFrame(payload)
	if err != nil {
		return nil, ng.fail(FatalInvalidRPCHeader, err.Error())
	}
	if h.callID != connContextCallID {
		return nil, ng.fail(FatalInvalidRPCHeader, fmt.Sprintf("Not authorized: expected ConnectionContext callid, received %d", h.callID))
	}
	cc, err := decodeConnectionContext(body)
	if err != nil {
		return nil, ng.fail(FatalDeserializingRequest, "Not authorized: invalid ConnectionContextPB message, missing fields: "+err.Error())
	}
	if nonce != nil {
		if !cc.hasNonce {
			return nil, ng.fail(FatalUnauthorized, "Not authorized: ConnectionContextPB wrapped nonce missing")
		}
		got, err := acc.saslDecode(cc.encodedNonce)
		if err != nil {
			return nil, ng.fail(FatalUnauthorized, "Not authorized: failed to decode nonce: "+err.Error())
		}
		if !bytes.Equal(got, nonce) {
			return nil, ng.fail(FatalUnauthorized, "Not authorized: nonce mismatch")
		}
		ng.rec.Nonce = true
	}
	s.c.mu.Lock()
	s.c.users = append(s.c.users, ng.rec.User)
	s.c.negotiations = append(s.c.negotiations, ng.rec)
	s.c.mu.Unlock()
	if ng.tc != nil && !ng.rec.AuthOnly {
		return ng.r, nil
	}
	return raw, nil
}

// plain checks a SASL PLAIN token (RFC 4616: authzid NUL authcid NUL
// passwd) and answers SASL_SUCCESS.
func (ng *srvNegotiation) plain(token []byte) error {
	cfg := &ng.s.c.cfg
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return ng.fail(FatalUnauthorized, "Not authorized: malformed SASL PLAIN token")
	}
	if cfg.checkCreds && (string(parts[1]) != cfg.user || string(parts[2]) != cfg.password) {
		return ng.fail(FatalUnauthorized, "Not authorized: PLAIN authentication failed for user "+strconv.Quote(string(parts[1])))
	}
	ng.rec.User = string(parts[1])
	var resp pb
	resp.int32f(2, stepSASLSuccess)
	return ng.reply(&resp)
}

// gssapi runs SASL GSSAPI after SASL_INITIATE carried token: the AP-REP
// challenge (answered with an empty response), the security layer offer
// (integrity, answered with the client's choice), then SASL_SUCCESS with a
// nonce and, over TLS, the channel bindings. It returns the context and
// the nonce the connection context must return.
func (ng *srvNegotiation) gssapi(token []byte) (*gssAcceptor, []byte, error) {
	sec := &ng.s.c.sec
	if sec.keytab == nil {
		return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: GSSAPI: this server has no Kerberos keytab (kudutest.WithKerberos)")
	}
	acc, aprep, err := sec.acceptGSS(token)
	if err != nil {
		return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: GSSAPI: "+err.Error())
	}
	challenge := func(tok []byte) ([]byte, error) {
		var p pb
		p.int32f(2, stepSASLChallenge)
		p.bytesf(3, tok)
		if err := ng.reply(&p); err != nil {
			return nil, err
		}
		n, err := ng.expect(stepSASLResponse, "SASL_RESPONSE")
		if err != nil {
			return nil, err
		}
		if !n.hasToken {
			return nil, ng.fail(FatalUnauthorized, "Not authorized: no token in SASL_RESPONSE from client")
		}
		return n.token, nil
	}
	if aprep != nil {
		if _, err := challenge(aprep); err != nil {
			return nil, nil, err
		}
	}
	offer, err := acc.wrap([]byte{saslLayerIntegrity, gssMaxBuffer >> 16, gssMaxBuffer >> 8 & 0xFF, gssMaxBuffer & 0xFF})
	if err != nil {
		return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: GSSAPI: "+err.Error())
	}
	answer, err := challenge(offer)
	if err != nil {
		return nil, nil, err
	}
	choice, err := acc.unwrap(answer)
	if err != nil {
		return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: GSSAPI: security layer answer: "+err.Error())
	}
	layer, _, authz, err := decodeLayerChoice(choice)
	if err != nil {
		return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: GSSAPI: "+err.Error())
	}
	if layer != saslLayerIntegrity {
		return nil, nil, ng.fail(FatalUnauthorized, fmt.Sprintf("Not authorized: GSSAPI: the client chose SASL security layer %#x; integrity protection (%#x) is required", layer, saslLayerIntegrity))
	}
	if authz != "" && authz != acc.client {
		return nil, nil, ng.fail(FatalUnauthorized, fmt.Sprintf("Not authorized: GSSAPI: %s may not act as %q", acc.client, authz))
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	var resp pb
	resp.int32f(2, stepSASLSuccess)
	if ng.tc != nil {
		cb, err := channelBindings(sec.leaf)
		if err != nil {
			return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: channel bindings: "+err.Error())
		}
		if ng.s.c.cfg.badBindings {
			cb[0]++
		}
		enc, err := acc.saslEncode(cb)
		if err != nil {
			return nil, nil, ng.fail(FatalUnauthorized, "Not authorized: GSSAPI: "+err.Error())
		}
		resp.bytesf(6, enc)
		ng.rec.ChannelBindings = true
	}
	resp.bytesf(9, nonce)
	if err := ng.reply(&resp); err != nil {
		return nil, nil, err
	}
	ng.rec.User = acc.client
	return acc, nonce, nil
}

// channelBindings returns the tls-server-end-point channel bindings of
// the server's certificate (RFC 5929 section 4.1).
func channelBindings(cert *x509.Certificate) ([]byte, error) {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil, fmt.Errorf("no tls-server-end-point hash for signature algorithm %v", cert.SignatureAlgorithm)
	}
	h.Write(cert.Raw)
	return h.Sum(nil), nil
}

// handshakeTLS runs the server's TLS handshake in TLS_HANDSHAKE
// messages. With authOnly, the negotiation and the calls then stay in
// plaintext.
func (ng *srvNegotiation) handshakeTLS(authOnly bool) error {
	p := &tlsPipe{
		nc:          ng.sc.nc,
		r:           ng.raw,
		handshaking: true,
		send: func(b []byte) error {
			var m pb
			m.int32f(2, stepTLSHandshake)
			m.bytesf(5, b)
			return ng.reply(&m)
		},
		recv: func() ([]byte, error) {
			n, err := ng.expect(stepTLSHandshake, "TLS_HANDSHAKE")
			if err != nil {
				return nil, err
			}
			if !n.hasTLSHandshake {
				return nil, ng.fail(FatalUnauthorized, "Not authorized: No TLS handshake token in TLS_HANDSHAKE request from client")
			}
			return n.tlsHandshake, nil
		},
	}
	tc := tls.Server(p, ng.s.c.sec.tls)
	if err := tc.Handshake(); err != nil {
		if p.err != nil {
			return p.err
		}
		return ng.fail(FatalUnauthorized, "Not authorized: TLS Handshake error: "+err.Error())
	}
	st := tc.ConnectionState()
	// What the handshake wrote after the client's last message: in TLS
	// 1.2 the server's last flight, a TLS_HANDSHAKE message the client
	// waits for; in TLS 1.3 data after the handshake (session tickets),
	// which Kudu writes on the socket ahead of the TLS stream.
	rest := p.out
	p.out, p.handshaking = nil, false
	if len(rest) > 0 {
		if st.Version == tls.VersionTLS13 {
			if !authOnly {
				if _, err := ng.sc.nc.Write(rest); err != nil {
					return err
				}
			}
		} else if err := p.send(rest); err != nil {
			return err
		}
	}
	ng.tc = tc
	ng.rec.TLS, ng.rec.TLSVersion, ng.rec.AuthOnly = true, st.Version, authOnly
	if !authOnly {
		ng.r = bufio.NewReader(tc)
		ng.sc.wmu.Lock()
		ng.sc.w = tc
		ng.sc.wmu.Unlock()
	} else {
		p.in = nil
	}
	return nil
}

// tlsPipe is the net.Conn under the server's tls.Conn: during the
// handshake, TLS records travel in TLS_HANDSHAKE messages (what the
// handshake writes is sent when it next reads); afterwards it reads and
// writes the socket.
type tlsPipe struct {
	nc          net.Conn
	r           io.Reader
	send        func([]byte) error
	recv        func() ([]byte, error)
	handshaking bool
	in, out     []byte
	err         error // the first failure of send or recv
}

// Read implements net.Conn.
func (p *tlsPipe) Read(b []byte) (int, error) {
	if len(p.in) == 0 {
		if !p.handshaking {
			return p.r.Read(b)
		}
		if len(p.out) > 0 {
			out := p.out
			p.out = nil
			if err := p.send(out); err != nil {
				p.err = err
				return 0, err
			}
		}
		in, err := p.recv()
		if err == nil && len(in) == 0 {
			err = errors.New("empty TLS_HANDSHAKE message")
		}
		if err != nil {
			p.err = err
			return 0, err
		}
		p.in = in
	}
	n := copy(b, p.in)
	p.in = p.in[n:]
	return n, nil
}

// Write implements net.Conn.
func (p *tlsPipe) Write(b []byte) (int, error) {
	if p.handshaking {
		p.out = append(p.out, b...)
		return len(b), nil
	}
	return p.nc.Write(b)
}

// Close implements net.Conn.
func (p *tlsPipe) Close() error { return p.nc.Close() }

// LocalAddr implements net.Conn.
func (p *tlsPipe) LocalAddr() net.Addr { return p.nc.LocalAddr() }

// RemoteAddr implements net.Conn.
func (p *tlsPipe) RemoteAddr() net.Addr { return p.nc.RemoteAddr() }

// SetDeadline implements net.Conn.
func (p *tlsPipe) SetDeadline(t time.Time) error { return p.nc.SetDeadline(t) }

// SetReadDeadline implements net.Conn.
func (p *tlsPipe) SetReadDeadline(t time.Time) error { return p.nc.SetReadDeadline(t) }

// SetWriteDeadline implements net.Conn.
func (p *tlsPipe) SetWriteDeadline(t time.Time) error { return p.nc.SetWriteDeadline(t) }
