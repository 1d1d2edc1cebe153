package kudutest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
)

// This file is the acceptor side of Kerberos V5 GSS-API (RFC 1964
// framing, RFC 4121 tokens) for SASL GSSAPI (RFC 4752), as Kudu's servers
// run it through Cyrus SASL and MIT Kerberos, on gokrb5's messages and
// cryptography.

// GSS-API Kerberos token ids.
const (
	gssTokAPReq = 0x0100
	gssTokAPRep = 0x0200
)

// Wrap token flags (RFC 4121 section 4.2.2).
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// SASL GSSAPI security layer bits (RFC 4752 section 3.3).
const (
	saslLayerNone      = 0x01
	saslLayerIntegrity = 0x02
)

// gssMaxBuffer is the largest security layer message the servers say
// they accept.
const gssMaxBuffer = 0xFFFFFF

// gssAcceptor is the server side of one established context.
type gssAcceptor struct {
	client     string // name@REALM
	sessionKey types.EncryptionKey
	subkey     types.EncryptionKey // the acceptor subkey sent in the AP-REP
	hasSubkey  bool
	sendSeq    uint64
	mutual     bool
}

// acceptGSS verifies the client's initial context token, an AP-REQ for
// the servers' principal, and returns the context and, when the client
// asked for mutual authentication, the AP-REP token to send back.
func (sec *security) acceptGSS(tok []byte) (acc *gssAcceptor, aprep []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			acc, aprep, err = nil, nil, fmt.Errorf("malformed GSS-API token: %v", p)
		}
	}()
	id, msg, err := splitGSSToken(tok)
	if err != nil {
		return nil, nil, err
	}
	if id != gssTokAPReq {
		return nil, nil, fmt.Errorf("expected an AP-REQ token, got token id %04x", id)
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		return nil, nil, fmt.Errorf("malformed AP-REQ: %v", err)
	}
	if len(req.Ticket.SName.NameString) == 0 {
		return nil, nil, errors.New("the AP-REQ's ticket names no service")
	}
	sname := req.Ticket.SName.PrincipalNameString() + "@" + req.Ticket.Realm
	want := types.PrincipalName{NameString: sec.service}.PrincipalNameString()
	if sec.svcRealm != "" {
		want += "@" + sec.svcRealm
	}
	if !slices.Equal(req.Ticket.SName.NameString, sec.service) || (sec.svcRealm != "" && req.Ticket.Realm != sec.svcRealm) {
		return nil, nil, fmt.Errorf("the client's ticket is for %s, not for this server's principal %s", sname, want)
	}
	settings := service.NewSettings(sec.keytab, service.DecodePAC(false), service.MaxClockSkew(5*time.Minute))
	ok, creds, err := service.VerifyAPREQ(&req, settings)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot verify the client's ticket for %s: %v", sname, err)
	}
	if !ok {
		return nil, nil, fmt.Errorf("the client's ticket for %s is not valid", sname)
	}
	auth := req.Authenticator
	if auth.Cksum.CksumType != chksumtype.GSSAPI || len(auth.Cksum.Checksum) < 24 {
		return nil, nil, fmt.Errorf("the authenticator has no GSS-API checksum (type %d)", auth.Cksum.CksumType)
	}
	if binary.LittleEndian.Uint32(auth.Cksum.Checksum[0:4]) != 16 {
		return nil, nil, errors.New("the authenticator's GSS-API checksum has channel bindings of a bad length")
	}
	gssFlags := binary.LittleEndian.Uint32(auth.Cksum.Checksum[20:24])
	acc = &gssAcceptor{
		client:     creds.CName().PrincipalNameString() + "@" + creds.Domain(),
		sessionKey: req.Ticket.DecryptedEncPart.Key,
		mutual:     gssFlags&gssapi.ContextFlagMutual != 0 || types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired),
	}
	if !acc.mutual {
		return acc, nil, nil
	}
	// The AP-REP: the authenticator's time, a new subkey of the session
	// key's type and the acceptor's first sequence number.
	et, err := crypto.GetEtype(acc.sessionKey.KeyType)
	if err != nil {
		return nil, nil, err
	}
	seed := make([]byte, et.GetKeySeedBitLength()/8)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, err
	}
	acc.subkey = types.EncryptionKey{KeyType: acc.sessionKey.KeyType, KeyValue: et.RandomToKey(seed)}
	acc.hasSubkey = true
	var sb [4]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, nil, err
	}
	acc.sendSeq = uint64(binary.BigEndian.Uint32(sb[:]) & 0x3fffffff)
	part := messages.EncAPRepPart{
		CTime:          auth.CTime,
		Cusec:          auth.Cusec,
		Subkey:         acc.subkey,
		SequenceNumber: int64(acc.sendSeq),
	}
	pb, err := asn1.Marshal(part)
	if err != nil {
		return nil, nil, err
	}
	enc, err := crypto.GetEncryptedData(asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart), acc.sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, nil, err
	}
	rb, err := asn1.Marshal(messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: enc})
	if err != nil {
		return nil, nil, err
	}
	out, err := joinGSSToken(gssTokAPRep, asn1tools.AddASNAppTag(rb, asnAppTag.APREP))
	return acc, out, err
}

