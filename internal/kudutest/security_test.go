package kudutest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/microbatch-go/microbatch/internal/krbtest"
)

// These tests drive the servers' TLS and GSSAPI negotiation by hand: the
// frames with protowire, TLS with crypto/tls over a test carrier of its
// own, and the Kerberos tokens with gokrb5's own builders (spnego), not
// with internal/kudu's client, so that each side is checked against an
// independent rendering.

// handshakeFrames is the test's carrier of TLS records in TLS_HANDSHAKE
// frames: what crypto/tls writes is sent when it next reads.
type handshakeFrames struct {
	c       *client
	raw     net.Conn
	r       *bufio.Reader
	in, out []byte
	done    bool
}

func (h *handshakeFrames) Read(p []byte) (int, error) {
	if len(h.in) == 0 {
		if h.done {
			return h.r.Read(p)
		}
		if err := h.flush(); err != nil {
			return 0, err
		}
		r, err := h.c.read()
		if err != nil {
			return 0, err
		}
		d := decode(h.c.t, r.body)
		if r.isErr || d.u(2) != stepTLSHandshake || !d.has(5) {
			h.c.t.Errorf("answer to TLS_HANDSHAKE: error %v, %v", r.isErr, d)
			return 0, io.ErrUnexpectedEOF
		}
		h.in = d.b(5)
	}
	n := copy(p, h.in)
	h.in = h.in[n:]
	return n, nil
}

func (h *handshakeFrames) Write(p []byte) (int, error) {
	if h.done {
		return h.raw.Write(p)
	}
	h.out = append(h.out, p...)
	return len(p), nil
}

func (h *handshakeFrames) flush() error {
	if len(h.out) == 0 {
		return nil
	}
	_, err := h.raw.Write(frame(-33, "", "", msgb(nil).v(2, stepTLSHandshake).b(5, h.out)))
	h.out = nil
	return err
}

func (h *handshakeFrames) Close() error                       { return h.raw.Close() }
func (h *handshakeFrames) LocalAddr() net.Addr                { return h.raw.LocalAddr() }
func (h *handshakeFrames) RemoteAddr() net.Addr               { return h.raw.RemoteAddr() }
func (h *handshakeFrames) SetDeadline(t time.Time) error      { return h.raw.SetDeadline(t) }
func (h *handshakeFrames) SetReadDeadline(t time.Time) error  { return h.raw.SetReadDeadline(t) }
func (h *handshakeFrames) SetWriteDeadline(t time.Time) error { return h.raw.SetWriteDeadline(t) }

// startTLS runs a TLS handshake in TLS_HANDSHAKE frames after NEGOTIATE;
// unless authOnly, the client's frames then go through TLS.
func (c *client) startTLS(cfg *tls.Config, authOnly bool) *tls.Conn {
	c.t.Helper()
	h := &handshakeFrames{c: c, raw: c.nc, r: c.r}
	tc := tls.Client(h, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	if err := h.flush(); err != nil {
		c.t.Fatal(err)
	}
	h.done = true
	if !authOnly {
		c.nc, c.r = tc, bufio.NewReader(tc)
	}
	return tc
}

// negotiateTLS sends the connection header and a NEGOTIATE offering TLS
// (and TLS_AUTHENTICATION_ONLY with authOnly) and returns the answer.
func (c *client) negotiateTLS(authOnly bool) decoded {
	c.t.Helper()
	m := msgb(nil).v(1, 1).v(1, 2)
	if authOnly {
		m = m.v(1, 3)
	}
	c.write([]byte("hrpc\x09\x00\x00"))
	c.write(frame(-33, "", "", m.v(2, stepNegotiate).m(7, msgb(nil).m(1, nil))))
	r := c.mustRead()
	if r.isErr {
		c.t.Fatalf("NEGOTIATE: %s", decode(c.t, r.body).b(1))
	}
	return decode(c.t, r.body)
}

func features(d decoded) []uint64 {
	var out []uint64
	for _, v := range d[1] {
		out = append(out, v.u)
	}
	return out
}

func TestTLSNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  uint16
		authOnly bool
	}{
		{"TLS 1.3", tls.VersionTLS13, false},
		{"TLS 1.2", tls.VersionTLS12, false},
		{"authentication only", tls.VersionTLS13, true},
		{"authentication only, TLS 1.2", tls.VersionTLS12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithRequireTLS(), WithSASLCredentials("tester", "pw")}
			if tc.authOnly {
				opts = append(opts, WithLoopbackTLSAuthOnly())
			}
			c := New(t, opts...)
			cl := dialRaw(t, c.MasterAddrs()[0])
			d := cl.negotiateTLS(tc.authOnly)
			want := []uint64{1, 2}
			if tc.authOnly {
				want = append(want, 3)
			}
			if got := features(d); !equalU64(got, want) {
				t.Fatalf("server features %v, want %v", got, want)
			}
			tc2 := cl.startTLS(&tls.Config{RootCAs: c.CACertPool(), ServerName: "127.0.0.1", MaxVersion: tc.version}, tc.authOnly)
			if v := tc2.ConnectionState().Version; v != tc.version {
				t.Errorf("TLS version %x, want %x", v, tc.version)
			}
			cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLInitiate).b(3, []byte("\x00tester\x00pw")).m(4, msgb(nil).s(2, "PLAIN"))))
			if r := cl.mustRead(); r.isErr || decode(t, r.body).u(2) != stepSASLSuccess {
				t.Fatalf("SASL_INITIATE over TLS: %+v", r)
			}
			cl.write(frame(-3, "", "", nil))
			if r := cl.call(masterService, "ListTables", nil); r.isErr {
				t.Fatalf("ListTables over TLS: %v", decode(t, r.body))
			}
			n := c.Negotiations()
			if len(n) != 1 || !n[0].TLS || n[0].TLSVersion != tc.version || n[0].AuthOnly != tc.authOnly ||
				n[0].Mechanism != "PLAIN" || n[0].User != "tester" || n[0].ChannelBindings {
				t.Errorf("negotiations %+v", n)
			}
		})
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// refusal reads an error answer and checks its code and message.
func refusal(t *testing.T, cl *client, code RPCErrorCode, text string) {
	t.Helper()
	r := cl.mustRead()
	d := decode(t, r.body)
	if !r.isErr || d.u(2) != uint64(code) || !strings.Contains(string(d.b(1)), text) {
		t.Errorf("answer %+v %q; want error %d containing %q", r, d.b(1), code, text)
	}
}

