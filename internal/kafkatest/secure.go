package kafkatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Secure says how NewSecure secures a cluster.
type Secure struct {
	// TLS makes the brokers listen with TLS, with a certificate for
	// 127.0.0.1 and localhost signed by a CA made for the test.
	TLS bool
	// ClientCert makes the brokers require a client certificate signed
	// by that CA (mutual TLS); it implies TLS. The cluster makes one for
	// the clients (Security.ClientCertFile and ClientKeyFile).
	ClientCert bool
	// Mechanism turns SASL on: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	// (kfake has no GSSAPI). User and Password are its superuser; an
	// empty Password is "kafkatest-password".
	Mechanism, User, Password string
}

// Security is how the clients of a cluster made by NewSecure connect:
// files written into the test's temporary directory, and the SASL
// credentials.
type Security struct {
	// CAFile is the PEM file of the CA that signed the brokers'
	// certificates; empty without TLS.
	CAFile string
	// ClientCertFile and ClientKeyFile are a client certificate and key
	// signed by the CA, made with Secure.ClientCert.
	ClientCertFile, ClientKeyFile string
	// Mechanism, User and Password are the SASL superuser's; PasswordFile
	// holds Password and a newline.
	Mechanism, User, Password, PasswordFile string
	// TLSConfig is the clients' TLS configuration (nil without TLS).
	TLSConfig *tls.Config
}

// Flags returns the command-line flags of package security
// (Kafka.RegisterFlags) for these settings: -kafka-tls-ca, and with SASL
// -kafka-sasl-mechanism, -kafka-sasl-user and -kafka-sasl-password-file.
func (s *Security) Flags() []string {
	var out []string
	if s.CAFile != "" {
		out = append(out, "-kafka-tls-ca", s.CAFile)
	}
	if s.ClientCertFile != "" {
		out = append(out, "-kafka-tls-cert", s.ClientCertFile, "-kafka-tls-key", s.ClientKeyFile)
	}
	if s.Mechanism != "" {
		out = append(out, "-kafka-sasl-mechanism", s.Mechanism, "-kafka-sasl-user", s.User, "-kafka-sasl-password-file", s.PasswordFile)
	}
	return out
}

// ClientOptions returns the franz-go options that connect to the
// cluster: TLS trusting the CA, and SASL as the superuser.
func (s *Security) ClientOptions() []kgo.Opt {
	var opts []kgo.Opt
	if s.TLSConfig != nil {
		opts = append(opts, kgo.DialTLSConfig(s.TLSConfig.Clone()))
	}
	if m := mechanism(s.Mechanism, s.User, s.Password); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts
}

// mechanism returns the franz-go mechanism of name with user and pass,
// nil for "".
func mechanism(name, user, pass string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	return nil
}

// NewSecure is New with the brokers secured as s says: TLS with a CA of
// the test's own, and SASL with one superuser. The cluster's Client and
// the helpers that use it (Produce, ReadAll, Committed, ...) connect with
// those credentials; Sec holds the files and credentials for the code
// under test.
func NewSecure(t testing.TB, topics map[string]int32, s Secure, opts ...kfake.Opt) *Cluster {
	t.Helper()
	dir := t.TempDir()
	sec := &Security{}
	var kopts []kfake.Opt
	if s.TLS || s.ClientCert {
		kopts = append(kopts, listenTLS(t, dir, s.ClientCert, sec))
	}
	if s.Mechanism != "" {
		if mechanism(s.Mechanism, "u", "p") == nil {
			t.Fatalf("kafkatest: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
		}
		sec.Mechanism, sec.User, sec.Password = s.Mechanism, s.User, s.Password
		if sec.User == "" {
			sec.User = "kafkatest"
		}
		if sec.Password == "" {
			sec.Password = "kafkatest-password"
		}
		sec.PasswordFile = filepath.Join(dir, "kafka-password")
		if err := os.WriteFile(sec.PasswordFile, []byte(sec.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		kopts = append(kopts, kfake.EnableSASL(), kfake.Superuser(sec.Mechanism, sec.User, sec.Password))
	}
	c := New(t, topics, append(kopts, opts...)...)
	c.Sec = sec
	c.clientOpts = sec.ClientOptions()
	return c
}

// listenTLS makes a CA whose certificate it writes to dir/ca.pem, and a
// broker certificate it signs; with clientCert, a client certificate too,
// written to dir, that the brokers then require (mutual TLS). It fills
// sec's CAFile, ClientCertFile, ClientKeyFile and TLSConfig and returns
// the kfake option that makes the brokers listen with TLS.
func listenTLS(t testing.TB, dir string, clientCert bool, sec *Security) kfake.Opt {
	t.Helper()
	ca := NewCA(t)
	sec.CAFile = ca.WriteCert(t, filepath.Join(dir, "ca.pem"))
	server := ca.Issue(t, "kafkatest broker", false)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{server}}
	sec.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	if clientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = ca.Pool()
		client := ca.Issue(t, "kafkatest client", true)
		sec.ClientCertFile, sec.ClientKeyFile = WriteKeyPair(t, client, filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
		pair, err := tls.LoadX509KeyPair(sec.ClientCertFile, sec.ClientKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		sec.TLSConfig.Certificates = []tls.Certificate{pair}
	}
	return kfake.TLS(cfg)
}

// CA is a certificate authority made for a test.
type CA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA named "kafkatest CA", valid for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	return newCA(t, "kafkatest CA")
}

func newCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, der: der, key: key}
}

// Pool returns a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// WriteCert writes the CA's certificate as PEM to path and returns path.
func (ca *CA) WriteCert(t testing.TB, path string) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue returns a certificate signed by the CA for 127.0.0.1, ::1 and
// localhost: a server certificate, or a client one.
func (ca *CA) Issue(t testing.TB, name string, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// UntrustedCAFile writes the certificate of a CA that signed nothing of
// the cluster's into the test's temporary directory and returns its
// path: a client trusting only it refuses the brokers' certificates.
func UntrustedCAFile(t testing.TB) string {
	t.Helper()
	return newCA(t, "kafkatest untrusted CA").WriteCert(t, filepath.Join(t.TempDir(), "untrusted-ca.pem"))
}

// WriteKeyPair writes a certificate and its key as PEM files and returns
// their paths.
func WriteKeyPair(t testing.TB, c tls.Certificate, certPath, keyPath string) (string, string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// serial returns a random certificate serial number.
func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