// splitGSSToken parses the GSS-API framing: [APPLICATION 0] { OID, token
// id, message }, where the OID must be Kerberos V5's.
func splitGSSToken(tok []byte) (uint16, []byte, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil {
		return 0, nil, fmt.Errorf("malformed GSS-API token: %v", err)
	}
	if !oid.Equal(gssapi.OIDKRB5.OID()) {
		return 0, nil, fmt.Errorf("GSS-API token of mechanism %v: only Kerberos V5 is supported", oid)
	}
	if len(rest) < 2 {
		return 0, nil, errors.New("GSS-API token without a token id")
	}
	return binary.BigEndian.Uint16(rest), rest[2:], nil
}

// joinGSSToken frames a Kerberos message as a GSS-API token.
func joinGSSToken(id uint16, msg []byte) ([]byte, error) {
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint16(oid, id)
	return asn1tools.AddASNAppTag(append(b, msg...), 0), nil
}

// wrapKey is the key of the context's wrap tokens.
func (a *gssAcceptor) wrapKey() types.EncryptionKey {
	if a.hasSubkey {
		return a.subkey
	}
	return a.sessionKey
}

// wrap makes the acceptor's integrity-only wrap token of payload.
func (a *gssAcceptor) wrap(payload []byte) ([]byte, error) {
	key := a.wrapKey()
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	fl := byte(flagSentByAcceptor)
	if a.hasSubkey {
		fl |= flagAcceptorSubkey
	}
	wt := gssapi.WrapToken{
		Flags:     fl,
		EC:        uint16(et.GetHMACBitLength() / 8),
		SndSeqNum: a.sendSeq,
		Payload:   bytes.Clone(payload),
	}
	if wt.Payload == nil {
		wt.Payload = []byte{}
	}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		return nil, err
	}
	a.sendSeq++
	return wt.Marshal()
}

// unwrap checks the initiator's wrap token and returns its payload.
func (a *gssAcceptor) unwrap(tok []byte) ([]byte, error) {
	if len(tok) < 16 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xFF {
		return nil, errors.New("not a GSS-API wrap token")
	}
	fl := tok[2]
	switch {
	case fl&flagSentByAcceptor != 0:
		return nil, errors.New("wrap token claims to come from the acceptor")
	case fl&flagSealed != 0:
		return nil, errors.New("sealed wrap tokens are not supported (integrity protection only)")
	case fl&flagAcceptorSubkey != 0 && !a.hasSubkey:
		return nil, errors.New("wrap token made with an acceptor subkey that was never sent")
	}
	key := a.sessionKey
	if fl&flagAcceptorSubkey != 0 {
		key = a.subkey
	}
	ec := int(binary.BigEndian.Uint16(tok[4:6]))
	rrc := int(binary.BigEndian.Uint16(tok[6:8]))
	body := tok[16:]
	if rrc != 0 && len(body) > 0 {
		r := rrc % len(body)
		body = append(bytes.Clone(body[r:]), body[:r]...)
	}
	if ec > len(body) {
		return nil, fmt.Errorf("wrap token checksum of %d bytes in %d", ec, len(body))
	}
	wt := gssapi.WrapToken{
		Flags:     fl,
		EC:        uint16(ec),
		RRC:       uint16(rrc),
		SndSeqNum: binary.BigEndian.Uint64(tok[8:16]),
		Payload:   body[:len(body)-ec],
		CheckSum:  body[len(body)-ec:],
	}
	if ok, err := wt.Verify(key, keyusage.GSSAPI_INITIATOR_SEAL); !ok || err != nil {
		return nil, fmt.Errorf("wrap token checksum does not verify: %v", err)
	}
	return wt.Payload, nil
}

// saslEncode frames a wrap token of p as a SASL security layer message: a
// four-octet big-endian length, then the token.
func (a *gssAcceptor) saslEncode(p []byte) ([]byte, error) {
	tok, err := a.wrap(p)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...), nil
}

// saslDecode undoes the client's saslEncode.
func (a *gssAcceptor) saslDecode(b []byte) ([]byte, error) {
	if len(b) < 4 || uint64(binary.BigEndian.Uint32(b)) != uint64(len(b)-4) {
		return nil, errors.New("SASL security layer message with a bad length prefix")
	}
	return a.unwrap(b[4:])
}

// decodeLayerChoice decodes the client's answer to the security layer
// offer (RFC 4752 section 3.1): the layer, the largest message it
// accepts, then an optional authorization identity.
func decodeLayerChoice(p []byte) (layer byte, maxSize uint32, authz string, err error) {
	if len(p) < 4 {
		return 0, 0, "", fmt.Errorf("security layer answer of %d bytes, want at least 4", len(p))
	}
	return p[0], uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), string(p[4:]), nil
}
