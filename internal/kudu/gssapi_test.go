package kudu

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/big"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestAuthClockNeverRepeats(t *testing.T) {
	var c authClock
	now := time.Now()
	last := time.Time{}
	for range 1000 {
		got := c.next(now)
		if !got.After(last) {
			t.Fatalf("%v after %v", got, last)
		}
		last = got
	}
	if later := now.Add(time.Hour); !c.next(later).Equal(later.UTC().Truncate(time.Microsecond)) {
		t.Error("a later time is not used as is")
	}
}

func TestTLSServerEndPointHash(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg  x509.SignatureAlgorithm
		hash func([]byte) []byte
	}{
		{x509.ECDSAWithSHA256, func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }},
		{x509.ECDSAWithSHA384, func(b []byte) []byte { h := sha512.Sum384(b); return h[:] }},
		{x509.ECDSAWithSHA512, func(b []byte) []byte { h := sha512.Sum512(b); return h[:] }},
	} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: tc.alg}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tlsServerEndPoint(cert)
		if err != nil || !bytes.Equal(got, tc.hash(der)) {
			t.Errorf("%v: %x, %v", tc.alg, got, err)
		}
	}
}

// A wrap token whose sender rotated it (RRC, RFC 4121 section 4.2.5)
// unwraps to the same payload.
func TestUnwrapRotated(t *testing.T) {
	sub := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)}
	g := &gssClient{sessionKey: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)}, key: sub, acceptorSubkey: true}
	payload := []byte("channel bindings")
	wt := gssapi.WrapToken{Flags: wrapSentByAcceptor | wrapAcceptorSubkey, EC: 12, SndSeqNum: 3, Payload: payload}
	if err := wt.SetCheckSum(sub, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		t.Fatal(err)
	}
	tok, err := wt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, rrc := range []int{0, 5, 12, 28, 40} {
		body := tok[16:]
		r := rrc % len(body)
		rot := append(bytes.Clone(body[len(body)-r:]), body[:len(body)-r]...) // rotated right by rrc
		rt := append(bytes.Clone(tok[:16]), rot...)
		binary.BigEndian.PutUint16(rt[6:8], uint16(rrc))
		got, err := g.unwrap(rt)
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("RRC %d: %q, %v", rrc, got, err)
		}
	}
	// A flipped bit fails the checksum; a sealed token is refused.
	bad := bytes.Clone(tok)
	bad[20] ^= 1
	if _, err := g.unwrap(bad); err == nil {
		t.Error("a corrupted token unwrapped")
	}
	sealed := bytes.Clone(tok)
	sealed[2] |= wrapSealed
	if _, err := g.unwrap(sealed); err == nil {
		t.Error("a sealed token unwrapped")
	}
}