func TestSecurityRefusalsByHand(t *testing.T) {
	// A TLS_HANDSHAKE without its token.
	c := New(t, WithTLS())
	cl := dialRaw(t, c.MasterAddrs()[0])
	cl.negotiateTLS(false)
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepTLSHandshake)))
	refusal(t, cl, FatalUnauthorized, "No TLS handshake token")

	// Garbage in the TLS handshake.
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.negotiateTLS(false)
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepTLSHandshake).b(5, []byte("not a TLS record at all"))))
	refusal(t, cl, FatalUnauthorized, "TLS Handshake error")

	// A server with TLS still serves a plaintext client.
	dial(t, c.MasterAddrs()[0]).master("ListTables", nil)

	// KUDU-1875: plaintext from an untrusted address is refused once the
	// client's next message arrives; PLAIN over TLS too.
	c = New(t, WithTLS(), WithTrustedSubnets("10.0.0.0/8"))
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, stepNegotiate)))
	if r := cl.mustRead(); r.isErr {
		t.Fatalf("NEGOTIATE refused: %s", decode(t, r.body).b(1))
	}
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLInitiate).b(3, []byte("\x00u\x00p")).m(4, msgb(nil).s(2, "PLAIN"))))
	refusal(t, cl, FatalUnauthorized, "unencrypted connections from publicly routable IPs are prohibited. See --trusted_subnets flag")
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.negotiateTLS(false)
	cl.startTLS(&tls.Config{RootCAs: c.CACertPool(), ServerName: "127.0.0.1"}, false)
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLInitiate).b(3, []byte("\x00u\x00p")).m(4, msgb(nil).s(2, "PLAIN"))))
	refusal(t, cl, FatalUnauthorized, "unauthenticated connections from publicly routable IPs are prohibited")

	// GSSAPI without a keytab, and with a token that is no AP-REQ.
	c = New(t, WithOnlyGSSAPI())
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, stepNegotiate)))
	cl.mustRead()
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLInitiate).b(3, []byte{0x60, 0}).m(4, msgb(nil).s(2, "GSSAPI"))))
	refusal(t, cl, FatalUnauthorized, "no Kerberos keytab")

	if _, err := Start(WithTrustedSubnets("10.0.0.0/33")); err == nil {
		t.Error("Start accepted a bad subnet")
	}
	if _, err := Start(WithKerberos("/nonexistent/keytab", "kudu/127.0.0.1")); err == nil {
		t.Error("Start accepted a missing keytab")
	}
}

