package kudutest

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"
)

// Golden vectors, restated as facts from Apache Kudu's Java tests:
// TestMurmurHash.testMurmur2Hash64 and TestKeyEncoding.testPartitionKeyEncoding.

func TestMurmurHash64AGolden(t *testing.T) {
	for _, tc := range []struct {
		in   string
		seed uint64
		want uint64
	}{
		{"ab", 0, 7115271465109541368},
		{"abcdefg", 0, 2601573339036254301},
		{"quick brown fox", 42, 3575930248840144026},
	} {
		if got := MurmurHash64A([]byte(tc.in), tc.seed); got != tc.want {
			t.Errorf("MurmurHash64A(%q, %d) = %d, want %d", tc.in, tc.seed, got, tc.want)
		}
	}
}

// TestPartitionKeyEncodingGolden: key columns a INT32, b STRING, c STRING;
// range on (a, b, c); hash dimensions (a, b) 32 buckets seed 0 and (c) 32
// buckets seed 42.
func TestPartitionKeyEncodingGolden(t *testing.T) {
	s := &schema{cols: []column{
		{name: "a", typ: TypeInt32, key: true},
		{name: "b", typ: TypeString, key: true},
		{name: "c", typ: TypeString, key: true},
	}}
	if err := s.index(); err != nil {
		t.Fatal(err)
	}
	ps := &partitionSchema{
		hash:      []hashDim{{cols: []int{0, 1}, buckets: 32, seed: 0}, {cols: []int{2}, buckets: 32, seed: 42}},
		rangeCols: []int{0, 1, 2},
	}
	row := func(a int32, b, c string) []cell {
		return []cell{{set: true, v: i32(a)}, {set: true, v: []byte(b)}, {set: true, v: []byte(c)}}
	}
	for _, tc := range []struct {
		cells []cell
		want  []byte
	}{
		{row(0, "", ""), []byte{0, 0, 0, 0, 0, 0, 0, 0x14, 0x80, 0, 0, 0, 0, 0}},
		{row(1, "", ""), []byte{0, 0, 0, 5, 0, 0, 0, 0x14, 0x80, 0, 0, 1, 0, 0}},
		{row(0, "b", "c"), []byte{0, 0, 0, 0x1A, 0, 0, 0, 0x1D, 0x80, 0, 0, 0, 'b', 0, 0, 'c'}},
		{row(1, "b", "c"), []byte{0, 0, 0, 0, 0, 0, 0, 0x1D, 0x80, 0, 0, 1, 'b', 0, 0, 'c'}},
	} {
		_, got := ps.partitionKey(s, tc.cells)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("partition key = %x, want %x", got, tc.want)
		}
	}
}

func TestKeyEncodingEscapes(t *testing.T) {
	got := appendKeyCell(nil, TypeString, []byte("a\x00b"), false)
	if want := []byte("a\x00\x01b\x00\x00"); !bytes.Equal(got, want) {
		t.Errorf("non-last string = %x, want %x", got, want)
	}
	got = appendKeyCell(nil, TypeInt64, i64(-1), true)
	if want := []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; !bytes.Equal(got, want) {
		t.Errorf("int64 -1 = %x, want %x", got, want)
	}
}

// The test table: k INT32 key, v STRING nullable, n INT64; hash(k) into 4
// buckets with seed 7; range on k split at 100: 8 tablets.
func testSchemaPB() msgb {
	return msgb(nil).
		m(1, colPB("k", TypeInt32, true, false)).
		m(1, colPB("v", TypeString, false, true)).
		m(1, colPB("n", TypeInt64, false, false))
}

func createTableReq(name string) msgb {
	splits := (&rowBuilder{ncols: 3, nullable: true}).add(OpSplitRow, tc{0, i32(100)})
	ps := msgb(nil).
		m(1, msgb(nil).m(1, msgb(nil).s(2, "k")).v(2, 4).v(3, 7)).
		m(2, msgb(nil).m(1, msgb(nil).s(2, "k")))
	return msgb(nil).s(1, name).m(2, testSchemaPB()).v(4, 3).m(6, splits.pb()).m(7, ps)
}

// loc is a tablet location as a client sees it.
type loc struct {
	id         string
	start, end []byte
	leader     string
	followers  []string
}

type fixture struct {
	c    *Cluster
	m    *client
	locs []loc
}

func tableID(name string) msgb { return msgb(nil).m(1, msgb(nil).s(2, name)) }

func locations(t *testing.T, m *client, name string) []loc {
	t.Helper()
	resp := m.master("GetTableLocations", tableID(name).b(3, nil).v(5, 100).v(7, 1))
	if resp.has(1) {
		t.Fatalf("GetTableLocations error: %v", decode(t, resp.b(1)))
	}
	var addrs []string
	for _, ti := range resp[4] {
		d := decode(t, ti.b)
		hp := decode(t, d.b(2))
		addrs = append(addrs, string(hp.b(1))+":"+itoa(int64(hp.u(2))))
	}
	var out []loc
	for _, tl := range resp[2] {
		d := decode(t, tl.b)
		p := decode(t, d.b(6))
		l := loc{id: string(d.b(1)), start: p.b(2), end: p.b(3)}
		for _, r := range d[7] {
			rd := decode(t, r.b)
			if rd.u(2) == 1 {
				l.leader = addrs[rd.u(1)]
			} else {
				l.followers = append(l.followers, addrs[rd.u(1)])
			}
		}
		out = append(out, l)
	}
	if resp.u(3) == 0 {
		t.Error("no ttl_millis")
	}
	return out
}

