package kudutest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// FuzzParseFrame feeds garbage to the frame and message decoders: they
// must return errors, never panic.
func FuzzParseFrame(f *testing.F) {
	f.Add(frame(-33, "", "", msgb(nil).v(1, 1).v(2, 1).m(4, msgb(nil).s(2, "PLAIN")))[4:])
	f.Add(frame(3, masterService, "GetTableLocations", tableID("t").b(3, nil).v(5, 10).v(7, 1))[4:])
	f.Add(frame(4, tserverService, "Write", msgb(nil).s(1, "x").m(2, testSchemaPB()).m(3, newRows().add(OpUpsert, tc{0, i32(1)}, tc{2, i64(1)}).pb()))[4:])
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, payload []byte) {
		h, body, err := parseFrame(payload)
		if err != nil {
			return
		}
		_ = h
		decodeNegotiate(body)
		decodeWriteRequest(body)
		if s, err := decodeSchema(body); err == nil {
			s.validateTable()
			decodePartitionSchema(body, s)
		}
		decodeTableIdent(body)
		decodeRowOperationsPB(body)
	})
}

// fuzzSchema has a nullable column and more than eight columns, so both
// bitmaps span two bytes.
func fuzzSchema() *schema {
	s := &schema{cols: []column{
		{name: "k", typ: TypeInt32, key: true},
		{name: "s", typ: TypeString, key: true},
		{name: "v", typ: TypeBinary, nullable: true},
		{name: "a", typ: TypeInt8},
		{name: "b", typ: TypeInt16, nullable: true},
		{name: "c", typ: TypeInt64, nullable: true},
		{name: "d", typ: TypeDouble, nullable: true},
		{name: "e", typ: TypeDecimal128, precision: 38, nullable: true},
		{name: "f", typ: TypeBool, nullable: true},
		{name: "g", typ: TypeDate, nullable: true},
	}}
	if err := s.index(); err != nil {
		panic(err)
	}
	return s
}

// FuzzRowOps decodes garbage row blocks with the write and split-row
// decoders and applies what decodes to a tablet.
func FuzzRowOps(f *testing.F) {
	rb := &rowBuilder{ncols: 10, nullable: true}
	rb.add(OpUpsert, tc{0, i32(1)}, tc{1, "x"}, tc{2, nil}, tc{3, fixed{1}})
	rb.add(OpDelete, tc{0, i32(1)}, tc{1, "x"})
	f.Add(rb.rows, rb.indirect)
	// DATE cells at and just past Kudu's bounds.
	dates := &rowBuilder{ncols: 10, nullable: true}
	dates.add(OpInsert, tc{0, i32(2)}, tc{1, "y"}, tc{3, fixed{1}}, tc{9, i32(minDate)})
	dates.add(OpUpsert, tc{0, i32(3)}, tc{1, "z"}, tc{3, fixed{1}}, tc{9, i32(maxDate + 1)})
	dates.add(OpUpdate, tc{0, i32(2)}, tc{1, "y"}, tc{9, i32(minDate - 1)})
	f.Add(dates.rows, dates.indirect)
	f.Add((&rowBuilder{ncols: 10, nullable: true}).add(OpSplitRow, tc{0, i32(1)}, tc{9, i32(maxDate + 1)}).rows, []byte(nil))
	f.Add([]byte{1, 0xff, 0xff, 0, 0}, []byte("abc"))
	f.Fuzz(func(t *testing.T, rows, indirect []byte) {
		s := fuzzSchema()
		for _, split := range []bool{false, true} {
			d := &opDecoder{rows: rows, indirect: indirect, client: s, target: s, maxCell: 16, splitRows: split}
			ops, err := d.decodeOps()
			if err != nil {
				continue
			}
			for _, op := range ops {
				if len(op.cells) != len(s.cols) {
					t.Fatalf("op has %d cells", len(op.cells))
				}
				for i, c := range op.cells {
					if c.set && !c.null && !s.cols[i].typ.varlen() && len(c.v) != s.cols[i].typ.size() {
						t.Fatalf("column %d: %d bytes", i, len(c.v))
					}
					// A DATE out of Kudu's range never decodes into a
					// row that is applied or a split row.
					if c.set && op.err == nil && dateOutOfRange(&s.cols[i], c.v) != "" {
						t.Fatalf("column %d: DATE % x accepted", i, c.v)
					}
				}
			}
			ps := &partitionSchema{hash: []hashDim{{cols: []int{0, 1}, buckets: 3, seed: 1}}, rangeCols: []int{0, 1}}
			if split {
				if ranges, err := ps.rangesFromOps(s, ops); err == nil {
					ps.createPartitions(ranges)
				}
				continue
			}
			tb := &tablet{table: &table{schema: s, ps: ps}, rows: map[string][]cell{}}
			for i := range ops {
				if ops[i].err == nil {
					ps.partitionKey(s, ops[i].cells)
					tb.apply(&ops[i])
				}
			}
			for _, r := range tb.rows {
				s.toRow(r, false)
			}
		}
	})
}

