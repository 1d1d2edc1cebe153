// Package kafkaprobe asks Kafka brokers for metadata once, the start-up
// check of the Kafka direct stream, sink and collector, and says plainly
// why brokers that answer refused the client: SASL authentication that
// failed, a TLS handshake that failed (an untrusted certificate, a wrong
// server name, a client certificate missing), a broker that expects TLS or
// SASL the client does not use. Such a refusal is no outage: retrying
// never fixes it, so a check fails at once on it, with one error.
package kafkaprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Metadata sends a metadata request for topics (none: only the brokers)
// to every seed broker at once, with a client of its own made with opts
// and closed before it returns, and returns the first answer. Its client
// logs nothing: what it finds is the caller's one error.
//
// A broker that cannot be reached is not retried: the error says "no
// broker reachable: " and why, per broker. A broker that refused the
// client's security settings gives a *Refusal instead (see Refused),
// whatever the other brokers did: it is what must be fixed.
func Metadata(ctx context.Context, opts []kgo.Opt, topics []string) (*kmsg.MetadataResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before Close: nothing in flight is waited for
	w := &watch{}
	quiet := kgo.WithLogger(kgo.BasicLogger(io.Discard, kgo.LogLevelNone, nil))
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.DisableClientMetrics(), quiet, kgo.WithHooks(w))...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	mechanism := ""
	if ms, ok := cl.OptValue(kgo.SASL).([]sasl.Mechanism); ok && len(ms) > 0 {
		mechanism = ms[0].Name()
	}

	newReq := func() *kmsg.MetadataRequest { // one per broker: a request takes the broker's version
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{} // empty, not nil (all topics)
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
		req.AllowAutoTopicCreation = false
		return req
	}
	type answer struct {
		resp *kmsg.MetadataResponse
		err  error
	}
	seeds := cl.SeedBrokers()
	answers := make(chan answer, len(seeds))
	for _, b := range seeds {
		go func() {
			resp, err := b.Request(ctx, newReq())
			if err != nil {
				answers <- answer{err: err}
				return
			}
			answers <- answer{resp: resp.(*kmsg.MetadataResponse)}
		}()
	}
	var errs []string
	var refusal *Refusal
	for range seeds {
		a := <-answers
		if a.err == nil {
			return a.resp, nil
		}
		if r := w.explain(a.err, mechanism); r != nil {
			if refusal == nil {
				refusal = r
			}
			continue
		}
		if e := dialError(a.err).Error(); !slices.Contains(errs, e) {
			errs = append(errs, e)
		}
	}
	if refusal != nil {
		return nil, refusal
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	slices.Sort(errs)
	return nil, fmt.Errorf("no broker reachable: %s", strings.Join(errs, "; "))
}

// Refusal is an answer of brokers that no retry changes: they refused the
// client's credentials, or the TLS handshake failed, or they expect TLS
// or SASL that the client does not use. Its message says why in one
// line, without the credentials; it wraps the client's error, and for a
// failed SASL authentication kerr.SaslAuthenticationFailed.
type Refusal struct {
	msg  string
	errs []error
}

// Error says why the brokers refused the client.
func (r *Refusal) Error() string { return r.msg }

// Unwrap returns the causes.
func (r *Refusal) Unwrap() []error { return r.errs }

// Refused reports whether err is, or wraps, a *Refusal.
func Refused(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// watch is the probe client's hook: it sees how far each connection's
// SASL exchange went, to tell a broker that closed the connection on a
// bad password from one that went away.
type watch struct {
	mu sync.Mutex
	// handshakeOK: a broker accepted the SASL mechanism (SaslHandshake);
	// authSent: a SaslAuthenticate request was written; authClosed: its
	// response could not be read (the broker closed the connection, as
	// kfake and some brokers do on bad credentials). A handshake without
	// a SaslAuthenticate is a mechanism that failed on the client's side
	// before sending anything (a Kerberos login that failed, say).
	handshakeOK, authSent, authClosed bool
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (w *watch) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.SASLAuthenticate) && err == nil {
		w.mu.Lock()
		w.authSent = true
		w.mu.Unlock()
	}
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (w *watch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case key == int16(kmsg.SASLHandshake) && err == nil:
		w.handshakeOK = true
	case key == int16(kmsg.SASLAuthenticate) && err != nil:
		w.authClosed = true
	}
}

// explain returns the *Refusal that err is, or nil for an error that may
// pass (a broker down, a timeout).
func (w *watch) explain(err error, mechanism string) *Refusal {
	w.mu.Lock()
	handshakeOK, authSent, authClosed := w.handshakeOK, w.authSent, w.authClosed
	w.mu.Unlock()
	refuse := func(msg string, errs ...error) *Refusal { return &Refusal{msg: msg, errs: append(errs, err)} }

	// SASL.
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		msg := fmt.Sprintf("SASL authentication failed: invalid credentials (mechanism %s)", mechanism)
		if said := brokerMessage(err); said != "" {
			msg += ": the broker says: " + said
		}
		return refuse(msg)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return refuse(fmt.Sprintf("SASL authentication failed: the brokers do not enable mechanism %s", mechanism))
	case errors.Is(err, kerr.IllegalSaslState):
		return refuse(fmt.Sprintf("SASL authentication failed: the brokers refused the %s exchange (%v)", mechanism, err))
	case mechanism != "" && authClosed && isClosed(err):
		return refuse(fmt.Sprintf("SASL authentication failed: invalid credentials (mechanism %s; the broker closed the connection)", mechanism), kerr.SaslAuthenticationFailed)
	case mechanism != "" && handshakeOK && !authSent && !isNetwork(err):
		// The mechanism failed on the client's side, before sending
		// anything: a Kerberos login, a ticket for the brokers' service.
		return refuse(fmt.Sprintf("SASL %s: %v", mechanism, err))
	}

	// TLS.
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var op *net.OpError
	switch {
	case errors.As(err, &verify):
		return refuse("TLS: " + verification(verify.Err))
	case errors.As(err, &header):
		return refuse("TLS: the broker did not answer with TLS (is its listener plaintext?)")
	case errors.As(err, &op) && op.Op == "remote error":
		return refuse(fmt.Sprintf("TLS: the broker refused the handshake: %v (does it require a client certificate?)", op.Err))
	}

	// A broker expecting what the client does not do: franz-go's guess
	// says which ("is TLS missing?", "is SASL missing?").
	var first *kgo.ErrFirstReadEOF
	if errors.As(err, &first) {
		return refuse(first.Error())
	}
	return nil
}

// verification says why a certificate was not trusted, without the
// "x509: " prefix.
func verification(err error) string {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		if unknown.Cert != nil {
			return fmt.Sprintf("certificate signed by unknown authority (the broker's certificate %q is issued by %q)",
				unknown.Cert.Subject.String(), unknown.Cert.Issuer.String())
		}
		return "certificate signed by unknown authority"
	}
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// brokerMessage returns the message a broker gave with its error code
// (franz-go's "CODE: message" after the code's own text), or "".
func brokerMessage(err error) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return ""
	}
	s := err.Error()
	i := strings.Index(s, ke.Error())
	if i < 0 {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(s[i+len(ke.Error()):]), ": ")
}

// isClosed reports whether err is a connection the broker closed.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// isNetwork reports whether err is a network failure: a closed
// connection, a timeout, a reset.
func isNetwork(err error) bool {
	var op *net.OpError
	return isClosed(err) || errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// dialError returns the network error inside err, which names the
// address and the cause ("dial tcp 127.0.0.1:1: connect: connection
// refused"), without franz-go's wrapping; other errors as they are.
func dialError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	return err
}
