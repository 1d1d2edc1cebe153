package kudu

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// This file is the client side of the Kerberos V5 GSS-API mechanism
// (RFC 1964 framing, RFC 4121 tokens) as SASL GSSAPI (RFC 4752) uses it,
// on gokrb5's Kerberos messages and cryptography.

// GSS-API token ids (RFC 1964 section 1.1, RFC 4121 section 4.2.6).
var (
	tokIDAPReq = []byte{0x01, 0x00}
	tokIDAPRep = []byte{0x02, 0x00}
	tokIDError = []byte{0x03, 0x00}
)

// Wrap token flags (RFC 4121 section 4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// SASL GSSAPI security layers (RFC 4752 section 3.3).
const (
	layerNone      = 1
	layerIntegrity = 2
	layerConf      = 4
)

// maxSASLBuffer is the largest SASL security layer message this client
// accepts, as it tells the server (the three-octet maximum).
const maxSASLBuffer = 0xFFFFFF

// authClock hands out authenticator times that never repeat: a server's
// replay cache refuses a second authenticator of the same client for the
// same service with the same time to the microsecond, which concurrent
// connections could otherwise produce (MIT's library does the same).
type authClock struct {
	mu   sync.Mutex
	last time.Time
}

// next returns now, or the microsecond after the last time handed out.
func (c *authClock) next(now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now = now.UTC().Truncate(time.Microsecond)
	if !now.After(c.last) {
		now = c.last.Add(time.Microsecond)
	}
	c.last = now
	return now
}

// gssClient is the initiator of one Kerberos GSS-API security context.
type gssClient struct {
	cl         *client.Client
	clock      *authClock // nil: the authenticator's own time
	spn        string     // service/host
	ticket     messages.Ticket
	sessionKey types.EncryptionKey
	auth       types.Authenticator

	// After the AP-REP: the key of the wrap tokens (the acceptor's subkey
	// when it sent one, else the session key) and the sequence numbers.
	key            types.EncryptionKey
	acceptorSubkey bool
	seq            uint64
	layer          byte // the SASL security layer chosen
}

// newGSSClient gets a service ticket for service/host from the KDC (cl
// logs in first if it must).
func newGSSClient(ctx context.Context, cl *client.Client, clock *authClock, service, host string) (*gssClient, error) {
	g := &gssClient{cl: cl, clock: clock, spn: service + "/" + host}
	type result struct {
		tkt messages.Ticket
		key types.EncryptionKey
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("gokrb5 panicked: %v", p)
			}
			ch <- r
		}()
		r.tkt, r.key, r.err = cl.GetServiceTicket(g.spn)
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, kerberosTicketError(cl, g.spn, r.err)
	}
	g.ticket, g.sessionKey = r.tkt, r.key
	return g, nil
}