func setup(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	c := New(t, opts...)
	m := dial(t, c.MasterAddrs()[0])
	if r := m.master("ConnectToMaster", nil); r.u(2) != 1 {
		t.Fatalf("ConnectToMaster role = %d, want LEADER", r.u(2))
	}
	r := m.master("CreateTable", createTableReq("t"))
	if r.has(1) {
		t.Fatalf("CreateTable error: %v", decode(t, r.b(1)))
	}
	if len(r.b(2)) == 0 {
		t.Fatal("CreateTable returned no table id")
	}
	if r := m.master("IsCreateTableDone", tableID("t")); r.u(3) != 1 {
		t.Fatal("IsCreateTableDone: not done")
	}
	return &fixture{c: c, m: m, locs: locations(t, m, "t")}
}

// pkey computes a row's partition key independently of the server.
func pkey(k int32) []byte {
	enc := binary.BigEndian.AppendUint32(nil, uint32(k)^0x80000000)
	b := MurmurHash64A(enc, 7) % 4
	return append(binary.BigEndian.AppendUint32(nil, uint32(b)), enc...)
}

func (f *fixture) locOf(t *testing.T, k int32) loc {
	t.Helper()
	pk := pkey(k)
	for _, l := range f.locs {
		if bytes.Compare(l.start, pk) <= 0 && (len(l.end) == 0 || bytes.Compare(pk, l.end) < 0) {
			return l
		}
	}
	t.Fatalf("no tablet for k=%d", k)
	return loc{}
}

// write sends a WriteRequestPB and returns the decoded response.
func write(t *testing.T, addr, tabletID string, schemaPB msgb, rb *rowBuilder) decoded {
	t.Helper()
	c := dial(t, addr)
	r := c.call(tserverService, "Write", msgb(nil).s(1, tabletID).m(2, schemaPB).m(3, rb.pb()).v(4, 1))
	if r.isErr {
		t.Fatalf("Write: rpc error %v", decode(t, r.body))
	}
	return decode(t, r.body)
}

// tsErr returns the TabletServerErrorPB code and AppStatusPB of a write
// response (0 when absent).
func tsErr(t *testing.T, d decoded) (code, status uint64, msg string) {
	if !d.has(1) {
		return 0, 0, ""
	}
	e := decode(t, d.b(1))
	st := decode(t, e.b(2))
	return e.u(1), st.u(1), string(st.b(2))
}

func rowErrs(t *testing.T, d decoded) map[int]uint64 {
	out := map[int]uint64{}
	for _, re := range d[2] {
		r := decode(t, re.b)
		out[int(r.u(1))] = decode(t, r.b(2)).u(1)
	}
	return out
}

func newRows() *rowBuilder { return &rowBuilder{ncols: 3, nullable: true} }

func TestCreateTableSchemaAndLocations(t *testing.T) {
	f := setup(t)
	if len(f.locs) != 8 {
		t.Fatalf("%d tablets, want 8", len(f.locs))
	}
	for i, l := range f.locs {
		if l.leader == "" || len(l.followers) != 2 {
			t.Errorf("tablet %d: leader %q followers %v", i, l.leader, l.followers)
		}
		if i > 0 && bytes.Compare(f.locs[i-1].start, l.start) >= 0 {
			t.Errorf("tablets out of order")
		}
	}
	// Bucket 0, range [-inf, 100): start is the bare bucket, end is bucket
	// 0 plus the encoded split; bucket 0, range [100, +inf): end is bucket 1.
	if !bytes.Equal(f.locs[0].start, []byte{0, 0, 0, 0}) || !bytes.Equal(f.locs[0].end, []byte{0, 0, 0, 0, 0x80, 0, 0, 100}) {
		t.Errorf("tablet 0: [%x, %x)", f.locs[0].start, f.locs[0].end)
	}
	if !bytes.Equal(f.locs[1].end, []byte{0, 0, 0, 1}) {
		t.Errorf("tablet 1 end %x, want 00000001", f.locs[1].end)
	}
	if !bytes.Equal(f.locs[7].end, []byte{0, 0, 0, 4}) {
		t.Errorf("last tablet end %x, want 00000004", f.locs[7].end)
	}

	s := f.m.master("GetTableSchema", tableID("t"))
	if s.has(1) {
		t.Fatalf("GetTableSchema error %v", decode(t, s.b(1)))
	}
	cols := decode(t, s.b(2))[1]
	if len(cols) != 3 {
		t.Fatalf("%d columns", len(cols))
	}
	ids := map[uint64]string{}
	for _, c := range cols {
		d := decode(t, c.b)
		if !d.has(1) {
			t.Error("column without id")
		}
		ids[d.u(1)] = string(d.b(2))
	}
	ps := decode(t, s.b(5))
	h := decode(t, ps.b(1))
	if h.u(2) != 4 || h.u(3) != 7 || ids[decode(t, h.b(1)).u(1)] != "k" {
		t.Errorf("hash schema %v", h)
	}
	if ids[decode(t, decode(t, ps.b(2)).b(1)).u(1)] != "k" {
		t.Error("range schema not on k")
	}
	if string(s.b(7)) != "t" || len(s.b(4)) == 0 || s.u(3) != 3 {
		t.Errorf("table name/id/replicas: %q %q %d", s.b(7), s.b(4), s.u(3))
	}

	// Paging: partition_key_start in the middle of a tablet returns that
	// tablet first; max_returned_locations limits the answer.
	resp := f.m.master("GetTableLocations", tableID("t").b(3, pkey(150)).v(5, 2).v(7, 1))
	if n := len(resp[2]); n != 2 {
		t.Fatalf("%d locations, want 2", n)
	}
	if got := string(decode(t, resp[2][0].b).b(1)); got != f.locOf(t, 150).id {
		t.Errorf("first location %s, want the tablet of k=150", got)
	}
	// Unknown table.
	if r := f.m.master("GetTableSchema", tableID("nope")); decode(t, r.b(1)).u(1) != uint64(MasterTableNotFound) {
		t.Error("no TABLE_NOT_FOUND")
	}
	// Duplicate table.
	if r := f.m.master("CreateTable", createTableReq("t")); decode(t, r.b(1)).u(1) != uint64(MasterTableAlreadyPresent) {
		t.Error("no TABLE_ALREADY_PRESENT")
	}
	// ListTables.
	if r := f.m.master("ListTables", nil); len(r[2]) != 1 {
		t.Errorf("ListTables: %d tables", len(r[2]))
	}
	// Tablets agree with the locations.
	tabs := f.c.Tablets("t")
	for i, tb := range tabs {
		if tb.ID != f.locs[i].id || f.c.TServerAddrs()[tb.Leader] != f.locs[i].leader {
			t.Errorf("tablet %d mismatch", i)
		}
	}
}

