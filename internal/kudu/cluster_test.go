package kudu

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A fake cluster of two masters and two tablet servers built on fakeServer,
// for table "t" (k INT64 key, v STRING nullable), hash(k) into 2 buckets,
// or, with ranged, range(k) with one tablet [0, 100).

type fakeTablet struct {
	id         string
	start, end []byte
	leader     int // index into cluster.ts
}

type storedRow struct {
	tablet string
	op     OpType
	k      int64
	v      *string
}

type fakeCluster struct {
	t       *testing.T
	masters []*fakeServer
	ts      []*fakeServer
	ranged  bool

	mu              sync.Mutex
	leaderMaster    int
	schemaNotLeader int // GetTableSchema answers NOT_THE_LEADER this many times (and moves leadership)
	tablets         []fakeTablet
	tsNotLeader     map[int]int // tserver -> times to answer NOT_THE_LEADER (then the master moves the leader to the other tserver)
	tsBusy          map[int]int // tserver -> times to answer ERROR_SERVER_TOO_BUSY
	tsBadToken      int         // times to answer ERROR_INVALID_AUTHORIZATION_TOKEN
	splitOnWrite    bool        // the first write to r0 splits it into r1 [0,50) and r2 [50,100)
	schemaCalls     int
	rowErrorKey     int64 // INSERTs of this key get ALREADY_PRESENT
	stored          []storedRow
	writes          []writeReq
	locationCalls   int
	created         []byte // CreateTable request
	createFeatures  []uint32
	isDoneCalls     int
	deleted         []string
}

type writeReq struct {
	ts        int
	tablet    string
	token     []byte
	propTS    uint64
	ecm       uint64
	hasSchema bool
}

func newFakeCluster(t *testing.T, ranged bool) *fakeCluster {
	c := &fakeCluster{t: t, ranged: ranged, leaderMaster: 1, tsNotLeader: map[int]int{}, tsBusy: map[int]int{}, rowErrorKey: -1}
	if ranged {
		c.tablets = []fakeTablet{{id: "r0", start: be64key(0), end: be64key(100), leader: 0}}
	} else {
		c.tablets = []fakeTablet{
			{id: "t0", start: nil, end: []byte{0, 0, 0, 1}, leader: 0},
			{id: "t1", start: []byte{0, 0, 0, 1}, end: nil, leader: 1},
		}
	}
	for i := 0; i < 2; i++ {
		c.masters = append(c.masters, newFakeServer(t, plainReply, c.masterHandler(i)))
	}
	for i := 0; i < 2; i++ {
		c.ts = append(c.ts, newFakeServer(t, plainReply, c.tsHandler(i)))
	}
	return c
}

func be64key(k int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(k)^(1<<63)) }

func (c *fakeCluster) masterAddrs() []string {
	return []string{c.masters[0].addr, c.masters[1].addr}
}

func masterErr(code MasterErrorCode, msg string) []byte {
	return appendMessageField(nil, 1, func(b []byte) []byte {
		b = appendInt32Field(b, 1, int32(code))
		return appendMessageField(b, 2, func(s []byte) []byte {
			s = appendInt32Field(s, 1, int32(StatusIllegalState))
			return appendStringField(s, 2, msg)
		})
	})
}

