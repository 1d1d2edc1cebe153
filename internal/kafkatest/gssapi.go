package kafkatest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"
)

// GSSAPIService is the Kerberos service principal of the brokers of a
// cluster made by NewGSSAPI, without its realm: Kafka's default service
// name "kafka" and the brokers' host, as a client asks for it.
const GSSAPIService = "kafka/127.0.0.1"

// gssapiAdmin is the principal of the cluster's own client (Client,
// Produce, ReadAll, ...).
const gssapiAdmin = "kafkatest-admin"

// GSSAPI is the Kerberos side of a cluster made by NewGSSAPI: its realm,
// the brokers' service keytab, and the principals that authenticated.
//
// kfake has no GSSAPI, and a control function (Cluster.ControlKey) sees
// requests, not the connections they came on, so it cannot mark a
// connection authenticated itself. NewGSSAPI runs kfake with SASL
// required (kfake.EnableSASL: nothing but ApiVersions, SaslHandshake and
// SaslAuthenticate before authentication), with one PLAIN superuser whose
// name and random password never leave the test, and control functions
// that do the GSSAPI exchange of RFC 4752 over Kafka's SaslAuthenticate:
//
//   - SaslHandshake: a mechanism other than GSSAPI is refused with
//     UNSUPPORTED_SASL_MECHANISM (the brokers enable GSSAPI only); GSSAPI
//     is rewritten to PLAIN and left to kfake, which puts the connection
//     in its PLAIN authentication stage and answers success.
//   - The first SaslAuthenticate carries the initial context token (RFC
//     2743 framing, the Kerberos V5 OID, token id 01 00, the AP-REQ). It
//     is verified with the KDC-issued service key (gokrb5's
//     service.VerifyAPREQ with the service keytab): ticket decrypted,
//     times checked, authenticator decrypted, replays refused. Without
//     mutual authentication (franz-go does not ask for it) there is no
//     AP-REP: the answer is the RFC 4752 security-layer offer, a wrap
//     token (RFC 4121) from the acceptor carrying 01 00 00 00 (no
//     security layer, no maximum size), signed with the context key (the
//     authenticator's subkey, else the ticket's session key) for key
//     usage 22.
//   - The next SaslAuthenticate is the client's wrap token choosing the
//     layer. The control function finds the context whose key verifies
//     it (key usage 24); only then, with the layer "none" chosen, it
//     replaces the bytes by the PLAIN superuser's credentials and leaves
//     the request to kfake, which marks the connection authenticated. A
//     token no pending context verifies, or anything else, never reaches
//     kfake.
//
// Each failure answers SASL_AUTHENTICATION_FAILED with a message naming
// the cause, as Apache Kafka does.
type GSSAPI struct {
	// Realm is the realm of the brokers' service.
	Realm *krbtest.Realm
	// ServiceKeytab is the keytab of GSSAPIService that the brokers
	// verify tickets with.
	ServiceKeytab string

	t         testing.TB
	kt        *keytab.Keytab
	plainUser string
	plainPass string

	mu      sync.Mutex
	pending []*gssContext // contexts waiting for the client's wrap token
	authed  []string      // client principals authenticated, in order
}

// gssContext is an established Kerberos context waiting for the client's
// choice of security layer.
type gssContext struct {
	client  string
	key     types.EncryptionKey
	expires time.Time
}

// gssPendingLife is how long a context waits for the client's wrap token.
const gssPendingLife = time.Minute

// gssLayerNone is the RFC 4752 security layer bit for "no security layer".
const gssLayerNone = 0x01