// FuzzHandlers calls every method with garbage bodies.
func FuzzHandlers(f *testing.F) {
	f.Add(uint8(0), []byte(tableID("t").b(3, nil).v(7, 1)))
	f.Add(uint8(1), []byte(createTableReq("u")))
	f.Add(uint8(7), []byte(msgb(nil).s(1, "x").m(2, testSchemaPB())))
	c, err := Start()
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateTable(TableSpec{Name: "t", Columns: []Column{{Name: "k", Type: TypeInt32, Key: true}, {Name: "v", Type: TypeString, Nullable: true}},
		Hash: []HashDimension{{Columns: []string{"k"}, Buckets: 2}}, SplitRows: [][]any{{int32(5)}}}); err != nil {
		f.Fatal(err)
	}
	var tabletIDs []string
	for _, tb := range c.Tablets("t") {
		tabletIDs = append(tabletIDs, tb.ID)
	}
	methods := []string{"GetTableLocations", "CreateTable", "GetTableSchema", "IsCreateTableDone", "ListTables", "ConnectToMaster", "Ping", "Write", "DeleteTable"}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		m := methods[int(sel)%len(methods)]
		if m == "DeleteTable" {
			return // keep the table
		}
		s := c.masters[0]
		svc := masterService
		if m == "Write" {
			s, svc = c.tservers[int(sel)%len(c.tservers)], tserverService
			// Route some garbage to a real tablet.
			if len(tabletIDs) > 0 && sel&0x80 != 0 {
				body = append(msgb(nil).s(1, tabletIDs[int(sel)%len(tabletIDs)]), body...)
			}
		}
		s.dispatch(reqHeader{service: svc, method: m, hasMethod: true}, body)
		c.mu.Lock()
		for name := range c.tables {
			if name != "t" {
				tbl := c.tables[name]
				delete(c.tables, name)
				delete(c.tablesByID, tbl.id)
				for _, tb := range tbl.tablets {
					delete(c.tablets, tb.id)
				}
			}
		}
		c.mu.Unlock()
	})
}

// FuzzNegotiation feeds garbage to the decoders of the negotiation
// messages a client sends: NegotiatePB (with its TLS and Kerberos
// fields), ConnectionContextPB, the GSS-API framing and AP-REQ, the wrap
// tokens and SASL security layer messages. Errors are fine, panics are
// not.
func FuzzNegotiation(f *testing.F) {
	f.Add(uint8(0), []byte(msgb(nil).v(1, 1).v(1, 2).v(1, 3).v(2, 1).m(7, msgb(nil).m(1, nil))))
	f.Add(uint8(0), []byte(msgb(nil).v(2, stepTLSHandshake).b(5, []byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})))
	f.Add(uint8(0), []byte(msgb(nil).v(2, stepSASLSuccess).b(6, []byte("cb")).b(9, []byte("nonce"))))
	f.Add(uint8(1), []byte(msgb(nil).m(2, msgb(nil).s(2, "u")).b(3, []byte{0, 0, 0, 1, 5})))
	gss, _ := joinGSSToken(gssTokAPReq, []byte{0x6e, 0x03, 0x30, 0x01, 0x00})
	f.Add(uint8(2), gss)
	acc := &gssAcceptor{
		sessionKey: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)},
		subkey:     types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{2}, 32)},
		hasSubkey:  true,
	}
	if tok, err := acc.wrap([]byte{2, 0, 0, 0}); err == nil {
		tok[2] &^= flagSentByAcceptor // as if from the initiator
		f.Add(uint8(3), tok)
		f.Add(uint8(4), append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	}
	sec := &security{keytab: keytab.New(), service: []string{"kudu", "127.0.0.1"}}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		switch sel % 5 {
		case 0:
			decodeNegotiate(data)
		case 1:
			decodeConnectionContext(data)
		case 2:
			splitGSSToken(data)
			sec.acceptGSS(data)
		case 3:
			if p, err := acc.unwrap(data); err == nil {
				decodeLayerChoice(p)
			}
		case 4:
			acc.saslDecode(data)
		}
	})
}
