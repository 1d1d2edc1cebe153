package ui_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/ui"
)

// selfSigned returns a certificate for 127.0.0.1 and the pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "status page"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// The assets are served, never a listing of them.
func TestStaticHasNoListing(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	web := newWeb(t, srv)
	for path, want := range map[string]int{
		"/static/app.js":    http.StatusOK,
		"/static/style.css": http.StatusOK,
		"/static/":          http.StatusNotFound,
		"/static":           http.StatusNotFound,
		"/static/nope.js":   http.StatusNotFound,
		"/static/../ui.go":  http.StatusNotFound,
	} {
		resp, err := http.Get(web + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if bytes.Contains(body, []byte("<a href=")) && strings.HasSuffix(path, "/") {
			t.Errorf("GET %s lists files:\n%s", path, body)
		}
	}
}

// With WithTLS the page is served over HTTPS only; an address without a
// host listens on loopback; an address on every interface over plain
// HTTP is warned about.
func TestServeTLSAndLoopback(t *testing.T) {
	cert, pool := selfSigned(t)
	srv, err := ui.New(time.Second, ui.WithLogger(quiet), ui.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	url, done, err := srv.Start(ctx, ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("url %q, want https on 127.0.0.1", url)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := cl.Get(url + "healthz")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http" + strings.TrimPrefix(url, "https") + "healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
	if _, err := ui.New(time.Second, ui.WithTLS(&tls.Config{})); err == nil {
		t.Error("WithTLS without a certificate was accepted")
	}

	var logs bytes.Buffer
	plain, err := ui.New(time.Second, ui.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	url2, done2, err := plain.Start(ctx2, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel2()
	<-done2
	if !strings.HasPrefix(url2, "http://localhost:") || !strings.Contains(logs.String(), "plain HTTP on a non-loopback address") {
		t.Errorf("every interface: url %q, logs %q", url2, logs.String())
	}
	if _, _, err := plain.Start(context.Background(), "4040"); err == nil || !strings.Contains(err.Error(), "want host:port") {
		t.Errorf("an address without a port: %v", err)
	}
}