func (c *fakeCluster) masterHandler(i int) handlerFunc {
	return func(h reqHeader, body []byte) ([]byte, *RPCError) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if h.service != masterService {
			return nil, &RPCError{Code: RPCErrorNoSuchService, Message: h.service}
		}
		leader := c.leaderMaster == i
		if h.method == "ConnectToMaster" {
			if !slices.Contains(h.features, masterFeatureConnectToMaster) {
				c.t.Errorf("ConnectToMaster without CONNECT_TO_MASTER feature")
			}
			role := int32(0)
			if leader {
				role = roleLeader
			}
			return appendInt32Field(nil, 2, role), nil
		}
		if !leader {
			return masterErr(MasterNotTheLeader, "not the leader"), nil
		}
		switch h.method {
		case "GetTableSchema":
			c.schemaCalls++
			if c.schemaNotLeader > 0 {
				c.schemaNotLeader--
				c.leaderMaster = 1 - c.leaderMaster
				return masterErr(MasterNotTheLeader, "lost leadership"), nil
			}
			name := tableNameOf(body)
			if name != "t" && name != "new" {
				return masterErr(MasterTableNotFound, "no table "+name), nil
			}
			return c.schemaResponse(), nil
		case "GetTableLocations":
			c.locationCalls++
			return c.locationsResponse(), nil
		case "CreateTable":
			c.created = append([]byte(nil), body...)
			c.createFeatures = h.features
			return appendStringField(nil, 2, "new-id"), nil
		case "IsCreateTableDone":
			c.isDoneCalls++
			return appendBoolField(nil, 3, c.isDoneCalls > 1), nil
		case "DeleteTable":
			c.deleted = append(c.deleted, tableNameOf(body))
			return nil, nil
		}
		return nil, &RPCError{Code: RPCErrorNoSuchMethod, Message: h.method}
	}
}

func tableNameOf(req []byte) string {
	name := ""
	walkFields(req, func(f field) error {
		if f.num == 1 {
			walkFields(f.b, func(g field) error {
				if g.num == 2 {
					name = string(g.b)
				}
				return nil
			})
		}
		return nil
	})
	return name
}

func (c *fakeCluster) schemaResponse() []byte {
	var b []byte
	b = appendMessageField(b, 2, func(s []byte) []byte {
		s = appendMessageField(s, 1, func(m []byte) []byte {
			m = appendVarintField(m, 1, 10)
			m = appendStringField(m, 2, "k")
			m = appendInt32Field(m, 3, int32(TypeInt64))
			m = appendBoolField(m, 4, true)
			return appendBoolField(m, 5, false)
		})
		return appendMessageField(s, 1, func(m []byte) []byte {
			m = appendVarintField(m, 1, 11)
			m = appendStringField(m, 2, "v")
			m = appendInt32Field(m, 3, int32(TypeString))
			m = appendBoolField(m, 4, false)
			return appendBoolField(m, 5, true)
		})
	})
	b = appendMessageField(b, 5, func(p []byte) []byte {
		if c.ranged {
			return appendMessageField(p, 2, func(r []byte) []byte {
				return appendMessageField(r, 1, func(x []byte) []byte { return appendInt32Field(x, 1, 10) })
			})
		}
		p = appendMessageField(p, 1, func(h []byte) []byte {
			h = appendMessageField(h, 1, func(x []byte) []byte { return appendInt32Field(x, 1, 10) })
			h = appendInt32Field(h, 2, 2)
			return appendVarintField(h, 3, 0)
		})
		return appendMessageField(p, 2, func(r []byte) []byte { return r })
	})
	b = appendInt32Field(b, 3, 3)
	b = appendStringField(b, 4, "tid")
	b = appendStringField(b, 7, "t")
	b = appendBytesField(b, 8, []byte("TOKEN"))
	return b
}

func (c *fakeCluster) locationsResponse() []byte {
	var b []byte
	for _, tb := range c.tablets {
		b = appendMessageField(b, 2, func(l []byte) []byte {
			l = appendStringField(l, 1, tb.id)
			l = appendMessageField(l, 6, func(p []byte) []byte {
				p = appendBytesField(p, 2, tb.start)
				return appendBytesField(p, 3, tb.end)
			})
			for i := range c.ts {
				l = appendMessageField(l, 7, func(r []byte) []byte {
					r = appendVarintField(r, 1, uint64(i))
					role := int32(0)
					if i == tb.leader {
						role = roleLeader
					}
					return appendInt32Field(r, 2, role)
				})
			}
			return l
		})
	}
	b = appendVarintField(b, 3, 60000)
	for i, ts := range c.ts {
		host, port, _ := net.SplitHostPort(ts.addr)
		p, _ := strconv.Atoi(port)
		b = appendMessageField(b, 4, func(x []byte) []byte {
			x = appendStringField(x, 1, fmt.Sprintf("uuid-%d", i))
			return appendMessageField(x, 2, func(hp []byte) []byte {
				hp = appendStringField(hp, 1, host)
				return appendVarintField(hp, 2, uint64(p))
			})
		})
	}
	return b
}