// krb5OID is the DER of the Kerberos V5 mechanism OID 1.2.840.113554.1.2.2.
var krb5OID = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// NewGSSAPI is New with the brokers requiring SASL GSSAPI from realm: it
// creates the service principal GSSAPIService, exports its keytab and
// installs the control functions that authenticate clients with it (see
// GSSAPI). The cluster's Client and its helpers log in as a principal of
// their own; c.GSSAPI.User makes principals and keytabs for the code under
// test.
func NewGSSAPI(t testing.TB, topics map[string]int32, realm *krbtest.Realm, opts ...kfake.Opt) *Cluster {
	t.Helper()
	realm.AddPrincipal(GSSAPIService)
	g := &GSSAPI{Realm: realm, t: t, plainUser: "kafkatest-gssapi-" + randomHex(t, 4), plainPass: randomHex(t, 16)}
	g.ServiceKeytab = realm.Keytab("", GSSAPIService)
	g.kt = krbtest.LoadKeytab(t, g.ServiceKeytab)
	c := New(t, topics, append([]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", g.plainUser, g.plainPass)}, opts...)...)
	c.GSSAPI = g
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return g.handshake(req.(*kmsg.SASLHandshakeRequest))
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return g.authenticate(req.(*kmsg.SASLAuthenticateRequest))
	})
	principal, kt := g.User(t, gssapiAdmin)
	c.clientOpts = []kgo.Opt{kgo.SASL(kerberos.Auth{Client: realm.Client(t, principal, kt), Service: "kafka"}.AsMechanism())}
	return c
}

// randomHex returns n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// User creates the client principal name in the realm (unless it exists)
// and exports its key to a new keytab; it returns the principal,
// name@REALM, and the keytab's path.
func (g *GSSAPI) User(t testing.TB, name string) (principal, keytabPath string) {
	t.Helper()
	principal = name + "@" + g.Realm.Realm()
	if !strings.Contains(g.Realm.Kadmin("listprincs "+name), principal) {
		g.Realm.AddPrincipal(name)
	}
	return principal, g.Realm.Keytab("", name)
}

// Flags returns the command-line flags of package security that log in
// as principal with keytab over GSSAPI: -kafka-sasl-mechanism GSSAPI,
// -principal, -keytab and -krb5-conf.
func (g *GSSAPI) Flags(principal, keytabPath string) []string {
	return []string{"-kafka-sasl-mechanism", "GSSAPI", "-principal", principal, "-keytab", keytabPath, "-krb5-conf", g.Realm.Krb5Conf()}
}

// Authenticated returns the client principals (name@REALM) that
// completed the GSSAPI exchange so far, once per connection, in order.
func (g *GSSAPI) Authenticated() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.authed)
}

// handshake refuses mechanisms other than GSSAPI and hands GSSAPI to
// kfake as PLAIN, whose authentication stage the exchange ends in.
func (g *GSSAPI) handshake(req *kmsg.SASLHandshakeRequest) (kmsg.Response, error, bool) {
	if req.Mechanism != "GSSAPI" {
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		resp.SupportedMechanisms = []string{"GSSAPI"}
		return resp, nil, true
	}
	req.Mechanism = "PLAIN"
	return nil, nil, false
}

// authenticate runs one SaslAuthenticate step: the initial context token,
// or the client's wrap token that ends the exchange.
func (g *GSSAPI) authenticate(req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error, bool) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	fail := func(err error) (kmsg.Response, error, bool) {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism GSSAPI: " + oneLine(err.Error())
		resp.ErrorMessage = &msg
		return resp, nil, true
	}
	if len(req.SASLAuthBytes) > 0 && req.SASLAuthBytes[0] == 0x60 {
		offer, err := g.accept(req.SASLAuthBytes)
		if err != nil {
			return fail(err)
		}
		resp.SASLAuthBytes = offer
		return resp, nil, true
	}
	client, err := g.finish(req.SASLAuthBytes)
	if err != nil {
		return fail(err)
	}
	g.mu.Lock()
	g.authed = append(g.authed, client)
	g.mu.Unlock()
	req.SASLAuthBytes = []byte("\x00" + g.plainUser + "\x00" + g.plainPass)
	return nil, nil, false // kfake authenticates the connection
}

