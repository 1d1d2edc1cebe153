package kudutest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// This file is kudu.tserver.TabletServerService/Write
// (tserver/tserver.proto, tserver/tserver_service.proto).

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// writeRequest is a decoded WriteRequestPB: tablet_id=1, schema=2,
// row_operations=3 {rows=2, indirect_data=3}, external_consistency_mode=4,
// propagated_timestamp=5 (fixed64), authz_token=6, txn_id=7.
type writeRequest struct {
	tabletID       string
	schema         []byte
	hasSchema      bool
	rows, indirect []byte
	hasTxn         bool
}

func decodeWriteRequest(b []byte) (writeRequest, error) {
	var w writeRequest
	fs, err := parseFields(b)
	if err != nil {
		return w, err
	}
	hasTablet := false
	for _, f := range fs {
		switch f.num {
		case 1:
			var v []byte
			v, err = f.bytes()
			w.tabletID, hasTablet = string(v), true
		case 2:
			w.schema, err = f.bytes()
			w.hasSchema = true
		case 3:
			var v []byte
			if v, err = f.bytes(); err == nil {
				w.rows, w.indirect, err = decodeRowOperationsPB(v)
			}
		case 4:
			_, err = f.varint()
		case 5:
			_, err = f.fixed64()
		case 6:
			_, err = f.bytes()
		case 7:
			_, err = f.varint()
			w.hasTxn = true
		}
		if err != nil {
			return w, err
		}
	}
	if !hasTablet {
		return w, errors.New("missing required field tablet_id")
	}
	return w, nil
}

// tsError is a TabletServerErrorPB {code=1, status=2}.
type tsError struct {
	code   TServerErrorCode
	status StatusCode
	msg    string
}

// writeResponse encodes WriteResponsePB: error=1, per_row_errors=2
// {row_index=1, error=2}, timestamp=3 (fixed64).
func writeResponse(e *tsError, rowErrs []int, statuses []rowStatus, ts uint64) []byte {
	var p pb
	if e != nil {
		p.msg(1, func(q *pb) {
			q.int32f(1, int32(e.code))
			appStatus(q, 2, e.status, e.msg)
		})
		return p.b
	}
	for i, idx := range rowErrs {
		p.msg(2, func(q *pb) {
			q.int32f(1, int32(idx))
			appStatus(q, 2, statuses[i].code, statuses[i].msg)
		})
	}
	p.fixed64(3, ts)
	return p.b
}

// mapClientSchema maps a client's schema onto the tablet's, as Kudu's
// ClientServerMapping does: every client column must exist in the tablet
// with the same type, nullability and attributes; the key columns must be
// the tablet's; every non-nullable tablet column without a default must
// be present.
func mapClientSchema(client, tablet *schema) ([]int, error) {
	mapping := make([]int, len(client.cols))
	seen := make([]bool, len(tablet.cols))
	for i := range client.cols {
		cc := &client.cols[i]
		ti, ok := tablet.byName[cc.name]
		if !ok {
			//lint:ignore ST1005 Kudu's own message
			return nil, fmt.Errorf("Client provided column %s not present in tablet", colString(cc))
		}
		tc := &tablet.cols[ti]
		if !cc.equalsType(tc) {
			//lint:ignore ST1005 Kudu's own message
			return nil, fmt.Errorf("The column '%s' must have type %s found %s", cc.name, colString(tc), colString(cc))
		}
		if cc.key != tc.key || (cc.key && ti != i) {
			return nil, fmt.Errorf("client schema key columns do not match the table's: column '%s'", cc.name)
		}
		mapping[i], seen[ti] = ti, true
	}
	if client.nkeys != tablet.nkeys {
		return nil, fmt.Errorf("client schema has %d key columns, the table has %d", client.nkeys, tablet.nkeys)
	}
	for ti := range tablet.cols {
		tc := &tablet.cols[ti]
		if !seen[ti] && !tc.nullable && !tc.hasDef {
			//lint:ignore ST1005 Kudu's own message
			return nil, fmt.Errorf("Client missing required column: %s", colString(tc))
		}
	}
	return mapping, nil
}

