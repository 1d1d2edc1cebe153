package hdfstest

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Hadoop SASL constants (org.apache.hadoop.security.SaslRpcServer and
// RFC 4752).
const (
	pbRPCSasl     = "hadoop.common.RpcSaslProto"
	pbRPCSaslAuth = "hadoop.common.RpcSaslProto.SaslAuth"

	methodKerberos = "KERBEROS"
	mechGSSAPI     = "GSSAPI"

	// qopAuth is the RFC 4752 security-layer bit of "no security layer"
	// (Hadoop's QOP "authentication"), the only one offered.
	qopAuth = 0x01
	// saslMaxBuffer is the maximum message size announced with it.
	saslMaxBuffer = 1 << 16

	// gssChecksumType is the authenticator checksum type of RFC 4121
	// 4.1.1, whose flags ask for mutual authentication.
	gssChecksumType = 0x8003
)

// kerberosConfig is the NameNode's Kerberos identity (WithKerberos).
type kerberosConfig struct {
	keytabPath string
	principal  string // nn/127.0.0.1@REALM
	kt         *keytab.Keytab
	protocol   string // the first component: "nn"
	serverID   string // the second: "127.0.0.1"
	realm      string
}

// WithKerberos makes the NameNode a Kerberized one
// (hadoop.security.authentication=kerberos): every client must
// authenticate with SASL GSSAPI against the service principal (such as
// "nn/127.0.0.1@REALM", dfs.namenode.kerberos.principal) whose keys are in
// the keytab at keytabPath. A client that connects with SIMPLE
// authentication is refused as Hadoop refuses it. The user of an
// authenticated connection is the short name of the client's principal
// ("alice" for alice@REALM or alice/host@REALM); principals of other realms
// are refused. See the package documentation for what is implemented.
func WithKerberos(keytabPath, principal string) Option {
	return func(c *config) { c.krb = &kerberosConfig{keytabPath: keytabPath, principal: principal} }
}

// load reads the keytab and splits the principal.
func (k *kerberosConfig) load() error {
	name, realm, ok := strings.Cut(k.principal, "@")
	proto, host, ok2 := strings.Cut(name, "/")
	if !ok || !ok2 || realm == "" || proto == "" || host == "" || strings.Contains(host, "/") {
		return fmt.Errorf("hdfstest: Kerberos principal %q: want service/host@REALM", k.principal)
	}
	b, err := os.ReadFile(k.keytabPath)
	if err != nil {
		return fmt.Errorf("hdfstest: NameNode keytab: %w", err)
	}
	kt := keytab.New()
	if err := safely(func() error { return kt.Unmarshal(b) }); err != nil {
		return fmt.Errorf("hdfstest: NameNode keytab %s: %w", k.keytabPath, err)
	}
	k.kt, k.protocol, k.serverID, k.realm = kt, proto, host, realm
	return nil
}

// safely runs a parser of untrusted bytes and turns its panics (gokrb5's
// parsers index without checking lengths) into errors.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed input (%v)", r)
		}
	}()
	return f()
}

// authRefusal is the exception Hadoop's Server.initializeAuthContext
// answers to a SIMPLE client when only Kerberos is enabled. TOKEN is not
// listed: this NameNode issues no delegation tokens.
func authRefusal(method string) *remoteError {
	return &remoteError{class: exAccessControl, code: "FATAL_UNAUTHORIZED", fatal: true,
		msg: method + " authentication is not enabled.  Available:[" + methodKerberos + "]"}
}

// saslFailure is a fatal authentication failure.
func saslFailure(format string, args ...any) *remoteError {
	return &remoteError{class: exAccessControl, code: "FATAL_UNAUTHORIZED", fatal: true, msg: fmt.Sprintf(format, args...)}
}

// decodeSASL decodes a SASL request frame: a delimited
// RpcRequestHeaderProto with call id -33, then a delimited RpcSaslProto.
func decodeSASL(frame []byte) (*rpcCall, protoreflect.Message, error) {
	hb, rest, err := nextDelimited(frame)
	if err != nil {
		return nil, nil, fmt.Errorf("rpc request header: %w", err)
	}
	hdr, err := parse(pbRPCRequestHeader, hb)
	if err != nil {
		return nil, nil, err
	}
	c := &rpcCall{callID: int32(getInt(hdr, "callId")), clientID: []byte(getStr(hdr, "clientId")), method: "sasl"}
	if c.callID != saslCallID {
		return c, nil, fmt.Errorf("call id %d before SASL negotiation completed", c.callID)
	}
	mb, rest, err := nextDelimited(rest)
	if err != nil {
		return c, nil, fmt.Errorf("sasl message: %w", err)
	}
	if len(rest) != 0 {
		return c, nil, fmt.Errorf("%d bytes after the sasl message", len(rest))
	}
	m, err := parse(pbRPCSasl, mb)
	if err != nil {
		return c, nil, err
	}
	return c, m, nil
}