// kerberosTicketError words the failure to get a service ticket.
func kerberosTicketError(cl *client.Client, spn string, err error) error {
	msg := err.Error()
	who := "(unknown)"
	realm := ""
	if cl.Credentials != nil {
		who = cl.Credentials.UserName() + "@" + cl.Credentials.Domain()
		realm = cl.Credentials.Domain()
	}
	if cl.Config != nil {
		if r := cl.Config.ResolveRealm(spn[strings.LastIndexByte(spn, '/')+1:]); r != "" {
			realm = r
		}
	}
	var why string
	switch {
	case strings.Contains(msg, "KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		why = fmt.Sprintf("the KDC of realm %s does not know the service principal %s@%s (wrong realm or service name, or the server is not registered)", realm, spn, realm)
	case strings.Contains(msg, "KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		why = fmt.Sprintf("the KDC does not know the client principal %s (wrong principal or realm)", who)
	case strings.Contains(msg, "matching key not found in keytab"):
		why = fmt.Sprintf("the keytab has no key of %s (the keytab of another principal?)", who)
	case strings.Contains(msg, "KDC_ERR_PREAUTH_FAILED"), strings.Contains(msg, "KRB_AP_ERR_BAD_INTEGRITY"):
		why = fmt.Sprintf("the KDC refused the key of %s (a wrong or outdated keytab)", who)
	case strings.Contains(msg, "no valid existing session"), strings.Contains(msg, "TKT_EXPIRED"),
		strings.Contains(msg, "KDC_ERR_KEY_EXPIRED"):
		why = fmt.Sprintf("the Kerberos tickets of %s have expired and there is no keytab to log in again (renew them with kinit)", who)
	default:
		why = "Kerberos login or ticket request failed for " + who
	}
	return securityErrorf(ErrAuthentication, errors.New(oneLine(msg)), "Kerberos: no service ticket for %s: %s", spn, why)
}

// oneLine joins the lines of a message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// initialToken returns the GSS-API initial context token: the AP-REQ for
// the service ticket, asking for mutual authentication and integrity and
// confidentiality (RFC 4121 section 4.1.1, the checksum 0x8003).
func (g *gssClient) initialToken() ([]byte, error) {
	auth, err := types.NewAuthenticator(g.cl.Credentials.Domain(), g.cl.Credentials.CName())
	if err != nil {
		return nil, err
	}
	if g.clock != nil {
		t := g.clock.next(auth.CTime)
		auth.CTime = t.Truncate(time.Second)
		auth.Cusec = int(t.Sub(auth.CTime) / time.Microsecond)
	}
	// The authenticator checksum: Lgth 16, Bnd (no GSS channel bindings:
	// Kudu binds TLS itself), Flags, all little-endian.
	ck := make([]byte, 24)
	binary.LittleEndian.PutUint32(ck[0:4], 16)
	binary.LittleEndian.PutUint32(ck[20:24], gssapi.ContextFlagMutual|gssapi.ContextFlagInteg|gssapi.ContextFlagConf)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	req, err := messages.NewAPReq(g.ticket, g.sessionKey, auth)
	if err != nil {
		return nil, err
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	g.auth = auth
	g.seq = uint64(auth.SeqNumber)
	return gssFrame(tokIDAPReq, b)
}

// gssFrame wraps a Kerberos message in the GSS-API framing: [APPLICATION
// 0] { the Kerberos V5 mechanism OID, the token id, the message }.
func gssFrame(tokID, msg []byte) ([]byte, error) {
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		return nil, err
	}
	b := append(oid, tokID...)
	return asn1tools.AddASNAppTag(append(b, msg...), 0), nil
}

// gssUnframe splits a GSS-API framed token into its token id and message.
func gssUnframe(tok []byte) (tokID, msg []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = malformed("GSS-API token: %v", p)
		}
	}()
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil {
		return nil, nil, malformed("GSS-API token: %v", err)
	}
	if !oid.Equal(gssapi.OIDKRB5.OID()) {
		return nil, nil, malformed("GSS-API token of mechanism %v, not Kerberos V5", oid)
	}
	if len(rest) < 2 {
		return nil, nil, malformed("GSS-API token too short")
	}
	return rest[:2], rest[2:], nil
}

// acceptAPRep checks the server's AP-REP (mutual authentication: only the
// service's key opens the ticket and its session key) and takes its
// subkey and sequence number.
func (g *gssClient) acceptAPRep(tok []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = malformed("AP-REP: %v", p)
		}
	}()
	id, msg, err := gssUnframe(tok)
	if err != nil {
		return err
	}
	switch string(id) {
	case string(tokIDAPRep):
	case string(tokIDError):
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err != nil {
			return malformed("KRB-ERROR: %v", err)
		}
		return fmt.Errorf("the server answered with a Kerberos error: %s", oneLine(ke.Error()))
	default:
		return malformed("expected an AP-REP token, got token id %x", id)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		return malformed("AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, g.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("the AP-REP does not decrypt with the session key: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return malformed("AP-REP encrypted part: %v", err)
	}
	if part.CTime.Unix() != g.auth.CTime.Unix() || part.Cusec != g.auth.Cusec {
		return errors.New("the AP-REP does not answer this AP-REQ (its time differs)")
	}
	g.key = g.sessionKey
	if part.Subkey.KeyType != 0 {
		g.key, g.acceptorSubkey = part.Subkey, true
	}
	if _, err := crypto.GetEtype(g.key.KeyType); err != nil {
		return fmt.Errorf("the context key: %w", err)
	}
	return nil
}