// write serves a Write call.
func (s *server) write(body []byte) ([]byte, *rpcError) {
	req, err := decodeWriteRequest(body)
	if err != nil {
		return nil, invalidRequest("Write", err)
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, e := s.applyWrite(&req)
	if e != nil {
		c.stats.WriteErrors++
		return writeResponse(e, nil, nil, 0), nil
	}
	return resp, nil
}

// applyWrite checks and applies a write. c.mu must be held.
func (s *server) applyWrite(req *writeRequest) ([]byte, *tsError) {
	c := s.c
	tb := c.tablets[req.tabletID]
	if tb == nil || !slices.Contains(tb.replicas, s.idx) || takeCountFault(c.notFound, req.tabletID) {
		return nil, &tsError{TServerTabletNotFound, StatusNotFound, "Tablet not found: " + req.tabletID}
	}
	if tb.leader != s.idx || takeCountFault(c.notLeader, req.tabletID) {
		msg := fmt.Sprintf("Replica %s is not leader of this config. Role: FOLLOWER", s.uuid)
		if c.cfg.legacyNotLeader {
			return nil, &tsError{TServerUnknownError, StatusIllegalState, msg}
		}
		return nil, &tsError{TServerNotTheLeader, StatusIllegalState, msg}
	}
	if req.hasTxn {
		return nil, &tsError{TServerUnknownError, StatusNotSupported, "kudutest does not support transactions"}
	}
	t := tb.table
	client, err := decodeSchema(req.schema)
	if err != nil {
		return nil, &tsError{TServerInvalidSchema, StatusInvalidArgument, "Cannot decode client schema: " + err.Error()}
	}
	for _, col := range client.cols {
		if col.hasID {
			return nil, &tsError{TServerInvalidSchema, StatusInvalidArgument, "User requests should not have Column IDs"}
		}
	}
	mapping, err := mapClientSchema(client, t.schema)
	if err != nil {
		return nil, &tsError{TServerMismatchedSchema, StatusInvalidArgument, err.Error()}
	}
	d := &opDecoder{rows: req.rows, indirect: req.indirect, client: client, target: t.schema, mapping: mapping, maxCell: c.cfg.maxCell}
	ops, oerr := d.decodeOps()
	if oerr != nil {
		return nil, &tsError{TServerMismatchedSchema, oerr.code, oerr.msg}
	}
	// Every well-formed row must belong to this tablet's partition, or the
	// whole write fails (Kudu's CheckRowInTablet in AcquireRowLocks).
	for i := range ops {
		op := &ops[i]
		if op.err != nil {
			continue
		}
		buckets, _ := t.ps.partitionKey(t.schema, op.cells)
		if !tb.part.contains(buckets, t.ps.rangeKey(t.schema, op.cells)) {
			return nil, &tsError{TServerUnknownError, StatusNotFound,
				fmt.Sprintf("Row not in tablet partition. Partition: '%x'..'%x', row: '%s'.", tb.part.start, tb.part.end, keyString(t.schema, op.cells))}
		}
	}
	var rowIdx []int
	var statuses []rowStatus
	for i := range ops {
		op := &ops[i]
		st := op.err
		if st == nil {
			st = c.injectedRowError(t, tb, op)
		}
		if st == nil {
			st = tb.apply(op)
		}
		if st != nil {
			rowIdx = append(rowIdx, i)
			statuses = append(statuses, *st)
		}
	}
	tb.writes++
	tb.ops += len(ops)
	c.stats.RowErrors += len(rowIdx)
	c.clock = max(c.clock+1, uint64(time.Now().UnixMicro())<<12)
	return writeResponse(nil, rowIdx, statuses, c.clock), nil
}

// injectedRowError returns the injected error for a row, if any.
func (c *Cluster) injectedRowError(t *table, tb *tablet, op *decodedOp) *rowStatus {
	if len(c.rowFaults) == 0 {
		return nil
	}
	ro := RowOp{Table: t.name, TabletID: tb.id, Op: op.typ, Row: t.schema.toRow(op.cells, true)}
	for i := 0; i < t.schema.nkeys; i++ {
		ro.Key = append(ro.Key, goValue(&t.schema.cols[i], op.cells[i]))
	}
	for _, f := range c.rowFaults {
		if f.times != 0 && f.match(ro) {
			if f.times > 0 {
				f.times--
			}
			return &rowStatus{f.code, f.msg}
		}
	}
	return nil
}

// apply applies one row operation to the row store.
func (tb *tablet) apply(op *decodedOp) *rowStatus {
	s := tb.table.schema
	key := string(encodeColumns(nil, s, keyIndexes(s), op.cells))
	old, exists := tb.rows[key]
	switch op.typ {
	case OpInsert, OpInsertIgnore:
		if exists {
			if op.typ == OpInsertIgnore {
				return nil
			}
			return &rowStatus{StatusAlreadyPresent, "key already present"}
		}
		tb.rows[key] = fullRow(s, op.cells)
	case OpUpsert, OpUpsertIgnore:
		if !exists {
			tb.rows[key] = fullRow(s, op.cells)
			return nil
		}
		tb.rows[key] = updated(old, op.cells)
	case OpUpdate, OpUpdateIgnore:
		if !exists {
			if op.typ == OpUpdateIgnore {
				return nil
			}
			return &rowStatus{StatusNotFound, "key not found"}
		}
		tb.rows[key] = updated(old, op.cells)
	case OpDelete, OpDeleteIgnore:
		if !exists {
			if op.typ == OpDeleteIgnore {
				return nil
			}
			return &rowStatus{StatusNotFound, "key not found"}
		}
		delete(tb.rows, key)
	}
	return nil
}

func keyIndexes(s *schema) []int {
	idx := make([]int, s.nkeys)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// fullRow fills the unset columns of an inserted row with their defaults
// or NULL.
func fullRow(s *schema, cells []cell) []cell {
	out := make([]cell, len(cells))
	for i, cl := range cells {
		switch {
		case cl.set:
			out[i] = cl
		case s.cols[i].hasDef:
			out[i] = cell{set: true, v: s.cols[i].def}
		default:
			out[i] = cell{set: true, null: true}
		}
	}
	return out
}

// updated applies the set columns of an update or upsert to a stored row;
// other columns keep their values.
func updated(old, cells []cell) []cell {
	out := slices.Clone(old)
	for i, cl := range cells {
		if cl.set {
			out[i] = cl
		}
	}
	return out
}