func tsErr(code TabletServerErrorCode, msg string) []byte {
	return appendMessageField(nil, 1, func(b []byte) []byte {
		b = appendInt32Field(b, 1, int32(code))
		return appendMessageField(b, 2, func(s []byte) []byte {
			s = appendInt32Field(s, 1, int32(StatusIllegalState))
			return appendStringField(s, 2, msg)
		})
	})
}

func (c *fakeCluster) tsHandler(i int) handlerFunc {
	return func(h reqHeader, body []byte) ([]byte, *RPCError) {
		if h.service != tserverService || h.method != "Write" {
			return nil, &RPCError{Code: RPCErrorNoSuchMethod, Message: h.method}
		}
		if !h.hasRequestID {
			c.t.Errorf("Write without request_id")
		}
		w, rows, indirect, err := decodeWriteReq(body)
		if err != nil {
			c.t.Errorf("decoding write: %v", err)
			return nil, &RPCError{Code: RPCErrorInvalidRequest, Message: err.Error()}
		}
		w.ts = i
		c.mu.Lock()
		defer c.mu.Unlock()
		c.writes = append(c.writes, w)
		if c.tsBadToken > 0 {
			c.tsBadToken--
			return nil, &RPCError{Code: RPCErrorInvalidAuthorizationToken, Message: "token expired"}
		}
		if c.splitOnWrite && w.tablet == "r0" {
			c.splitOnWrite = false
			c.tablets = []fakeTablet{
				{id: "r1", start: be64key(0), end: be64key(50), leader: 0},
				{id: "r2", start: be64key(50), end: be64key(100), leader: 1},
			}
			return tsErr(TServerTabletNotFound, "tablet was split"), nil
		}
		if c.tsBusy[i] > 0 {
			c.tsBusy[i]--
			return nil, &RPCError{Code: RPCErrorServerTooBusy, Message: "busy"}
		}
		var tab *fakeTablet
		for j := range c.tablets {
			if c.tablets[j].id == w.tablet {
				tab = &c.tablets[j]
			}
		}
		if tab == nil {
			return tsErr(TServerTabletNotFound, "no tablet"), nil
		}
		if tab.leader != i {
			return tsErr(TServerNotTheLeader, "not leader"), nil
		}
		if c.tsNotLeader[i] > 0 {
			c.tsNotLeader[i]--
			tab.leader = 1 - i // leadership moves; the master now reports the other server
			return tsErr(TServerNotTheLeader, "stepped down"), nil
		}
		decoded, err := decodeFakeRows(rows, indirect)
		if err != nil {
			c.t.Errorf("rows: %v", err)
			return nil, &RPCError{Code: RPCErrorInvalidRequest, Message: err.Error()}
		}
		var resp []byte
		for idx, r := range decoded {
			key := be64key(r.k)
			if !c.ranged {
				key = binary.BigEndian.AppendUint32(nil, uint32(murmur2_64(key, 0)%2))
			}
			if bytes.Compare(key, tab.start) < 0 || (len(tab.end) > 0 && bytes.Compare(key, tab.end) >= 0) {
				c.t.Errorf("row k=%d sent to tablet %s [% x, % x)", r.k, tab.id, tab.start, tab.end)
			}
			if r.op == OpInsert && r.k == c.rowErrorKey {
				resp = appendMessageField(resp, 2, func(e []byte) []byte {
					e = appendInt32Field(e, 1, int32(idx))
					return appendMessageField(e, 2, func(s []byte) []byte {
						s = appendInt32Field(s, 1, int32(StatusAlreadyPresent))
						return appendStringField(s, 2, "key already present")
					})
				})
				continue
			}
			r.tablet = tab.id
			c.stored = append(c.stored, r)
		}
		resp = appendFixed64Field(resp, 3, 1000)
		return resp, nil
	}
}

