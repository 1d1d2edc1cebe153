package kudu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestConnectionHeaderBytes(t *testing.T) {
	checkBytes(t, "connection header", []byte(connectionHeader), []byte{'h', 'r', 'p', 'c', 9, 0, 0})
}

// The exact bytes the client writes during negotiation, by hand.
func TestNegotiationBytes(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	defer srv.Close()
	var rec bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := serverNegotiate(bufio.NewReader(io.TeeReader(srv, &rec)), srv, plainReply)
		done <- err
	}()
	if _, err := negotiate(context.Background(), cli, "pipe", connConfig{user: "alice", password: "secret"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	negHdr := []byte{0x18, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01} // call_id=-33
	negBody := []byte{
		0x08, 0x01, // supported_features: APPLICATION_FEATURE_FLAGS
		0x10, 0x01, // step: NEGOTIATE
		0x22, 0x07, 0x12, 0x05, 'P', 'L', 'A', 'I', 'N', // sasl_mechanisms {mechanism: PLAIN}
		0x3a, 0x02, 0x0a, 0x00, // authn_types {sasl {}}
	}
	saslBody := []byte{
		0x10, 0x02, // step: SASL_INITIATE
		0x1a, 0x0d, 0, 'a', 'l', 'i', 'c', 'e', 0, 's', 'e', 'c', 'r', 'e', 't', // token
		0x22, 0x07, 0x12, 0x05, 'P', 'L', 'A', 'I', 'N',
	}
	ctxHdr := []byte{0x18, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01} // call_id=-3
	var want []byte
	want = append(want, "hrpc\x09\x00\x00"...)
	want = append(want, 0, 0, 0, 30, 11)
	want = append(want, negHdr...)
	want = append(want, 17)
	want = append(want, negBody...)
	want = append(want, 0, 0, 0, 39, 11)
	want = append(want, negHdr...)
	want = append(want, 26)
	want = append(want, saslBody...)
	want = append(want, 0, 0, 0, 13, 11)
	want = append(want, ctxHdr...)
	want = append(want, 0) // empty ConnectionContextPB
	checkBytes(t, "negotiation", rec.Bytes(), want)

	// Decode NEGOTIATE back field by field with protowire.
	type fv struct {
		num protowire.Number
		typ protowire.Type
		val []byte
		u   uint64
	}
	decode := func(b []byte) []fv {
		var out []fv
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				t.Fatalf("tag: %v", protowire.ParseError(n))
			}
			b = b[n:]
			f := fv{num: num, typ: typ}
			if typ == protowire.VarintType {
				f.u, n = protowire.ConsumeVarint(b)
			} else {
				f.val, n = protowire.ConsumeBytes(b)
			}
			if n < 0 {
				t.Fatalf("value: %v", protowire.ParseError(n))
			}
			b = b[n:]
			out = append(out, f)
		}
		return out
	}
	got := decode(negBody)
	if len(got) != 4 || got[0].num != 1 || got[0].u != 1 || got[1].num != 2 || got[1].u != 1 ||
		got[2].num != 4 || got[3].num != 7 {
		t.Fatalf("NEGOTIATE fields %+v", got)
	}
	if m := decode(got[2].val); len(m) != 1 || m[0].num != 2 || string(m[0].val) != "PLAIN" {
		t.Errorf("sasl mechanism %+v", m)
	}
	if a := decode(got[3].val); len(a) != 1 || a[0].num != 1 || len(a[0].val) != 0 {
		t.Errorf("authn type %+v", a)
	}
	h := decode(negHdr)
	if len(h) != 1 || h[0].num != 3 || int32(int64(h[0].u)) != -33 {
		t.Errorf("header %+v", h)
	}
	s := decode(saslBody)
	if len(s) != 3 || s[0].u != 2 || s[1].num != 3 || string(s[1].val) != "\x00alice\x00secret" {
		t.Errorf("SASL_INITIATE %+v", s)
	}
}

func TestNegotiationWithFakePeer(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		reply    negotiateReply
		security bool
		substr   string
	}{
		{"plain", plainReply, false, ""},
		{"plain, no authn types (old server)", negotiateReply{mechanisms: []string{"PLAIN"}}, false, ""},
		{"tls required", negotiateReply{errCode: RPCFatalUnauthorized, errMsg: "Not authorized: client does not support required TLS encryption"}, true, "TLS"},
		{"gssapi only", negotiateReply{features: []uint64{1, 2}, mechanisms: []string{"GSSAPI"}, authn: 1}, true, "GSSAPI"},
		{"token authn", negotiateReply{features: []uint64{1, 2}, authn: 2}, true, "token"},
		{"certificate authn", negotiateReply{features: []uint64{1, 2}, authn: 3}, true, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t, tc.reply, func(reqHeader, []byte) ([]byte, *RPCError) { return nil, nil })
			c, err := dialConn(ctx, s.addr, connConfig{user: "bob"})
			if !tc.security {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				// The server records the token once it has read the
				// connection context, after dialConn returned.
				for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					s.mu.Lock()
					n := len(s.tokens)
					s.mu.Unlock()
					if n > 0 {
						break
					}
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				if len(s.tokens) != 1 || string(s.tokens[0]) != "\x00bob\x00" {
					t.Errorf("tokens %q", s.tokens)
				}
				return
			}
			if !errors.Is(err, ErrUnsupportedSecurity) || !strings.Contains(err.Error(), tc.substr) {
				t.Fatalf("err = %v, want ErrUnsupportedSecurity mentioning %q", err, tc.substr)
			}
		})
	}
}

