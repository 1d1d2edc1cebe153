package kudutest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The helpers here build request frames by hand with protowire, without
// the server's own encoder, so that tests check the server against an
// independent rendering of the field numbers.

// msgb builds a protobuf message.
type msgb []byte

func (m msgb) v(n protowire.Number, x uint64) msgb {
	m = protowire.AppendTag(m, n, protowire.VarintType)
	return protowire.AppendVarint(m, x)
}

func (m msgb) i(n protowire.Number, x int64) msgb { return m.v(n, uint64(x)) }

func (m msgb) b(n protowire.Number, x []byte) msgb {
	m = protowire.AppendTag(m, n, protowire.BytesType)
	return protowire.AppendBytes(m, x)
}

func (m msgb) s(n protowire.Number, x string) msgb { return m.b(n, []byte(x)) }

func (m msgb) m(n protowire.Number, x msgb) msgb { return m.b(n, x) }

// decoded is a parsed message: field number -> values (varints and fixed
// values in u, bytes in b).
type decoded map[protowire.Number][]rawValue

type rawValue struct {
	u uint64
	b []byte
}

func decode(t testing.TB, b []byte) decoded {
	t.Helper()
	out := decoded{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag in %x", b)
		}
		b = b[n:]
		var rv rawValue
		switch typ {
		case protowire.VarintType:
			rv.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			rv.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			rv.b, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
		if n < 0 {
			t.Fatalf("bad field %d", num)
		}
		b = b[n:]
		out[num] = append(out[num], rv)
	}
	return out
}

func (d decoded) u(n protowire.Number) uint64 {
	if len(d[n]) == 0 {
		return 0
	}
	return d[n][0].u
}

func (d decoded) b(n protowire.Number) []byte {
	if len(d[n]) == 0 {
		return nil
	}
	return d[n][0].b
}

func (d decoded) has(n protowire.Number) bool { return len(d[n]) > 0 }

// client is a hand-rolled KRPC client connection.
type client struct {
	t    testing.TB
	nc   net.Conn
	r    *bufio.Reader
	next int32
}

func dialRaw(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// frame builds a request frame.
func frame(callID int32, service, method string, body []byte) []byte {
	h := msgb(nil).i(3, int64(callID))
	if service != "" {
		h = h.m(6, msgb(nil).s(1, service).s(2, method))
	}
	var payload []byte
	payload = protowire.AppendBytes(payload, h)
	payload = protowire.AppendBytes(payload, body)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// response is a decoded response frame.
type response struct {
	callID int32
	isErr  bool
	body   []byte
}

func (c *client) read() (response, error) {
	var lb [4]byte
	if _, err := io.ReadFull(c.r, lb[:]); err != nil {
		return response{}, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(lb[:]))
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return response{}, err
	}
	h, n := protowire.ConsumeBytes(buf)
	if n < 0 {
		c.t.Fatal("bad response header")
	}
	body, m := protowire.ConsumeBytes(buf[n:])
	if m < 0 || n+m != len(buf) {
		c.t.Fatal("bad response body")
	}
	hd := decode(c.t, h)
	return response{callID: int32(int64(hd.u(1))), isErr: hd.u(2) != 0, body: body}, nil
}

func (c *client) mustRead() response {
	c.t.Helper()
	r, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return r
}

// negotiate runs header, NEGOTIATE, SASL_INITIATE PLAIN and the
// connection context.
func (c *client) negotiate(user, password string) {
	c.t.Helper()
	c.write([]byte("hrpc\x09\x00\x00"))
	c.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1).m(4, msgb(nil).s(2, "PLAIN")).m(7, msgb(nil).m(1, nil))))
	r := c.mustRead()
	if r.isErr || r.callID != -33 {
		c.t.Fatalf("NEGOTIATE answer: %+v %s", r, decode(c.t, r.body).b(1))
	}
	c.write(frame(-33, "", "", msgb(nil).v(2, 2).b(3, []byte("\x00"+user+"\x00"+password)).m(4, msgb(nil).s(2, "PLAIN"))))
	r = c.mustRead()
	if r.isErr || decode(c.t, r.body).u(2) != 0 {
		c.t.Fatalf("SASL_INITIATE answer: %+v", r)
	}
	c.write(frame(-3, "", "", nil))
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c := dialRaw(t, addr)
	c.negotiate("tester", "pw")
	return c
}

// call makes one call and waits for its answer.
func (c *client) call(service, method string, body []byte) response {
	c.t.Helper()
	id := c.next
	c.next++
	c.write(frame(id, service, method, body))
	r := c.mustRead()
	if r.callID != id {
		c.t.Fatalf("answer for call %d, want %d", r.callID, id)
	}
	return r
}

func (c *client) master(method string, body []byte) decoded {
	c.t.Helper()
	r := c.call(masterService, method, body)
	if r.isErr {
		c.t.Fatalf("%s: rpc error %v", method, decode(c.t, r.body))
	}
	return decode(c.t, r.body)
}

// rowBuilder encodes row operations by hand.
type rowBuilder struct {
	ncols    int
	nullable bool
	rows     []byte
	indirect []byte
}

// tc is a test cell: column index and value (nil: NULL; string, []byte
// go to indirect data; otherwise raw fixed bytes given as fixed).
type tc struct {
	col int
	val any
}

type fixed []byte

func i32(v int32) fixed { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func i64(v int64) fixed { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

func (rb *rowBuilder) add(op OpType, cells ...tc) *rowBuilder {
	n := (rb.ncols + 7) / 8
	isset, nulls := make([]byte, n), make([]byte, n)
	for _, c := range cells {
		isset[c.col/8] |= 1 << (c.col % 8)
		if c.val == nil {
			nulls[c.col/8] |= 1 << (c.col % 8)
		}
	}
	rb.rows = append(rb.rows, byte(op))
	rb.rows = append(rb.rows, isset...)
	if rb.nullable {
		rb.rows = append(rb.rows, nulls...)
	}
	// cells must be given in column order
	for _, c := range cells {
		switch v := c.val.(type) {
		case nil:
		case fixed:
			rb.rows = append(rb.rows, v...)
		case string:
			rb.rows = binary.LittleEndian.AppendUint64(rb.rows, uint64(len(rb.indirect)))
			rb.rows = binary.LittleEndian.AppendUint64(rb.rows, uint64(len(v)))
			rb.indirect = append(rb.indirect, v...)
		case []byte:
			rb.rows = binary.LittleEndian.AppendUint64(rb.rows, uint64(len(rb.indirect)))
			rb.rows = binary.LittleEndian.AppendUint64(rb.rows, uint64(len(v)))
			rb.indirect = append(rb.indirect, v...)
		default:
			panic("bad cell")
		}
	}
	return rb
}

func (rb *rowBuilder) pb() msgb {
	return msgb(nil).b(2, rb.rows).b(3, rb.indirect)
}

// colPB builds a ColumnSchemaPB without an id.
func colPB(name string, typ DataType, key, nullable bool) msgb {
	m := msgb(nil).s(2, name).v(3, uint64(typ))
	if key {
		m = m.v(4, 1)
	}
	if nullable {
		m = m.v(5, 1)
	}
	return m
}
