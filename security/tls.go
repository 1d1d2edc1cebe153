package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLS is a client's TLS settings: the CAs it trusts, the certificate it
// presents, and the name the server's certificate must carry.
type TLS struct {
	// Enabled turns TLS on. Any other field set turns it on too.
	Enabled bool
	// CAFile is a PEM file of the CA certificates that sign the servers'
	// certificates. Empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM files of the client's certificate
	// (with its chain) and private key, for servers that require client
	// certificates (mutual TLS). Both or neither.
	CertFile, KeyFile string
	// ServerName is the name the servers' certificates must carry. Empty:
	// the host of the address dialled (the Kafka client sets it per
	// broker).
	ServerName string
}

// On reports whether TLS is on: Enabled, or any other field set.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// Validate checks the settings without reading the files: a client
// certificate needs its key and the key its certificate.
func (t TLS) Validate() error { return t.validate(goName("")) }

func (t TLS) validate(name func(string) string) error {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return fmt.Errorf("TLS: %s needs %s, the client certificate's private key", name("TLS.CertFile"), name("TLS.KeyFile"))
	case t.KeyFile != "" && t.CertFile == "":
		return fmt.Errorf("TLS: %s needs %s, the client certificate", name("TLS.KeyFile"), name("TLS.CertFile"))
	}
	return nil
}

// Config returns the client's tls.Config: at least TLS 1.2, the CAs of
// CAFile (else the system's), the key pair of CertFile and KeyFile, and
// ServerName. It reads the files now, and its errors name the file that
// is missing or bad. It returns nil and no error when TLS is off.
func (t TLS) Config() (*tls.Config, error) { return t.config(goName("")) }

func (t TLS) config(name func(string) string) (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	if err := t.validate(name); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: %s: %w", name("TLS.CAFile"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS: %s %s holds no PEM certificate", name("TLS.CAFile"), t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		certPEM, err := os.ReadFile(t.CertFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: %s: %w", name("TLS.CertFile"), err)
		}
		keyPEM, err := os.ReadFile(t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: %s: %w", name("TLS.KeyFile"), err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The error names no key material, only what is wrong.
			return nil, fmt.Errorf("TLS: client certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// goName names fields by their Go names under prefix: the names of
// errors of values not filled by flags.
func goName(prefix string) func(string) string {
	return func(field string) string { return prefix + field }
}