func decodeWriteReq(b []byte) (w writeReq, rows, indirect []byte, err error) {
	err = walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			w.tablet = string(f.b)
		case 2:
			w.hasSchema = true
		case 3:
			return walkFields(f.b, func(g field) error {
				switch g.num {
				case 2:
					rows = g.b
				case 3:
					indirect = g.b
				}
				return nil
			})
		case 4:
			w.ecm = f.u
		case 5:
			w.propTS = f.u
		case 6:
			w.token = f.b
		}
		return nil
	})
	return
}

// decodeFakeRows decodes rows of the (k INT64 key, v STRING nullable)
// schema, checking bitmaps and indirect offsets.
func decodeFakeRows(rows, indirect []byte) ([]storedRow, error) {
	var out []storedRow
	for len(rows) > 0 {
		if len(rows) < 3 {
			return nil, errors.New("short row")
		}
		r := storedRow{op: OpType(rows[0])}
		isset, null := rows[1], rows[2]
		rows = rows[3:]
		if isset&1 == 0 || null&1 != 0 || isset&^3 != 0 || null&^2 != 0 {
			return nil, fmt.Errorf("bad bitmaps %02x %02x", isset, null)
		}
		if len(rows) < 8 {
			return nil, errors.New("short key")
		}
		r.k = int64(binary.LittleEndian.Uint64(rows))
		rows = rows[8:]
		if isset&2 != 0 && null&2 == 0 {
			if len(rows) < 16 {
				return nil, errors.New("short string")
			}
			off, n := binary.LittleEndian.Uint64(rows), binary.LittleEndian.Uint64(rows[8:])
			rows = rows[16:]
			if off > uint64(len(indirect)) || n > uint64(len(indirect))-off {
				return nil, fmt.Errorf("indirect %d+%d out of %d", off, n, len(indirect))
			}
			s := string(indirect[off : off+n])
			r.v = &s
		}
		out = append(out, r)
	}
	return out, nil
}