func TestWriteAndReadBack(t *testing.T) {
	f := setup(t)
	byTablet := map[string]*rowBuilder{}
	leaders := map[string]string{}
	for k := int32(0); k < 200; k++ {
		l := f.locOf(t, k)
		if byTablet[l.id] == nil {
			byTablet[l.id] = newRows()
			leaders[l.id] = l.leader
		}
		var v any = "v" + itoa(int64(k))
		if k%10 == 0 {
			v = nil
		}
		byTablet[l.id].add(OpUpsert, tc{0, i32(k)}, tc{1, v}, tc{2, i64(int64(k) * 2)})
	}
	for id, rb := range byTablet {
		d := write(t, leaders[id], id, testSchemaPB(), rb)
		if code, _, msg := tsErr(t, d); code != 0 || len(d[2]) != 0 {
			t.Fatalf("write to %s: error %d %s, row errors %v", id, code, msg, rowErrs(t, d))
		}
		if !d.has(3) {
			t.Error("no timestamp")
		}
	}
	rows := f.c.Rows("t")
	if len(rows) != 200 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		k := r["k"].(int32)
		if k != int32(i) || r["n"] != int64(k)*2 {
			t.Fatalf("row %d = %v", i, r)
		}
		if k%10 == 0 && r["v"] != nil || k%10 != 0 && r["v"] != "v"+itoa(int64(k)) {
			t.Fatalf("row %d v = %v", i, r["v"])
		}
	}
	total := 0
	for _, tb := range f.c.Tablets("t") {
		total += tb.Rows
		if tb.Rows > 0 && tb.Writes != 1 {
			t.Errorf("tablet %s: %d writes", tb.ID, tb.Writes)
		}
	}
	if total != 200 {
		t.Errorf("%d rows in tablets", total)
	}
	info, err := f.c.TabletOf("t", 42)
	if err != nil || info.ID != f.locOf(t, 42).id {
		t.Errorf("TabletOf(42) = %v, %v", info.ID, err)
	}
	if pk, _ := f.c.PartitionKey("t", int32(42)); !bytes.Equal(pk, pkey(42)) {
		t.Errorf("PartitionKey = %x, want %x", pk, pkey(42))
	}

	// Operation semantics on one tablet.
	l := f.locOf(t, 5)
	// A missing key in the same tablet as k=5.
	missing := int32(-1)
	for f.locOf(t, missing).id != l.id {
		missing--
	}
	rb := newRows().
		add(OpInsert, tc{0, i32(5)}, tc{2, i64(1)}).
		add(OpInsertIgnore, tc{0, i32(5)}, tc{2, i64(1)}).
		add(OpUpdate, tc{0, i32(5)}, tc{1, "upd"}).
		add(OpUpsert, tc{0, i32(5)}, tc{2, i64(77)}).
		add(OpDelete, tc{0, i32(missing)}).
		add(OpInsert, tc{0, i32(missing)}).
		add(OpUpdate, tc{0, i32(5)}).
		add(OpDeleteIgnore, tc{0, i32(missing)}).
		add(OpUpdateIgnore, tc{0, i32(missing)}, tc{2, i64(1)})
	d := write(t, l.leader, l.id, testSchemaPB(), rb)
	want := map[int]uint64{0: uint64(StatusAlreadyPresent), 4: uint64(StatusNotFound), 5: uint64(StatusInvalidArgument), 6: uint64(StatusInvalidArgument)}
	if got := rowErrs(t, d); !equalMaps(got, want) {
		t.Errorf("row errors %v, want %v", got, want)
	}
	for _, r := range f.c.Rows("t") {
		if r["k"] == int32(5) && (r["v"] != "upd" || r["n"] != int64(77)) {
			t.Errorf("k=5 is %v", r)
		}
	}
	// Delete it.
	d = write(t, l.leader, l.id, testSchemaPB(), newRows().add(OpDelete, tc{0, i32(5)}))
	if len(d[2]) != 0 || len(f.c.Rows("t")) != 199 {
		t.Errorf("delete failed: %v", rowErrs(t, d))
	}
	st := f.c.Stats()
	if st.Calls["Write"] == 0 || st.BytesReceived == 0 || st.Connections == 0 || st.RowErrors != 4 {
		t.Errorf("stats %+v", st)
	}
}

