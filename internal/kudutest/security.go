package kudutest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// This file holds the servers' security settings: TLS, Kerberos and the
// trusted subnets, and what each connection negotiated.

// DefaultTrustedSubnets are the address blocks, comma-separated, that the
// servers trust with unencrypted or unauthenticated connections unless
// WithTrustedSubnets says otherwise: Kudu's default --trusted_subnets
// (server_negotiation.cc). Kudu also trusts the subnets of the server's
// own network interfaces when the flag is not set; kudutest does not.
const DefaultTrustedSubnets = "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,::1/128,fe80::/10,fd00::/8"

// WithTLS gives every server a TLS certificate for 127.0.0.1, ::1 and
// localhost, signed by a CA made for the cluster (CACertPool, CACertPEM):
// the servers offer TLS in NEGOTIATE, as Kudu's servers do with their
// internal CA's certificates and --rpc_encryption=optional, and a client
// that offers it too runs the TLS handshake inside TLS_HANDSHAKE
// messages. A client that does not offer TLS still gets plaintext.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithTLSCertificate makes the servers present cert instead of one of the
// cluster's CA (a certificate the client does not trust, say). It implies
// WithTLS.
func WithTLSCertificate(cert tls.Certificate) Option {
	return func(c *config) { c.tls, c.cert = true, &cert }
}

// WithRequireTLS makes every server behave like one started with
// --rpc_encryption=required: it implies WithTLS, and a client that does not
// offer TLS in NEGOTIATE gets FATAL_UNAUTHORIZED "client does not support
// required TLS encryption".
func WithRequireTLS() Option { return func(c *config) { c.tls, c.requireTLS = true, true } }

// WithLoopbackTLSAuthOnly makes the servers advertise
// TLS_AUTHENTICATION_ONLY to loopback peers, as Kudu's servers do unless
// --rpc_encrypt_loopback_connections is set: with a client that
// advertises it too, TLS only authenticates, and the rest of the
// negotiation and the calls go in plaintext. Without this option
// (kudutest's default, unlike Kudu's) TLS connections stay encrypted.
func WithLoopbackTLSAuthOnly() Option { return func(c *config) { c.authOnly = true } }

// WithKerberos makes the servers require Kerberos, like Kudu servers
// started with --keytab_file and --rpc_authentication=required: they
// offer only the GSSAPI SASL mechanism and accept a client whose AP-REQ
// carries a ticket for principal (like "kudu/127.0.0.1", realm optional)
// that the key in the keytab file at keytabPath opens (gokrb5's
// service.VerifyAPREQ). Then, as Kudu does through Cyrus SASL: the AP-REP
// (mutual authentication, with an acceptor subkey), the RFC 4752 security
// layer exchange (integrity protection required), and SASL_SUCCESS with a
// nonce and, over TLS, the tls-server-end-point channel bindings of the
// server's certificate, both integrity-protected; the client must return
// the nonce, integrity-protected, in its ConnectionContextPB. Start fails
// if the keytab cannot be read.
func WithKerberos(keytabPath, principal string) Option {
	return func(c *config) { c.keytabPath, c.principal = keytabPath, principal }
}

// WithTrustedSubnets sets the address blocks (CIDR) the servers trust
// with connections that are not encrypted or not authenticated, Kudu's
// --trusted_subnets (KUDU-1875); DefaultTrustedSubnets when not given.
// From any other address, a connection that did not negotiate TLS is
// refused after NEGOTIATE ("unencrypted connections from publicly
// routable IPs are prohibited"), and SASL PLAIN is refused even over TLS
// ("unauthenticated connections ..."). The test servers listen on
// 127.0.0.1: WithTrustedSubnets("10.0.0.0/8") makes their clients
// untrusted, as a client on the internet is. Start fails on a bad block.
func WithTrustedSubnets(cidrs ...string) Option {
	return func(c *config) { c.trusted, c.trustedSet = slices.Clone(cidrs), true }
}