// accept verifies the initial context token and returns the acceptor's
// wrap token offering no security layer.
func (g *GSSAPI) accept(token []byte) ([]byte, error) {
	inner, err := gssUnframe(token)
	if err != nil {
		return nil, err
	}
	if len(inner) < 2 || inner[0] != 0x01 || inner[1] != 0x00 {
		return nil, errors.New("the initial context token is not a Kerberos AP-REQ (token id 01 00)")
	}
	var apreq messages.APReq
	if err := apreq.Unmarshal(inner[2:]); err != nil {
		return nil, fmt.Errorf("AP-REQ: %w", err)
	}
	ok, creds, err := service.VerifyAPREQ(&apreq, service.NewSettings(g.kt, service.DecodePAC(false)))
	if err != nil {
		return nil, fmt.Errorf("AP-REQ: %w", err)
	}
	if !ok {
		return nil, errors.New("AP-REQ: not valid")
	}
	if ck := apreq.Authenticator.Cksum; ck.CksumType == 0x8003 && len(ck.Checksum) >= 24 && binary.LittleEndian.Uint32(ck.Checksum[20:24])&0x02 != 0 {
		return nil, errors.New("the client asks for mutual authentication, which kafkatest's brokers do not do")
	}
	key := apreq.Ticket.DecryptedEncPart.Key
	if apreq.Authenticator.SubKey.KeyType != 0 {
		key = apreq.Authenticator.SubKey
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	wt := gssapi.WrapToken{
		Flags:   0x01, // sent by the acceptor; not sealed; no acceptor subkey
		EC:      uint16(et.GetHMACBitLength() / 8),
		Payload: []byte{gssLayerNone, 0, 0, 0},
	}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		return nil, fmt.Errorf("wrap token: %w", err)
	}
	offer, err := wt.Marshal()
	if err != nil {
		return nil, fmt.Errorf("wrap token: %w", err)
	}
	now := time.Now()
	g.mu.Lock()
	g.pending = slices.DeleteFunc(g.pending, func(p *gssContext) bool { return now.After(p.expires) })
	g.pending = append(g.pending, &gssContext{client: creds.CName().PrincipalNameString() + "@" + creds.Domain(), key: key, expires: now.Add(gssPendingLife)})
	g.mu.Unlock()
	return offer, nil
}

// finish verifies the client's wrap token with the key of a pending
// context and returns the context's client principal.
func (g *GSSAPI) finish(token []byte) (string, error) {
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(token, false); err != nil {
		return "", fmt.Errorf("want the initial context token or the client's wrap token: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for i, p := range g.pending {
		if now.After(p.expires) {
			continue
		}
		if ok, _ := wt.Verify(p.key, keyusage.GSSAPI_INITIATOR_SEAL); !ok {
			continue
		}
		g.pending = slices.Delete(g.pending, i, i+1)
		if len(wt.Payload) < 4 || wt.Payload[0] != gssLayerNone {
			return "", fmt.Errorf("the client chose security layer %x, want 01 (none)", wt.Payload[:min(1, len(wt.Payload))])
		}
		return p.client, nil
	}
	return "", errors.New("the wrap token belongs to no established context (wrong key, or no AP-REQ before it)")
}

// gssUnframe checks the RFC 2743 framing of an initial context token
// (0x60, a DER length, the Kerberos V5 OID) and returns what follows the
// OID.
func gssUnframe(b []byte) ([]byte, error) {
	bad := errors.New("not a GSS-API initial context token")
	if len(b) < 2 || b[0] != 0x60 {
		return nil, bad
	}
	n, rest := int(b[1]), b[2:]
	if n&0x80 != 0 {
		octets := n & 0x7f
		if octets == 0 || octets > 4 || len(rest) < octets {
			return nil, bad
		}
		n = 0
		for _, o := range rest[:octets] {
			n = n<<8 | int(o)
		}
		rest = rest[octets:]
	}
	if n != len(rest) {
		return nil, fmt.Errorf("%w: length %d, %d bytes follow", bad, n, len(rest))
	}
	if !bytes.HasPrefix(rest, krb5OID) {
		return nil, fmt.Errorf("%w: the mechanism is not Kerberos V5", bad)
	}
	return rest[len(krb5OID):], nil
}

// oneLine returns s with its runs of white space, line breaks included,
// made one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