func equalMaps(a, b map[int]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWriteRules checks that malformed or misrouted writes are refused
// with the errors Kudu gives.
func TestWriteRules(t *testing.T) {
	f := setup(t, WithMaxCellSize(8))
	l := f.locOf(t, 1)
	other := f.locOf(t, 150)
	ok := func() *rowBuilder { return newRows().add(OpUpsert, tc{0, i32(1)}, tc{2, i64(1)}) }
	raw := func(rows, indirect []byte) *rowBuilder {
		return &rowBuilder{ncols: 3, nullable: true, rows: rows, indirect: indirect}
	}
	cases := []struct {
		name     string
		addr, id string
		schema   msgb
		rb       *rowBuilder
		code     TServerErrorCode
		status   StatusCode
		msg      string
	}{
		{"bitmap missing", l.leader, l.id, testSchemaPB(), raw([]byte{byte(OpInsert)}, nil), TServerMismatchedSchema, StatusCorruption, "isset bitmap"},
		{"null bitmap missing", l.leader, l.id, testSchemaPB(), raw([]byte{byte(OpInsert), 0x05}, nil), TServerMismatchedSchema, StatusCorruption, "null bitmap"},
		{"truncated cell", l.leader, l.id, testSchemaPB(), raw([]byte{byte(OpInsert), 0x05, 0, 1, 0, 0, 0x80}, nil), TServerMismatchedSchema, StatusCorruption, "Not enough data"},
		{"offset past indirect data", l.leader, l.id, testSchemaPB(),
			raw(append(append(append([]byte{byte(OpInsert), 0x07, 0}, i32(1)...), append(i64(3), i64(2)...)...), i64(1)...), []byte("abcd")),
			TServerMismatchedSchema, StatusCorruption, "Bad indirect slice"},
		{"length overflow", l.leader, l.id, testSchemaPB(),
			raw(append(append(append([]byte{byte(OpInsert), 0x07, 0}, i32(1)...), append(i64(1), i64(-1)...)...), i64(1)...), []byte("abcd")),
			TServerMismatchedSchema, StatusCorruption, "Bad indirect slice"},
		{"trailing garbage", l.leader, l.id, testSchemaPB(), raw(append(ok().rows, byte(OpUpsert)), nil), TServerMismatchedSchema, StatusCorruption, "isset bitmap"},
		{"unknown op", l.leader, l.id, testSchemaPB(), raw([]byte{99, 0, 0}, nil), TServerMismatchedSchema, StatusNotSupported, "Unknown operation type"},
		{"split row in write", l.leader, l.id, testSchemaPB(), newRows().add(OpSplitRow, tc{0, i32(1)}), TServerMismatchedSchema, StatusInvalidArgument, "Invalid write operation type"},
		{"key outside tablet", l.leader, l.id, testSchemaPB(), ok().add(OpUpsert, tc{0, i32(150)}, tc{2, i64(1)}), TServerUnknownError, StatusNotFound, "Row not in tablet partition"},
		{"follower", l.followers[0], l.id, testSchemaPB(), ok(), TServerNotTheLeader, StatusIllegalState, "not leader"},
		{"tablet not hosted", other.leader, "no-such-tablet", testSchemaPB(), ok(), TServerTabletNotFound, StatusNotFound, "Tablet not found"},
		{"column ids", l.leader, l.id, msgb(nil).m(1, colPB("k", TypeInt32, true, false).v(1, 10)).m(1, colPB("n", TypeInt64, false, false).v(1, 12)), ok(), TServerInvalidSchema, StatusInvalidArgument, "Column IDs"},
		{"wrong type", l.leader, l.id, msgb(nil).m(1, colPB("k", TypeInt64, true, false)).m(1, colPB("n", TypeInt64, false, false)), ok(), TServerMismatchedSchema, StatusInvalidArgument, "must have type"},
		{"unknown column", l.leader, l.id, testSchemaPB().m(1, colPB("zz", TypeInt64, false, true)), ok(), TServerMismatchedSchema, StatusInvalidArgument, "not present in tablet"},
		{"missing required column", l.leader, l.id, msgb(nil).m(1, colPB("k", TypeInt32, true, false)), ok(), TServerMismatchedSchema, StatusInvalidArgument, "missing required column"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := write(t, tc.addr, tc.id, tc.schema, tc.rb)
			code, status, msg := tsErr(t, d)
			if TServerErrorCode(code) != tc.code || StatusCode(status) != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("got code %d status %d %q; want %d %d %q", code, status, msg, tc.code, tc.status, tc.msg)
			}
		})
	}
	if n := len(f.c.Rows("t")); n != 0 {
		t.Errorf("%d rows stored by refused writes", n)
	}

	// Per-row rule violations: the rest of the batch is applied.
	// Kudu reads (and discards) a cell for a NULL non-nullable column, so
	// a client that marks the key NULL must still send its four bytes.
	nullKeyWithData := &rowBuilder{ncols: 3, nullable: true,
		rows: append(append(append([]byte{byte(OpInsert), 0x05, 0x01}, i32(0)...), i64(1)...), ok().rows...)}
	d := write(t, l.leader, l.id, testSchemaPB(), nullKeyWithData)
	if got := rowErrs(t, d); !equalMaps(got, map[int]uint64{0: uint64(StatusInvalidArgument)}) {
		t.Errorf("null key: row errors %v", got)
	}
	// Without the cell the rest of the row block is misread: the whole
	// request fails.
	d = write(t, l.leader, l.id, testSchemaPB(), newRows().add(OpInsert, tc{0, nil}, tc{2, i64(1)}))
	if code, status, _ := tsErr(t, d); code != uint64(TServerMismatchedSchema) || status != uint64(StatusCorruption) {
		t.Errorf("null key without a cell: %d %d", code, status)
	}
	d = write(t, l.leader, l.id, testSchemaPB(), newRows().
		add(OpUpsert, tc{0, i32(1)}, tc{1, "123456789"}, tc{2, i64(1)}).
		add(OpUpsert, tc{0, i32(1)}, tc{1, "12345678"}, tc{2, i64(1)}).
		add(OpUpdate, tc{0, i32(1)}, tc{1, nil}).
		add(OpDelete, tc{0, i32(1)}, tc{1, nil}))
	if got := rowErrs(t, d); !equalMaps(got, map[int]uint64{0: uint64(StatusInvalidArgument), 3: uint64(StatusInvalidArgument)}) {
		t.Errorf("row errors %v", got)
	}
	rows := f.c.Rows("t")
	if len(rows) != 1 || rows[0]["v"] != nil {
		t.Errorf("rows %v", rows)
	}
}