// wrap makes an integrity-protected wrap token (RFC 4121 section 4.2.4,
// no confidentiality) of payload.
func (g *gssClient) wrap(payload []byte) ([]byte, error) {
	et, err := crypto.GetEtype(g.key.KeyType)
	if err != nil {
		return nil, err
	}
	var fl byte
	if g.acceptorSubkey {
		fl |= wrapAcceptorSubkey
	}
	wt := gssapi.WrapToken{
		Flags:     fl,
		EC:        uint16(et.GetHMACBitLength() / 8),
		SndSeqNum: g.seq,
		Payload:   append([]byte{}, payload...),
	}
	if err := wt.SetCheckSum(g.key, keyusage.GSSAPI_INITIATOR_SEAL); err != nil {
		return nil, err
	}
	g.seq++
	return wt.Marshal()
}

// unwrap checks a wrap token from the server and returns its payload.
// Sealed (confidential) tokens are refused: this client negotiates
// integrity only.
func (g *gssClient) unwrap(tok []byte) ([]byte, error) {
	if len(tok) < 16 || tok[0] != 0x05 || tok[1] != 0x04 {
		return nil, malformed("not a GSS-API wrap token")
	}
	fl := tok[2]
	if fl&wrapSentByAcceptor == 0 {
		return nil, malformed("wrap token not sent by the acceptor")
	}
	if fl&wrapSealed != 0 {
		return nil, errors.New("sealed (confidential) wrap token: this client negotiates integrity protection only")
	}
	key := g.sessionKey
	if fl&wrapAcceptorSubkey != 0 {
		if !g.acceptorSubkey {
			return nil, malformed("wrap token made with an acceptor subkey the AP-REP did not carry")
		}
		key = g.key
	}
	// Undo the right rotation of everything after the header (RRC).
	body := tok[16:]
	if rrc := int(binary.BigEndian.Uint16(tok[6:8])); rrc != 0 && len(body) > 0 {
		r := rrc % len(body)
		body = append(append([]byte{}, body[r:]...), body[:r]...)
	}
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(append(append([]byte{}, tok[:16]...), body...), true); err != nil {
		return nil, malformed("wrap token: %v", err)
	}
	if ok, err := wt.Verify(key, keyusage.GSSAPI_ACCEPTOR_SEAL); !ok || err != nil {
		return nil, fmt.Errorf("wrap token checksum does not verify: %w", err)
	}
	return wt.Payload, nil
}

// securityLayer answers the server's RFC 4752 security layer offer: it
// chooses integrity protection, as Kudu requires for GSSAPI (the channel
// bindings and the nonce are integrity-protected), and the largest buffer.
// No authorization identity is sent: the server uses the principal.
func (g *gssClient) securityLayer(challenge []byte) ([]byte, error) {
	offer, err := g.unwrap(challenge)
	if err != nil {
		return nil, err
	}
	if len(offer) != 4 {
		return nil, malformed("security layer offer of %d bytes, want 4", len(offer))
	}
	switch layers := offer[0]; {
	case layers&layerIntegrity != 0:
		g.layer = layerIntegrity
		return g.wrap([]byte{layerIntegrity, maxSASLBuffer >> 16, maxSASLBuffer >> 8 & 0xFF, maxSASLBuffer & 0xFF})
	case layers&layerNone != 0:
		g.layer = layerNone
		return g.wrap([]byte{layerNone, 0, 0, 0})
	default:
		return nil, fmt.Errorf("the server offers SASL security layers %#x; this client implements integrity protection only", layers)
	}
}

// saslEncode protects p with the negotiated SASL security layer: a
// four-octet length, then the wrap token (RFC 4422 section 3.7).
func (g *gssClient) saslEncode(p []byte) ([]byte, error) {
	if g.layer != layerIntegrity {
		return p, nil
	}
	tok, err := g.wrap(p)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...), nil
}

// saslDecode checks a message the server protected with saslEncode's
// framing and returns its payload.
func (g *gssClient) saslDecode(b []byte) ([]byte, error) {
	if g.layer != layerIntegrity {
		return b, nil
	}
	if len(b) < 4 || int(binary.BigEndian.Uint32(b)) != len(b)-4 {
		return nil, malformed("SASL security layer message: bad length prefix")
	}
	return g.unwrap(b[4:])
}

// tlsServerEndPoint returns the tls-server-end-point channel bindings of
// a certificate (RFC 5929 section 4.1): its hash with the hash function
// of its signature algorithm, SHA-256 for MD5 and SHA-1.
func tlsServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		return nil, fmt.Errorf("no tls-server-end-point hash for a certificate signed with %v", cert.SignatureAlgorithm)
	}
	h.Write(cert.Raw)
	return h.Sum(nil), nil
}