// saslState returns the name of a SASL message's state.
func saslState(m protoreflect.Message) string {
	fd := field(m, "state")
	if v := fd.Enum().Values().ByNumber(m.Get(fd).Enum()); v != nil {
		return string(v.Name())
	}
	return fmt.Sprint(m.Get(fd).Enum())
}

// saslAuths returns the method and mechanism of each auth a SASL message lists.
func saslAuths(m protoreflect.Message) [][2]string {
	l := m.Get(field(m, "auths")).List()
	out := make([][2]string, l.Len())
	for i := range out {
		a := l.Get(i).Message()
		out[i] = [2]string{getStr(a, "method"), getStr(a, "mechanism")}
	}
	return out
}

// saslSession is the server side of one connection's SASL negotiation.
type saslSession struct {
	krb        *kerberosConfig
	step       int // 0: want NEGOTIATE, 1: INITIATE, 2: RESPONSE, 3: done
	sessionKey types.EncryptionKey
	principal  string // the client's, name@REALM
	user       string // its short name
}

// next answers one SASL message: the reply to send, or a fatal error.
// After the reply to the last step, done is true and s.user is set.
func (s *saslSession) next(m protoreflect.Message) (reply protoreflect.Message, done bool, rerr *remoteError) {
	state := saslState(m)
	switch {
	case s.step == 0 && state == "NEGOTIATE":
		s.step = 1
		return build(pbRPCSasl, "state", "NEGOTIATE", "auths", []protoreflect.Message{
			build(pbRPCSaslAuth, "method", methodKerberos, "mechanism", mechGSSAPI,
				"protocol", s.krb.protocol, "serverId", s.krb.serverID),
		}), false, nil
	case s.step == 1 && state == "INITIATE":
		auths := saslAuths(m)
		if len(auths) != 1 {
			return nil, false, saslFailure("Client mechanism is malformed")
		}
		if auths[0][0] != methodKerberos {
			return nil, false, authRefusal(auths[0][0])
		}
		if auths[0][1] != mechGSSAPI {
			return nil, false, saslFailure("Client mechanism is malformed")
		}
		if rerr := s.accept(getBytes(m, "token")); rerr != nil {
			return nil, false, rerr
		}
		tok, err := s.wrap([]byte{qopAuth, saslMaxBuffer >> 16 & 0xff, saslMaxBuffer >> 8 & 0xff, saslMaxBuffer & 0xff})
		if err != nil {
			return nil, false, saslFailure("GSS initiate failed: %v", err)
		}
		s.step = 2
		return build(pbRPCSasl, "state", "CHALLENGE", "token", tok), false, nil
	case s.step == 2 && state == "RESPONSE":
		if rerr := s.securityLayer(getBytes(m, "token")); rerr != nil {
			return nil, false, rerr
		}
		s.step = 3
		return build(pbRPCSasl, "state", "SUCCESS"), true, nil
	}
	return nil, false, saslFailure("SASL message %s out of order", state)
}

// getBytes returns a bytes field.
func getBytes(m protoreflect.Message, name string) []byte { return m.Get(field(m, name)).Bytes() }

// accept verifies the client's initial GSS token, an RFC 1964 KRB5 token
// holding an AP-REQ for the NameNode's principal.
func (s *saslSession) accept(token []byte) *remoteError {
	var kt spnego.KRB5Token
	if err := safely(func() error { return kt.Unmarshal(token) }); err != nil {
		return saslFailure("GSS initiate failed: %v", err)
	}
	if !kt.IsAPReq() {
		return saslFailure("GSS initiate failed: the initial token is not an AP-REQ")
	}
	if types.IsFlagSet(&kt.APReq.APOptions, flags.APOptionMutualRequired) || mutualRequested(kt.APReq.Authenticator.Cksum) {
		// An AP-REP would have to be built: not implemented.
		return saslFailure("GSS initiate failed: hdfstest does not implement mutual authentication (AP-REP)")
	}
	settings := service.NewSettings(s.krb.kt, service.DecodePAC(false), service.KeytabPrincipal(strings.Split(s.krb.principal, "@")[0]))
	var ok bool
	var verr error
	if err := safely(func() error { ok, _, verr = service.VerifyAPREQ(&kt.APReq, settings); return nil }); err != nil {
		return saslFailure("GSS initiate failed: %v", err)
	}
	if verr != nil || !ok {
		return saslFailure("GSS initiate failed: %v", verr)
	}
	tkt := kt.APReq.Ticket
	if got := tkt.SName.PrincipalNameString() + "@" + tkt.Realm; got != s.krb.principal {
		return saslFailure("GSS initiate failed: the ticket is for %s, not %s", got, s.krb.principal)
	}
	cname := tkt.DecryptedEncPart.CName
	crealm := tkt.DecryptedEncPart.CRealm
	s.principal = cname.PrincipalNameString() + "@" + crealm
	if crealm != s.krb.realm || len(cname.NameString) == 0 || cname.NameString[0] == "" {
		// hadoop.security.auth_to_local's DEFAULT rule maps only the
		// NameNode's own realm.
		return saslFailure("No rules applied to %s", s.principal)
	}
	s.user = cname.NameString[0]
	s.sessionKey = tkt.DecryptedEncPart.Key
	return nil
}