func TestFaults(t *testing.T) {
	f := setup(t)
	l := f.locOf(t, 1)
	ok := func() *rowBuilder { return newRows().add(OpUpsert, tc{0, i32(1)}, tc{2, i64(1)}) }

	f.c.InjectNotTheLeader(l.id, 1)
	if code, _, _ := tsErr(t, write(t, l.leader, l.id, testSchemaPB(), ok())); code != uint64(TServerNotTheLeader) {
		t.Errorf("injected not-the-leader: code %d", code)
	}
	if code, _, _ := tsErr(t, write(t, l.leader, l.id, testSchemaPB(), ok())); code != 0 {
		t.Errorf("after injection: code %d", code)
	}
	f.c.InjectTabletNotFound("any", 1)
	if code, _, _ := tsErr(t, write(t, l.leader, l.id, testSchemaPB(), ok())); code != uint64(TServerTabletNotFound) {
		t.Errorf("injected tablet-not-found: code %d", code)
	}

	// Leadership change.
	newLeader := -1
	for i, a := range f.c.TServerAddrs() {
		if a == l.followers[0] {
			newLeader = i
		}
	}
	if err := f.c.MoveLeader(l.id, newLeader); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := tsErr(t, write(t, l.leader, l.id, testSchemaPB(), ok())); code != uint64(TServerNotTheLeader) {
		t.Errorf("old leader: code %d", code)
	}
	f.locs = locations(t, f.m, "t")
	if nl := f.locOf(t, 1); nl.leader != l.followers[0] {
		t.Errorf("locations report leader %s, want %s", nl.leader, l.followers[0])
	}
	if code, _, _ := tsErr(t, write(t, l.followers[0], l.id, testSchemaPB(), ok())); code != 0 {
		t.Errorf("new leader: code %d", code)
	}

	// Server too busy.
	f.c.InjectServerTooBusy("Write", 1)
	tc1 := dial(t, l.followers[0])
	r := tc1.call(tserverService, "Write", msgb(nil).s(1, l.id).m(2, testSchemaPB()).m(3, ok().pb()))
	if !r.isErr || decode(t, r.body).u(2) != uint64(ErrorServerTooBusy) {
		t.Errorf("too busy: %+v", r)
	}
	r = tc1.call(tserverService, "Write", msgb(nil).s(1, l.id).m(2, testSchemaPB()).m(3, ok().pb()))
	if r.isErr {
		t.Errorf("after too busy: %v", decode(t, r.body))
	}

	// Injected row error.
	f.c.InjectRowError(func(op RowOp) bool { return op.Key[0] == int32(2) }, StatusIOError, "disk on fire", 1)
	l2 := f.locOf(t, 2)
	d := write(t, l2.leader, l2.id, testSchemaPB(), newRows().add(OpUpsert, tc{0, i32(2)}, tc{2, i64(2)}))
	if got := rowErrs(t, d); !equalMaps(got, map[int]uint64{0: uint64(StatusIOError)}) {
		t.Errorf("injected row error: %v", got)
	}
	for _, r := range f.c.Rows("t") {
		if r["k"] == int32(2) {
			t.Error("row with injected error was stored")
		}
	}

	// Dropped connections.
	f.c.DropNextConnectionAfter(10)
	c := dialRaw(t, f.c.MasterAddrs()[0])
	c.write([]byte("hrpc\x09\x00\x00"))
	c.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1)))
	if _, err := c.read(); err == nil {
		t.Error("connection not dropped after 10 bytes")
	}
	c = dial(t, f.c.MasterAddrs()[0])
	f.c.DropConnections()
	c.nc.Write(frame(0, masterService, "ConnectToMaster", nil)) // may fail: the server closed it
	if _, err := c.read(); err == nil {
		t.Error("connection survived DropConnections")
	}
}