func TestApplyAgainstFakeCluster(t *testing.T) {
	fc := newFakeCluster(t, false)
	fc.schemaNotLeader = 1 // the leader master steps down once
	fc.tsNotLeader[0] = 1  // ts0 steps down for t0 once
	fc.tsBusy[1] = 1       // ts1 is too busy once
	fc.rowErrorKey = 13
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, fc.masterAddrs(), WithUser("tester"), WithMaxBatchBytes(300), WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Table(ctx, "missing"); !errors.Is(err, ErrTableNotFound) {
		t.Fatalf("missing table: %v", err)
	}
	tbl, err := c.Table(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if tbl.ID() != "tid" || tbl.Schema().NumColumns() != 2 || tbl.NumReplicas() != 3 ||
		len(tbl.PartitionSchema().Hash) != 1 || tbl.PartitionSchema().Hash[0].Columns[0] != "k" {
		t.Fatalf("table %+v", tbl)
	}
	var ops []*Operation
	for k := int64(0); k < 100; k++ {
		op := tbl.NewUpsert()
		if k == 13 {
			op = tbl.NewInsert()
		}
		op.Set("k", k)
		if k%10 == 0 {
			op.Set("v", nil)
		} else {
			op.Set("v", fmt.Sprint("value-", k))
		}
		ops = append(ops, op)
	}
	ops = append(ops, tbl.NewUpsert()) // no key: rejected before sending
	rowErrs, err := c.Apply(ctx, tbl, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(rowErrs) != 2 || rowErrs[0].Index != 13 || rowErrs[1].Index != 100 {
		t.Fatalf("row errors %v", rowErrs)
	}
	var se *StatusError
	if !errors.As(rowErrs[0].Err, &se) || se.Code != StatusAlreadyPresent || rowErrs[0].Op != ops[13] {
		t.Errorf("row error 13: %v", rowErrs[0])
	}
	if !errors.Is(rowErrs[1].Err, ErrInvalidRow) {
		t.Errorf("row error 100: %v", rowErrs[1])
	}

	fc.mu.Lock()
	stored := append([]storedRow(nil), fc.stored...)
	writes := append([]writeReq(nil), fc.writes...)
	locCalls := fc.locationCalls
	fc.mu.Unlock()
	if len(stored) != 99 {
		t.Fatalf("stored %d rows, want 99", len(stored))
	}
	seen := map[int64]bool{}
	last := map[string]int64{}
	for _, r := range stored {
		if seen[r.k] {
			t.Errorf("row %d applied twice", r.k)
		}
		seen[r.k] = true
		if p, ok := last[r.tablet]; ok && r.k < p {
			t.Errorf("tablet %s: row %d applied after %d", r.tablet, r.k, p)
		}
		last[r.tablet] = r.k
		if r.k%10 == 0 && r.v != nil || r.k%10 != 0 && (r.v == nil || *r.v != fmt.Sprint("value-", r.k)) {
			t.Errorf("row %d: v=%v", r.k, r.v)
		}
	}
	if locCalls < 2 {
		t.Errorf("locations fetched %d times; NOT_THE_LEADER should refresh them", locCalls)
	}
	if len(writes) < 6 {
		t.Errorf("only %d write requests; MaxBatchBytes=300 should split", len(writes))
	}
	for _, w := range writes {
		if string(w.token) != "TOKEN" || !w.hasSchema || w.ecm != 1 {
			t.Errorf("write request %+v", w)
		}
	}

	// A second Apply propagates the timestamp from the first.
	op := tbl.NewDelete()
	op.Set("k", 1)
	if rowErrs, err := c.Apply(ctx, tbl, []*Operation{op}); err != nil || len(rowErrs) != 0 {
		t.Fatal(rowErrs, err)
	}
	fc.mu.Lock()
	lw := fc.writes[len(fc.writes)-1]
	lastStored := fc.stored[len(fc.stored)-1]
	fc.mu.Unlock()
	if lw.propTS != 1000 {
		t.Errorf("propagated_timestamp = %d, want 1000", lw.propTS)
	}
	if lastStored.op != OpDelete || lastStored.k != 1 {
		t.Errorf("last stored %+v", lastStored)
	}
}

func TestApplyNonCoveredRange(t *testing.T) {
	fc := newFakeCluster(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, fc.masterAddrs(), WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Table(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var ops []*Operation
	for _, k := range []int64{-1, 5, 100, 99} {
		op := tbl.NewUpsert()
		op.Set("k", k)
		ops = append(ops, op)
	}
	rowErrs, err := c.Apply(ctx, tbl, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(rowErrs) != 2 || rowErrs[0].Index != 0 || rowErrs[1].Index != 2 ||
		!errors.Is(rowErrs[0].Err, ErrNonCoveredRange) || !errors.Is(rowErrs[1].Err, ErrNonCoveredRange) {
		t.Fatalf("row errors %v", rowErrs)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.stored) != 2 {
		t.Errorf("stored %v", fc.stored)
	}
}

func TestApplyGivesUp(t *testing.T) {
	fc := newFakeCluster(t, false)
	fc.tsBusy[0] = 1 << 30
	fc.tsBusy[1] = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, fc.masterAddrs(), WithBackoff(time.Millisecond, 2*time.Millisecond), WithMaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Table(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	op := tbl.NewUpsert()
	op.Set("k", 1)
	_, err = c.Apply(ctx, tbl, []*Operation{op})
	var re *RPCError
	if !errors.As(err, &re) || re.Code != RPCErrorServerTooBusy {
		t.Fatalf("err = %v", err)
	}
	// The context bounds retries too.
	fc.tsBusy[0], fc.tsBusy[1] = 1<<30, 1<<30
	c2, _ := Open(ctx, fc.masterAddrs(), WithBackoff(50*time.Millisecond, 50*time.Millisecond), WithMaxAttempts(1000))
	defer c2.Close()
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if _, err := c2.Apply(short, tbl, []*Operation{op}); err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Apply ran %v past its deadline", time.Since(start))
	}
}

func TestCreateAndDeleteTable(t *testing.T) {
	fc := newFakeCluster(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, fc.masterAddrs(), WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := mustSchema(t,
		Column{Name: "k", Type: TypeInt64, Key: true},
		Column{Name: "v", Type: TypeVarchar, Length: 20, Nullable: true})
	lo, hi := s.NewRow(), s.NewRow()
	lo.Set("k", 0)
	hi.Set("k", 100)
	tbl, err := c.CreateTable(ctx, "new", s, PartitionSchema{
		Hash:         []HashSchema{{Columns: []string{"k"}, NumBuckets: 4, Seed: 7}},
		RangeColumns: []string{"k"},
		RangeBounds:  []RangeBound{{Lower: lo, Upper: hi}},
	}, &CreateTableOptions{NumReplicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if tbl == nil {
		t.Fatal("nil table")
	}
	fc.mu.Lock()
	req, features, isDone := fc.created, fc.createFeatures, fc.isDoneCalls
	fc.mu.Unlock()
	if isDone < 2 {
		t.Errorf("IsCreateTableDone called %d times", isDone)
	}
	if !slices.Equal(features, []uint32{masterFeatureRangePartitionBounds}) {
		t.Errorf("features %v", features)
	}
	var name string
	var replicas uint64
	var schemaB, boundsB, psB []byte
	walkFields(req, func(f field) error {
		switch f.num {
		case 1:
			name = string(f.b)
		case 2:
			schemaB = f.b
		case 4:
			replicas = f.u
		case 6:
			boundsB = f.b
		case 7:
			psB = f.b
		}
		return nil
	})
	if name != "new" || replicas != 3 {
		t.Errorf("name %q replicas %d", name, replicas)
	}
	gotSchema, err := parseSchema(schemaB)
	if err != nil || gotSchema.Column(1).Length != 20 || gotSchema.Column(1).Type != TypeVarchar || !gotSchema.Column(1).Nullable || !gotSchema.Column(0).Key {
		t.Errorf("schema %+v %v", gotSchema, err)
	}
	_, ps, err := parsePartitionSchema(psB, gotSchema)
	if err != nil || len(ps.Hash) != 1 || ps.Hash[0].NumBuckets != 4 || ps.Hash[0].Seed != 7 || !slices.Equal(ps.RangeColumns, []string{"k"}) {
		t.Errorf("partition schema %+v %v", ps, err)
	}
	wantRows := []byte{
		6, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, // RANGE_LOWER_BOUND k=0
		7, 0x01, 0x00, 100, 0, 0, 0, 0, 0, 0, 0, // RANGE_UPPER_BOUND k=100
	}
	checkBytes(t, "range bounds", boundsB, append([]byte{0x12, byte(len(wantRows))}, wantRows...))

	if err := c.DeleteTable(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if !slices.Equal(fc.deleted, []string{"new"}) {
		t.Errorf("deleted %v", fc.deleted)
	}
}

func TestApplyReroutesAfterSplitAndRefreshesToken(t *testing.T) {
	fc := newFakeCluster(t, true)
	fc.splitOnWrite = true
	fc.tsBadToken = 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, fc.masterAddrs(), WithBackoff(time.Millisecond, 5*time.Millisecond), WithMaxBatchBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Table(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var ops []*Operation
	for k := int64(0); k < 100; k += 3 {
		op := tbl.NewUpsert()
		op.Set("k", k)
		op.Set("v", "x")
		ops = append(ops, op)
	}
	rowErrs, err := c.Apply(ctx, tbl, ops)
	if err != nil || len(rowErrs) != 0 {
		t.Fatal(rowErrs, err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.stored) != len(ops) {
		t.Fatalf("stored %d rows, want %d", len(fc.stored), len(ops))
	}
	for _, r := range fc.stored {
		if want := map[bool]string{true: "r1", false: "r2"}[r.k < 50]; r.tablet != want {
			t.Errorf("row %d in %s, want %s", r.k, r.tablet, want)
		}
	}
	if fc.schemaCalls < 2 {
		t.Errorf("authz token not refreshed (GetTableSchema calls: %d)", fc.schemaCalls)
	}
}