// mutualRequested reports whether an authenticator checksum of type
// 0x8003 (RFC 4121 4.1.1) carries GSS_C_MUTUAL_FLAG.
func mutualRequested(ck types.Checksum) bool {
	if ck.CksumType != gssChecksumType || len(ck.Checksum) < 24 {
		return false
	}
	return binary.LittleEndian.Uint32(ck.Checksum[20:24])&uint32(gssapi.ContextFlagMutual) != 0
}

// wrap returns an acceptor wrap token (RFC 4121, integrity only) of
// payload under the session key.
func (s *saslSession) wrap(payload []byte) ([]byte, error) {
	et, err := crypto.GetEtype(s.sessionKey.KeyType)
	if err != nil {
		return nil, err
	}
	var seq [8]byte
	if _, err := rand.Read(seq[:]); err != nil {
		return nil, err
	}
	wt := gssapi.WrapToken{
		Flags:     0x01, // sent by the acceptor
		EC:        uint16(et.GetHMACBitLength() / 8),
		SndSeqNum: binary.BigEndian.Uint64(seq[:]) & 0x7fffffff,
		Payload:   payload,
	}
	if err := wt.SetCheckSum(s.sessionKey, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		return nil, err
	}
	return wt.Marshal()
}

// securityLayer checks the client's RFC 4752 answer: an initiator wrap
// token choosing "no security layer".
func (s *saslSession) securityLayer(token []byte) *remoteError {
	var wt gssapi.WrapToken
	var ok bool
	err := safely(func() error {
		if err := wt.Unmarshal(token, false); err != nil {
			return err
		}
		var err error
		ok, err = wt.Verify(s.sessionKey, keyusage.GSSAPI_INITIATOR_SEAL)
		return err
	})
	switch {
	case err != nil || !ok:
		return saslFailure("GSS security layer: bad token: %v", err)
	case len(wt.Payload) < 4:
		return saslFailure("GSS security layer: %d-byte answer, want at least 4", len(wt.Payload))
	case wt.Payload[0] != qopAuth:
		return saslFailure("GSS security layer: the client chose %#x; hdfstest offers only authentication (%#x)", wt.Payload[0], qopAuth)
	}
	return nil
}

// errSASLRefused is returned by serveSASL after a fatal answer.
var errSASLRefused = errors.New("sasl negotiation refused")

// serveSASL runs the SASL negotiation of a connection whose preamble
// asked for SASL and returns the authenticated user's short name and
// principal. After a fatal answer it returns an error and the caller
// closes the connection.
func (c *Cluster) serveSASL(addr string, conn net.Conn, br *bufio.Reader) (user, principal string, err error) {
	s := &saslSession{krb: c.cfg.krb}
	for {
		frame, err := readFrame(br, c.cfg.maxFrame)
		if err != nil {
			return "", "", err
		}
		call, m, err := decodeSASL(frame)
		if err != nil {
			c.cfg.logf("hdfstest: NameNode %s: bad SASL frame: %v", addr, err)
			if call == nil {
				call = &rpcCall{callID: saslCallID}
			}
			c.writeRPC(conn, call, nil, fatalErr("FATAL_DESERIALIZING_REQUEST", "%v", err))
			return "", "", errSASLRefused
		}
		reply, done, rerr := s.next(m)
		if rerr != nil {
			c.cfg.logf("hdfstest: NameNode %s: SASL: %v", addr, rerr)
			c.writeRPC(conn, call, nil, rerr)
			return "", "", errSASLRefused
		}
		if !c.writeRPC(conn, call, reply, nil) {
			return "", "", errSASLRefused
		}
		if done {
			return s.user, s.principal, nil
		}
	}
}