func TestMultiMaster(t *testing.T) {
	c := New(t, WithMasters(3), WithLeaderMaster(1))
	roles := []uint64{}
	for _, a := range c.MasterAddrs() {
		m := dial(t, a)
		r := m.master("ConnectToMaster", nil)
		roles = append(roles, r.u(2))
		if len(r[5]) != 3 {
			t.Errorf("master_addrs: %d", len(r[5]))
		}
		s := m.master("CreateTable", createTableReq("t"+a))
		e := decode(t, s.b(1))
		if a == c.MasterAddrs()[1] && s.has(1) || a != c.MasterAddrs()[1] && e.u(1) != uint64(MasterNotTheLeader) {
			t.Errorf("master %s CreateTable answer %v", a, e)
		}
	}
	if roles[0] != 0 || roles[1] != 1 || roles[2] != 0 {
		t.Errorf("roles %v", roles)
	}
	c.SetLeaderMaster(2)
	if r := dial(t, c.MasterAddrs()[2]).master("ConnectToMaster", nil); r.u(2) != 1 {
		t.Error("master 2 is not leader after SetLeaderMaster")
	}
}

func TestNegotiation(t *testing.T) {
	c := New(t)
	// The server's NEGOTIATE answer.
	cl := dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1)))
	r := cl.mustRead()
	d := decode(t, r.body)
	if r.isErr || r.callID != -33 || d.u(2) != 1 || d.u(1) != 1 || string(decode(t, d.b(4)).b(2)) != "PLAIN" || !d.has(7) {
		t.Errorf("NEGOTIATE answer %+v %v", r, d)
	}
	// SASL_INITIATE with two mechanisms is refused.
	cl.write(frame(-33, "", "", msgb(nil).v(2, 2).b(3, []byte("\x00u\x00p")).m(4, msgb(nil).s(2, "PLAIN")).m(4, msgb(nil).s(2, "PLAIN"))))
	if r := cl.mustRead(); !r.isErr || decode(t, r.body).u(2) != uint64(FatalUnauthorized) {
		t.Errorf("two mechanisms: %+v", r)
	}

	// A bad connection header closes the connection.
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x08\x00\x00"))
	if _, err := cl.read(); err == nil {
		t.Error("bad header accepted")
	}

	// A call before negotiation.
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(0, masterService, "ConnectToMaster", nil))
	if r := cl.mustRead(); !r.isErr || decode(t, r.body).u(2) != uint64(FatalInvalidRPCHeader) {
		t.Errorf("call before negotiation: %+v", r)
	}

	// Calls: ids must increase; unknown services and methods; feature flags.
	cl = dial(t, c.MasterAddrs()[0])
	r = cl.call("kudu.NoService", "X", nil)
	if !r.isErr || decode(t, r.body).u(2) != uint64(ErrorNoSuchService) {
		t.Errorf("unknown service: %+v", r)
	}
	r = cl.call(masterService, "NoMethod", nil)
	if !r.isErr || decode(t, r.body).u(2) != uint64(ErrorNoSuchMethod) {
		t.Errorf("unknown method: %+v", r)
	}
	h := msgb(nil).i(3, int64(cl.next)).m(6, msgb(nil).s(1, masterService).s(2, "ConnectToMaster")).v(11, 8)
	payload := append(appendBytes(nil, h), appendBytes(nil, nil)...)
	cl.write(append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...))
	cl.next++
	r = cl.mustRead()
	if ed := decode(t, r.body); !r.isErr || ed.u(2) != uint64(ErrorInvalidRequest) || ed.u(3) != 8 {
		t.Errorf("unsupported feature flag: %+v %v", r, ed)
	}
	cl.write(frame(cl.next-1, masterService, "ConnectToMaster", nil))
	if r := cl.mustRead(); !r.isErr || decode(t, r.body).u(2) != uint64(FatalInvalidRPCHeader) {
		t.Errorf("repeated call id: %+v", r)
	}
	if _, err := cl.read(); err == nil {
		t.Error("connection still open after a fatal error")
	}
	if u := c.Users(); len(u) == 0 || u[0] != "tester" {
		t.Errorf("users %v", u)
	}
}

func appendBytes(dst, b []byte) []byte {
	return append(append(dst, varint(uint64(len(b)))...), b...)
}

func varint(v uint64) []byte {
	var out []byte
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

func TestNegotiationSecurityOptions(t *testing.T) {
	// Required TLS: a plaintext client is refused.
	c := New(t, WithRequireTLS())
	cl := dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1)))
	r := cl.mustRead()
	if d := decode(t, r.body); !r.isErr || d.u(2) != uint64(FatalUnauthorized) || !strings.Contains(string(d.b(1)), "TLS") {
		t.Errorf("require TLS: %+v", r)
	}
	// A client offering TLS sees it in the features.
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(1, 2).v(2, 1)))
	r = cl.mustRead()
	if d := decode(t, r.body); r.isErr || len(d[1]) != 2 || d[1][1].u != 2 {
		t.Errorf("require TLS, TLS client: %+v", r)
	}

	// GSSAPI only.
	c = New(t, WithOnlyGSSAPI())
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1).m(4, msgb(nil).s(2, "PLAIN"))))
	r = cl.mustRead()
	if d := decode(t, r.body); r.isErr || len(d[4]) != 1 || string(decode(t, d.b(4)).b(2)) != "GSSAPI" {
		t.Errorf("GSSAPI only: %+v", r)
	}
	cl.write(frame(-33, "", "", msgb(nil).v(2, 2).b(3, []byte("\x00u\x00p")).m(4, msgb(nil).s(2, "PLAIN"))))
	if r := cl.mustRead(); !r.isErr || decode(t, r.body).u(2) != uint64(FatalUnauthorized) {
		t.Errorf("PLAIN against GSSAPI-only: %+v", r)
	}

	// Checked credentials.
	c = New(t, WithSASLCredentials("alice", "secret"))
	dialRaw(t, c.MasterAddrs()[0]).negotiate("alice", "secret")
	cl = dialRaw(t, c.MasterAddrs()[0])
	cl.write([]byte("hrpc\x09\x00\x00"))
	cl.write(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1)))
	cl.mustRead()
	cl.write(frame(-33, "", "", msgb(nil).v(2, 2).b(3, []byte("\x00alice\x00wrong")).m(4, msgb(nil).s(2, "PLAIN"))))
	if r := cl.mustRead(); !r.isErr || decode(t, r.body).u(2) != uint64(FatalUnauthorized) {
		t.Errorf("wrong password: %+v", r)
	}
}