func TestOpenRefusesTLSOnlyCluster(t *testing.T) {
	s := newFakeServer(t, negotiateReply{errCode: RPCFatalUnauthorized, errMsg: "client does not support required TLS encryption"}, nil)
	start := time.Now()
	_, err := Open(context.Background(), []string{s.addr}, WithTimeout(5*time.Second))
	if !errors.Is(err, ErrUnsupportedSecurity) {
		t.Fatalf("Open: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("security error was retried for %v", time.Since(start))
	}
}

// scriptedPeer negotiates and hands the raw connection to fn.
func scriptedPeer(t *testing.T, fn func(br *bufio.Reader, w net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		if _, err := serverNegotiate(br, nc, plainReply); err != nil {
			t.Errorf("negotiate: %v", err)
			return
		}
		fn(br, nc)
	}()
	return ln.Addr().String()
}

func TestCallMultiplexingOutOfOrder(t *testing.T) {
	const n = 8
	addr := scriptedPeer(t, func(br *bufio.Reader, w net.Conn) {
		type call struct {
			h    reqHeader
			body []byte
		}
		var calls []call
		for i := 0; i < n; i++ {
			h, body, err := readReqFrame(br)
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			if h.service != "test.Service" || h.method != "Echo" {
				t.Errorf("remote method %q %q", h.service, h.method)
			}
			if i > 0 && h.callID <= calls[i-1].h.callID {
				t.Errorf("call ids not increasing: %d after %d", h.callID, calls[i-1].h.callID)
			}
			calls = append(calls, call{h, body})
		}
		for i := n - 1; i >= 0; i-- { // answer in reverse order
			w.Write(respFrame(calls[i].h.callID, false, append([]byte("re:"), calls[i].body...)))
		}
	})
	c, err := dialConn(context.Background(), addr, connConfig{user: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("m%d", i)
			got, err := c.call(context.Background(), "test.Service", "Echo", []byte(msg), nil, nil)
			if err != nil || string(got) != "re:"+msg {
				t.Errorf("call %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}

func TestCallTimeoutAndErrors(t *testing.T) {
	addr := scriptedPeer(t, func(br *bufio.Reader, w net.Conn) {
		// 1: never answered. 2: answered with SERVER_TOO_BUSY. 3: OK,
		// with required feature flags checked. 4: fatal error.
		h1, _, err := readReqFrame(br)
		if err != nil {
			return
		}
		if h1.timeoutMillis == 0 || h1.timeoutMillis > 100 {
			t.Errorf("timeout_millis = %d", h1.timeoutMillis)
		}
		h2, _, _ := readReqFrame(br)
		w.Write(respFrame(h2.callID, true, errorStatus(RPCErrorServerTooBusy, "busy")))
		h3, body, _ := readReqFrame(br)
		if len(h3.features) != 1 || h3.features[0] != 3 {
			t.Errorf("features %v", h3.features)
		}
		w.Write(respFrame(h3.callID, false, body))
		h4, _, _ := readReqFrame(br)
		w.Write(respFrame(h4.callID, true, errorStatus(RPCFatalServerShuttingDown, "bye")))
		io.Copy(io.Discard, br)
	})
	c, err := dialConn(context.Background(), addr, connConfig{user: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = c.call(ctx, "s", "m", []byte("1"), nil, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call 1: %v", err)
	}
	_, err = c.call(context.Background(), "s", "m", []byte("2"), nil, nil)
	var re *RPCError
	if !errors.As(err, &re) || re.Code != RPCErrorServerTooBusy || !re.Retryable() || !retryableCallErr(err) {
		t.Fatalf("call 2: %v", err)
	}
	got, err := c.call(context.Background(), "s", "m", []byte("3"), []uint32{3}, nil)
	if err != nil || string(got) != "3" {
		t.Fatalf("call 3: %q %v", got, err)
	}
	_, err = c.call(context.Background(), "s", "m", []byte("4"), nil, nil)
	if !errors.As(err, &re) || re.Code != RPCFatalServerShuttingDown {
		t.Fatalf("call 4: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !c.broken() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.call(context.Background(), "s", "m", nil, nil, nil); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("call after fatal error: %v", err)
	}
}

func TestPendingCallsFailWhenConnectionDrops(t *testing.T) {
	addr := scriptedPeer(t, func(br *bufio.Reader, w net.Conn) {
		readReqFrame(br)
		w.Close()
	})
	c, err := dialConn(context.Background(), addr, connConfig{user: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.call(context.Background(), "s", "m", nil, nil, nil)
	if !errors.Is(err, ErrConnectionClosed) || !retryableCallErr(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestHeaderBytes(t *testing.T) {
	h := requestHeader{callID: 5, service: "kudu.tserver.TabletServerService", method: "Write", timeoutMillis: 1000,
		requestID: &requestID{clientID: "c", seqNo: 2, firstIncompleteSeqNo: 1, attemptNo: 1}}
	b := h.marshal(nil)
	var want []byte
	want = append(want, 0x18, 5)
	want = append(want, 0x32, byte(2+32+2+5))
	want = append(want, 0x0a, 32)
	want = append(want, "kudu.tserver.TabletServerService"...)
	want = append(want, 0x12, 5)
	want = append(want, "Write"...)
	want = append(want, 0x50, 0xe8, 0x07) // timeout_millis 1000
	want = append(want, 0x7a, 9, 0x0a, 1, 'c', 0x10, 2, 0x18, 1, 0x20, 1)
	checkBytes(t, "RequestHeader", b, want)
	d, err := decodeReqHeader(b)
	if err != nil || d.callID != 5 || d.method != "Write" || d.timeoutMillis != 1000 || !d.hasRequestID {
		t.Errorf("decoded %+v %v", d, err)
	}
}