// gssHandshake runs SASL GSSAPI by hand with gokrb5's own token builders
// up to the security layer answer, choosing layer, and returns the
// client's wrap key and the SASL_SUCCESS message (or the refusal).
func gssHandshake(t *testing.T, cl *client, krb *krbclient.Client, layer byte) (types.EncryptionKey, response) {
	t.Helper()
	tkt, key, err := krb.GetServiceTicket("kudu/127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := spnego.NewKRB5TokenAPREQ(krb, tkt, key,
		[]int{gssapi.ContextFlagMutual, gssapi.ContextFlagInteg}, []int{flags.APOptionMutualRequired})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLInitiate).b(3, b).m(4, msgb(nil).s(2, "GSSAPI"))))
	r := cl.mustRead()
	d := decode(t, r.body)
	if r.isErr || d.u(2) != stepSASLChallenge {
		t.Fatalf("answer to the AP-REQ: %+v %q", r, d.b(1))
	}
	var rep spnego.KRB5Token
	if err := rep.Unmarshal(d.b(3)); err != nil || !rep.IsAPRep() {
		t.Fatalf("the challenge is no AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.APRep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("the AP-REP does not decrypt with the session key: %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil || part.Subkey.KeyType == 0 {
		t.Fatalf("AP-REP part %+v: %v", part, err)
	}
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLResponse).b(3, nil)))
	r = cl.mustRead()
	d = decode(t, r.body)
	if r.isErr || d.u(2) != stepSASLChallenge {
		t.Fatalf("answer to the empty response: %+v", r)
	}
	var offer gssapi.WrapToken
	if err := offer.Unmarshal(d.b(3), true); err != nil {
		t.Fatal(err)
	}
	if ok, err := offer.Verify(part.Subkey, keyusage.GSSAPI_ACCEPTOR_SEAL); !ok {
		t.Fatalf("the offer does not verify with the acceptor subkey: %v", err)
	}
	if !bytes.Equal(offer.Payload, []byte{saslLayerIntegrity, 0xFF, 0xFF, 0xFF}) {
		t.Errorf("offer %x", offer.Payload)
	}
	// Tokens without the acceptor-subkey flag use the session key.
	wt, err := gssapi.NewInitiatorWrapToken([]byte{layer, 0, 0x10, 0}, key)
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := wt.Marshal()
	cl.write(frame(-33, "", "", msgb(nil).v(2, stepSASLResponse).b(3, wb)))
	return key, cl.mustRead()
}

func TestGSSAPIByHand(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddPrincipal("kudu/127.0.0.1")
	realm.AddPrincipal("alice")
	c := New(t, WithRequireTLS(), WithKerberos(realm.Keytab("", "kudu/127.0.0.1"), "kudu/127.0.0.1"))
	krb := realm.Client(t, "alice", realm.Keytab("", "alice"))
	start := func(t *testing.T) *client {
		cl := dialRaw(t, c.MasterAddrs()[0])
		d := cl.negotiateTLS(false)
		if len(d[4]) != 1 || string(decode(t, d[4][0].b).b(2)) != "GSSAPI" {
			t.Fatalf("mechanisms %v", d[4])
		}
		cl.startTLS(&tls.Config{RootCAs: c.CACertPool(), ServerName: "127.0.0.1"}, false)
		return cl
	}

	t.Run("no security layer", func(t *testing.T) {
		_, r := gssHandshake(t, start(t), krb, saslLayerNone)
		d := decode(t, r.body)
		if !r.isErr || d.u(2) != uint64(FatalUnauthorized) || !strings.Contains(string(d.b(1)), "integrity protection (0x2) is required") {
			t.Errorf("layer none: %+v %q", r, d.b(1))
		}
	})
	t.Run("no nonce", func(t *testing.T) {
		cl := start(t)
		_, r := gssHandshake(t, cl, krb, saslLayerIntegrity)
		if d := decode(t, r.body); r.isErr || d.u(2) != stepSASLSuccess || !d.has(9) || !d.has(6) {
			t.Fatalf("SASL_SUCCESS: %+v", r)
		}
		cl.write(frame(-3, "", "", nil))
		refusal(t, cl, FatalUnauthorized, "wrapped nonce missing")
	})
	t.Run("wrong nonce", func(t *testing.T) {
		cl := start(t)
		key, _ := gssHandshake(t, cl, krb, saslLayerIntegrity)
		cl.write(frame(-3, "", "", msgb(nil).b(3, saslFrame(t, []byte("not the nonce"), key))))
		refusal(t, cl, FatalUnauthorized, "nonce mismatch")
	})
	t.Run("complete", func(t *testing.T) {
		cl := start(t)
		key, r := gssHandshake(t, cl, krb, saslLayerIntegrity)
		d := decode(t, r.body)
		cl.write(frame(-3, "", "", msgb(nil).b(3, saslFrame(t, d.b(9), key))))
		if r := cl.call(masterService, "ListTables", nil); r.isErr {
			t.Fatalf("ListTables: %v", decode(t, r.body))
		}
		n := c.Negotiations()
		if len(n) != 1 || n[0].User != "alice@"+realm.Realm() || !n[0].Nonce || !n[0].ChannelBindings || n[0].Mechanism != "GSSAPI" {
			t.Errorf("negotiations %+v", n)
		}
	})
}

// saslFrame is a SASL security layer message: the length, then an
// integrity wrap token of p.
func saslFrame(t *testing.T, p []byte, key types.EncryptionKey) []byte {
	t.Helper()
	wt, err := gssapi.NewInitiatorWrapToken(p, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}