func TestOutOfOrderAnswers(t *testing.T) {
	c := New(t)
	m := dial(t, c.MasterAddrs()[0])
	c.InjectDelay("ConnectToMaster", 300*time.Millisecond, 1)
	m.write(frame(0, masterService, "ConnectToMaster", nil))
	m.write(frame(1, masterService, "ListTables", nil))
	first, second := m.mustRead(), m.mustRead()
	if first.callID != 1 || second.callID != 0 {
		t.Errorf("answers in order %d, %d; want 1, 0", first.callID, second.callID)
	}
}

func TestCreateTableRangeBounds(t *testing.T) {
	c := New(t)
	m := dial(t, c.MasterAddrs()[0])
	// Range bounds [0, 10) and (20, 30]: two range partitions, no hash.
	bounds := newRows().
		add(OpRangeLowerBound, tc{0, i32(0)}).add(OpRangeUpperBound, tc{0, i32(10)}).
		add(OpExclusiveRangeLowerBound, tc{0, i32(20)}).add(OpInclusiveRangeUpperBound, tc{0, i32(30)})
	req := msgb(nil).s(1, "r").m(2, testSchemaPB()).v(4, 1).m(6, bounds.pb()).
		m(7, msgb(nil).m(2, msgb(nil).m(1, msgb(nil).s(2, "k"))))
	if r := m.master("CreateTable", req); r.has(1) {
		t.Fatalf("CreateTable: %v", decode(t, r.b(1)))
	}
	tabs := c.Tablets("r")
	if len(tabs) != 2 {
		t.Fatalf("%d tablets", len(tabs))
	}
	enc := func(k int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(k)^0x80000000) }
	if !bytes.Equal(tabs[0].PartitionKeyStart, enc(0)) || !bytes.Equal(tabs[0].PartitionKeyEnd, enc(10)) ||
		!bytes.Equal(tabs[1].PartitionKeyStart, enc(21)) || !bytes.Equal(tabs[1].PartitionKeyEnd, enc(31)) {
		t.Errorf("tablets %x-%x %x-%x", tabs[0].PartitionKeyStart, tabs[0].PartitionKeyEnd, tabs[1].PartitionKeyStart, tabs[1].PartitionKeyEnd)
	}
	if _, err := c.TabletOf("r", 15); err == nil {
		t.Error("k=15 is in a non-covered range but has a tablet")
	}
	// Overlapping bounds are refused.
	bad := newRows().
		add(OpRangeLowerBound, tc{0, i32(0)}).add(OpRangeUpperBound, tc{0, i32(10)}).
		add(OpRangeLowerBound, tc{0, i32(5)}).add(OpRangeUpperBound, tc{0, i32(15)})
	req = msgb(nil).s(1, "bad").m(2, testSchemaPB()).v(4, 1).m(6, bad.pb())
	if r := m.master("CreateTable", req); decode(t, r.b(1)).u(1) != uint64(MasterInvalidSchema) {
		t.Error("overlapping bounds accepted")
	}
	// Even replication factor.
	req = msgb(nil).s(1, "even").m(2, testSchemaPB()).v(4, 2)
	if r := m.master("CreateTable", req); decode(t, r.b(1)).u(1) != uint64(MasterEvenReplicationFactor) {
		t.Error("even replication accepted")
	}
	// Too many tablets (Kudu's --max_create_tablets_per_ts is 60).
	req = msgb(nil).s(1, "many").m(2, testSchemaPB()).v(4, 1).
		m(7, msgb(nil).m(1, msgb(nil).m(1, msgb(nil).s(2, "k")).v(2, 1000)))
	if r := m.master("CreateTable", req); decode(t, r.b(1)).u(1) != uint64(MasterTooManyTablets) {
		t.Error("1000 buckets accepted")
	}
	// Column ids in a CreateTable schema.
	req = msgb(nil).s(1, "ids").m(2, msgb(nil).m(1, colPB("k", TypeInt32, true, false).v(1, 3)))
	if r := m.master("CreateTable", req); decode(t, r.b(1)).u(1) != uint64(MasterInvalidSchema) {
		t.Error("column ids accepted")
	}
}

func TestDirectCreateTable(t *testing.T) {
	c := New(t, WithTabletServers(2))
	id, err := c.CreateTable(TableSpec{
		Name: "d",
		Columns: []Column{
			{Name: "host", Type: TypeString, Key: true},
			{Name: "ts", Type: TypeUnixtimeMicros, Key: true},
			{Name: "val", Type: TypeDouble, Nullable: true},
		},
		Hash:         []HashDimension{{Columns: []string{"host"}, Buckets: 3}},
		RangeColumns: []string{"ts"},
		SplitRows:    [][]any{{time.UnixMicro(1000)}},
	})
	if err != nil || id == "" {
		t.Fatal(err)
	}
	if n := len(c.Tablets("d")); n != 6 {
		t.Errorf("%d tablets", n)
	}
	if _, err := c.TabletOf("d", "h1", time.UnixMicro(5)); err != nil {
		t.Error(err)
	}
}