// WithBadChannelBindings makes the servers send channel bindings that do
// not match their certificate (Kudu's
// --rpc_inject_invalid_channel_bindings_ratio), as a man in the middle
// that relays the Kerberos exchange over its own TLS connection would: a
// client that checks them must refuse the connection.
func WithBadChannelBindings() Option { return func(c *config) { c.badBindings = true } }

// Negotiation is what one connection negotiated.
type Negotiation struct {
	Server     string // "master0", "tserver1", ...
	Peer       string // the client's address
	TLS        bool   // a TLS handshake ran
	TLSVersion uint16 // tls.VersionTLS12, tls.VersionTLS13
	AuthOnly   bool   // TLS for authentication only: the calls are in plaintext
	Mechanism  string // the SASL mechanism: "PLAIN" or "GSSAPI"
	User       string // the PLAIN user, or the Kerberos principal, name@REALM
	// ChannelBindings says that the server sent channel bindings (GSSAPI
	// over TLS), and Nonce that the client returned the server's nonce.
	ChannelBindings, Nonce bool
}

// Negotiations returns what the connections that completed negotiation
// negotiated, in order.
func (c *Cluster) Negotiations() []Negotiation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.negotiations)
}

// CACertPool returns a pool holding the cluster's CA certificate (nil
// without WithTLS), for a client's tls.Config.RootCAs.
func (c *Cluster) CACertPool() *x509.CertPool {
	if c.sec.caCert == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(c.sec.caCert)
	return p
}

// CACertPEM returns the cluster's CA certificate in PEM (nil without
// WithTLS), for a client that reads a CA file.
func (c *Cluster) CACertPEM() []byte {
	if c.sec.caCert == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.sec.caCert.Raw})
}

// security is what the servers need of their security settings at run
// time.
type security struct {
	tls      *tls.Config // nil without TLS
	leaf     *x509.Certificate
	caCert   *x509.Certificate
	trusted  []netip.Prefix
	keytab   *keytab.Keytab // nil without Kerberos
	service  []string       // the principal's name components
	svcRealm string         // its realm, "" for any
}

// setupSecurity prepares the security settings of cfg.
func setupSecurity(cfg *config) (security, error) {
	var sec security
	nets := strings.Split(DefaultTrustedSubnets, ",")
	if cfg.trustedSet {
		nets = cfg.trusted
	}
	for _, n := range nets {
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			return sec, fmt.Errorf("trusted subnet %q: %w", n, err)
		}
		sec.trusted = append(sec.trusted, p.Masked())
	}
	if cfg.tls {
		cert := cfg.cert
		if cert == nil {
			ca, leaf, err := newCertificates()
			if err != nil {
				return sec, fmt.Errorf("TLS certificates: %w", err)
			}
			sec.caCert, cert = ca, leaf
		}
		if len(cert.Certificate) == 0 {
			return sec, errors.New("TLS certificate without a certificate")
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return sec, fmt.Errorf("TLS certificate: %w", err)
		}
		sec.leaf = leaf
		sec.tls = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.keytabPath != "" {
		kt, err := loadKeytab(cfg.keytabPath)
		if err != nil {
			return sec, fmt.Errorf("keytab %s: %w", cfg.keytabPath, err)
		}
		sec.keytab = kt
		name, realm, _ := strings.Cut(cfg.principal, "@")
		if name == "" {
			return sec, fmt.Errorf("Kerberos principal %q: want service/host[@REALM]", cfg.principal)
		}
		sec.service, sec.svcRealm = strings.Split(name, "/"), realm
	}
	return sec, nil
}

// loadKeytab reads a keytab; a parser panic on a damaged file is an error.
func loadKeytab(path string) (kt *keytab.Keytab, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("damaged keytab: %v", p)
		}
	}()
	kt = keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, err
	}
	return kt, nil
}

// newCertificates makes a CA and a server certificate it signs, for
// 127.0.0.1, ::1 and localhost, valid from an hour ago for a day.
func newCertificates() (*x509.Certificate, *tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		return n
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kudutest CA " + newID()[:8]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kudutest server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	return ca, &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// trustedPeer reports whether the peer address is in a trusted subnet.
func (sec *security) trustedPeer(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range sec.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