// TestDateRange checks kudutest's own rule, stricter than a tablet
// server: a DATE outside Kudu's range (which Kudu's clients refuse to
// set) fails its row in a write, whatever the operation and column, and
// fails CreateTable in a split row or a default, while the bounds
// themselves are stored and read back as 0001-01-01 and 9999-12-31.
func TestDateRange(t *testing.T) {
	c := New(t)
	m := dial(t, c.MasterAddrs()[0])
	// k DATE key, d DATE nullable, n INT64.
	schemaPB := msgb(nil).
		m(1, colPB("k", TypeDate, true, false)).
		m(1, colPB("d", TypeDate, false, true)).
		m(1, colPB("n", TypeInt64, false, false))
	if r := m.master("CreateTable", msgb(nil).s(1, "dates").m(2, schemaPB).v(4, 1)); r.has(1) {
		t.Fatalf("CreateTable: %v", decode(t, r.b(1)))
	}
	locs := locations(t, m, "dates")
	if len(locs) != 1 {
		t.Fatalf("%d tablets, want 1", len(locs))
	}
	l := locs[0]
	rb := newRows().
		add(OpInsert, tc{0, i32(minDate)}, tc{1, i32(maxDate)}, tc{2, i64(0)}).
		add(OpInsert, tc{0, i32(maxDate)}, tc{1, i32(minDate)}, tc{2, i64(1)}).
		add(OpInsert, tc{0, i32(1)}, tc{1, i32(minDate - 1)}, tc{2, i64(2)}).
		add(OpUpsert, tc{0, i32(2)}, tc{1, i32(maxDate + 1)}, tc{2, i64(3)}).
		add(OpInsert, tc{0, i32(minDate - 1)}, tc{1, nil}, tc{2, i64(4)}).
		add(OpUpdate, tc{0, i32(minDate)}, tc{1, i32(math.MinInt32)}).
		add(OpDelete, tc{0, i32(math.MaxInt32)}).
		add(OpInsert, tc{0, i32(0)}, tc{1, nil}, tc{2, i64(7)})
	d := write(t, l.leader, l.id, schemaPB, rb)
	if code, _, msg := tsErr(t, d); code != 0 {
		t.Fatalf("write: error %d %s", code, msg)
	}
	bad := uint64(StatusInvalidArgument)
	if got, want := rowErrs(t, d), map[int]uint64{2: bad, 3: bad, 4: bad, 5: bad, 6: bad}; !equalMaps(got, want) {
		t.Errorf("row errors %v, want %v", got, want)
	}
	for _, re := range d[2] {
		r := decode(t, re.b)
		msg := string(decode(t, r.b(2)).b(2))
		if !strings.Contains(msg, "out of range for DATE column") || !strings.Contains(msg, "-719162 (0001-01-01) to 2932896 (9999-12-31)") {
			t.Errorf("row %d: message %q", r.u(1), msg)
		}
	}
	first, last := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	rows := c.Rows("dates")
	want := []Row{
		{"k": first, "d": last, "n": int64(0)},
		{"k": time.Unix(0, 0).UTC(), "d": nil, "n": int64(7)},
		{"k": last, "d": first, "n": int64(1)},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	for i, r := range rows {
		for col, v := range want[i] {
			if got := r[col]; got != v {
				t.Errorf("row %d column %s = %v, want %v", i, col, got, v)
			}
		}
	}

	// CreateTable: a split row or a default out of range is refused, the
	// bounds are not.
	split := func(days int32) msgb {
		return msgb(nil).s(1, "split").m(2, schemaPB).v(4, 1).
			m(6, newRows().add(OpSplitRow, tc{0, i32(days)}).pb()).
			m(7, msgb(nil).m(2, msgb(nil).m(1, msgb(nil).s(2, "k"))))
	}
	for _, days := range []int32{minDate - 1, maxDate + 1} {
		r := m.master("CreateTable", split(days))
		e := decode(t, r.b(1))
		if e.u(1) != uint64(MasterInvalidSchema) || !strings.Contains(string(decode(t, e.b(2)).b(2)), "out of range for DATE column 'k'") {
			t.Errorf("split row at day %d: error %v", days, e)
		}
	}
	if r := m.master("CreateTable", split(maxDate)); r.has(1) {
		t.Errorf("split row at day %d: %v", maxDate, decode(t, r.b(1)))
	}
	if n := len(c.Tablets("split")); n != 2 {
		t.Errorf("%d tablets split at 9999-12-31, want 2", n)
	}
	withDefault := func(name string, days int32) msgb {
		sc := msgb(nil).m(1, colPB("k", TypeInt32, true, false)).m(1, colPB("d", TypeDate, false, false).b(7, i32(days)))
		return msgb(nil).s(1, name).m(2, sc).v(4, 1)
	}
	if r := m.master("CreateTable", withDefault("def_bad", maxDate+1)); decode(t, r.b(1)).u(1) != uint64(MasterInvalidSchema) {
		t.Error("DATE default out of range accepted")
	}
	if r := m.master("CreateTable", withDefault("def_ok", minDate)); r.has(1) {
		t.Errorf("DATE default at 0001-01-01: %v", decode(t, r.b(1)))
	}
}
