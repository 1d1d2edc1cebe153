package kudutest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is kudu.master.MasterService (master/master.proto).

// encodeMasterErr appends MasterErrorPB {code=1, status=2} as field n.
func encodeMasterErr(p *pb, n protowire.Number, e *masterErr) {
	p.msg(n, func(q *pb) {
		q.int32f(1, int32(e.code))
		appStatus(q, 2, e.status, e.msg)
	})
}

// errorResponse is a response whose only field is error=1.
func errorResponse(e *masterErr) []byte {
	var p pb
	encodeMasterErr(&p, 1, e)
	return p.b
}

// leaderCheck returns the NOT_THE_LEADER error a follower master answers
// catalog calls with. c.mu must be held.
func (s *server) leaderCheck() *masterErr {
	if s.c.leaderMaster == s.idx {
		return nil
	}
	return &masterErr{MasterNotTheLeader, StatusIllegalState,
		fmt.Sprintf("Not the leader. Local UUID: %s, Raft Consensus state: role FOLLOWER", s.uuid)}
}

// hostPort appends HostPortPB {host=1, port=2} as field n.
func hostPort(p *pb, n protowire.Number, s *server) {
	p.msg(n, func(q *pb) {
		q.str(1, s.host)
		q.varint(2, uint64(s.port))
	})
}

// connectToMaster answers ConnectToMasterResponsePB: role=2,
// master_addrs=5, cluster_id=8.
func (s *server) connectToMaster(body []byte) ([]byte, *rpcError) {
	if _, err := parseFields(body); err != nil {
		return nil, invalidRequest("ConnectToMaster", err)
	}
	s.c.mu.Lock()
	leader := s.c.leaderMaster == s.idx
	s.c.mu.Unlock()
	var p pb
	if leader {
		p.int32f(2, roleLeader)
	} else {
		p.int32f(2, roleFollower)
	}
	for _, m := range s.c.masters {
		hostPort(&p, 5, m)
	}
	p.str(8, "kudutest-cluster")
	return p.b, nil
}

// tableIdent is a decoded TableIdentifierPB {table_id=1, table_name=2}.
type tableIdent struct {
	id, name       string
	hasID, hasName bool
}

func decodeTableIdent(b []byte) (tableIdent, error) {
	var t tableIdent
	fs, err := parseFields(b)
	if err != nil {
		return t, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			v, err := f.bytes()
			if err != nil {
				return t, err
			}
			t.id, t.hasID = string(v), true
		case 2:
			v, err := f.bytes()
			if err != nil {
				return t, err
			}
			t.name, t.hasName = string(v), true
		}
	}
	if !t.hasID && !t.hasName {
		return t, errors.New("table identifier has neither table_id nor table_name")
	}
	return t, nil
}

// findTable resolves a table identifier. c.mu must be held.
func (c *Cluster) findTable(id tableIdent) (*table, *masterErr) {
	var t *table
	if id.hasID {
		t = c.tablesByID[id.id]
		if t != nil && id.hasName && t.name != id.name {
			t = nil
		}
	} else {
		t = c.tables[id.name]
	}
	if t == nil {
		return nil, &masterErr{MasterTableNotFound, StatusNotFound, "the table does not exist"}
	}
	return t, nil
}

// tableRequest decodes a request whose field 1 is a required
// TableIdentifierPB and returns the other fields.
func tableRequest(method string, body []byte) (tableIdent, []field, *rpcError) {
	fs, err := parseFields(body)
	if err != nil {
		return tableIdent{}, nil, invalidRequest(method, err)
	}
	var id tableIdent
	found := false
	for _, f := range fs {
		if f.num == 1 {
			b, err := f.bytes()
			if err != nil {
				return id, nil, invalidRequest(method, err)
			}
			if id, err = decodeTableIdent(b); err != nil {
				return id, nil, invalidRequest(method, err)
			}
			found = true
		}
	}
	if !found {
		return id, nil, invalidRequest(method, errors.New("missing required field table"))
	}
	return id, fs, nil
}

// withTable serves a master call whose request names a table: it parses
// the table identifier, then, holding the cluster lock, answers a
// non-leader master's or a missing table's error, or calls answer with
// the table.
func (s *server) withTable(method string, body []byte, answer func(*table) []byte) ([]byte, *rpcError) {
	id, _, rerr := tableRequest(method, body)
	if rerr != nil {
		return nil, rerr
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := s.leaderCheck(); e != nil {
		return errorResponse(e), nil
	}
	t, e := c.findTable(id)
	if e != nil {
		return errorResponse(e), nil
	}
	return answer(t), nil
}

// getTableSchema answers GetTableSchemaResponsePB: schema=2 (with column
// ids), partition_schema=5, num_replicas=3, table_id=4, table_name=7.
func (s *server) getTableSchema(body []byte) ([]byte, *rpcError) {
	return s.withTable("GetTableSchema", body, func(t *table) []byte {
		var p pb
		p.msg(2, func(q *pb) { encodeSchema(q, t.schema, true) })
		p.int32f(3, int32(t.replicas))
		p.bytesf(4, []byte(t.id))
		p.msg(5, func(q *pb) { encodePartitionSchema(q, t.ps, t.schema) })
		p.str(7, t.name)
		return p.b
	})
}

// getTableLocations serves GetTableLocationsRequestPB: table=1,
// partition_key_start=3, partition_key_end=4, max_returned_locations=5,
// intern_ts_infos_in_response=7, key_start=8 / key_end=9 (PartitionKeyPB
// {range_key=1, hash_key=2}). Like Kudu's catalog manager it returns the
// tablet whose start is the greatest not above the start key (even if the
// key falls in a non-covered range after it), then the following ones.
// The answer: tablet_locations=2 {tablet_id=1, partition=6
// {hash_buckets=1, partition_key_start=2, partition_key_end=3},
// interned_replicas=7 {ts_info_idx=1, role=2} or DEPRECATED_replicas=4
// {ts_info=1, role=2}}, ts_infos=4 {permanent_uuid=1, rpc_addresses=2},
// ttl_millis=3.
func (s *server) getTableLocations(body []byte) ([]byte, *rpcError) {
	const method = "GetTableLocations"
	id, fs, rerr := tableRequest(method, body)
	if rerr != nil {
		return nil, rerr
	}
	var start, end []byte
	var hasStart, hasEnd, intern, hasMax bool
	var max uint32
	partKey := func(b []byte) ([]byte, error) {
		kfs, err := parseFields(b)
		if err != nil {
			return nil, err
		}
		var rk, hk []byte
		for _, kf := range kfs {
			switch kf.num {
			case 1:
				rk, err = kf.bytes()
			case 2:
				hk, err = kf.bytes()
			}
			if err != nil {
				return nil, err
			}
		}
		return append(append([]byte{}, hk...), rk...), nil
	}
	for _, f := range fs {
		var err error
		switch f.num {
		case 3:
			if !hasStart {
				start, err = f.bytes()
				hasStart = true
			}
		case 4:
			if !hasEnd {
				end, err = f.bytes()
				hasEnd = true
			}
		case 5:
			max, err = f.uint32v()
			hasMax = true
		case 7:
			intern, err = f.boolv()
		case 8:
			var b []byte
			if b, err = f.bytes(); err == nil {
				start, err = partKey(b)
				hasStart = true
			}
		case 9:
			var b []byte
			if b, err = f.bytes(); err == nil {
				end, err = partKey(b)
				hasEnd = true
			}
		}
		if err != nil {
			return nil, invalidRequest(method, err)
		}
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := s.leaderCheck(); e != nil {
		return errorResponse(e), nil
	}
	if hasMax && max == 0 {
		return errorResponse(&masterErr{MasterUnknownError, StatusInvalidArgument, "max_returned_locations must be greater than 0 if specified"}), nil
	}
	if hasStart && hasEnd && bytes.Compare(start, end) > 0 {
		return errorResponse(&masterErr{MasterUnknownError, StatusInvalidArgument, "start partition key is greater than the end partition key"}), nil
	}
	t, e := c.findTable(id)
	if e != nil {
		return errorResponse(e), nil
	}
	i := 0
	if hasStart {
		// upper_bound(start), then one step back.
		i = len(t.tablets)
		for j, tb := range t.tablets {
			if bytes.Compare(tb.part.start, start) > 0 {
				i = j
				break
			}
		}
		if i > 0 {
			i--
		}
	}
	var p pb
	tsIdx := map[int]int{}
	var tsOrder []int
	for n := 0; i < len(t.tablets); i++ {
		tb := t.tablets[i]
		if hasEnd && bytes.Compare(tb.part.start, end) > 0 {
			break
		}
		if hasMax && n >= int(max) {
			break
		}
		n++
		p.msg(2, func(q *pb) {
			q.bytesf(1, []byte(tb.id))
			q.msg(6, func(r *pb) {
				if len(tb.part.buckets) > 0 {
					r.packedInt32(1, tb.part.buckets)
				}
				r.bytesf(2, tb.part.start)
				r.bytesf(3, tb.part.end)
			})
			for _, ts := range tb.replicas {
				role := int32(roleFollower)
				if ts == tb.leader {
					role = roleLeader
				}
				if intern {
					k, ok := tsIdx[ts]
					if !ok {
						k = len(tsOrder)
						tsIdx[ts] = k
						tsOrder = append(tsOrder, ts)
					}
					q.msg(7, func(r *pb) {
						r.varint(1, uint64(k))
						r.int32f(2, role)
					})
				} else {
					q.msg(4, func(r *pb) {
						r.msg(1, func(x *pb) { s.c.tsInfo(x, ts) })
						r.int32f(2, role)
					})
				}
			}
		})
	}
	for _, ts := range tsOrder {
		p.msg(4, func(q *pb) { s.c.tsInfo(q, ts) })
	}
	p.varint(3, uint64(c.cfg.ttl.Milliseconds()))
	return p.b, nil
}

// tsInfo encodes TSInfoPB {permanent_uuid=1, rpc_addresses=2}.
func (c *Cluster) tsInfo(p *pb, ts int) {
	p.bytesf(1, []byte(c.tservers[ts].uuid))
	hostPort(p, 2, c.tservers[ts])
}

// createTable serves CreateTableRequestPB: name=1, schema=2,
// num_replicas=4, split_rows_range_bounds=6, partition_schema=7. The
// answer is CreateTableResponsePB {error=1, table_id=2}.
func (s *server) createTable(body []byte) ([]byte, *rpcError) {
	const method = "CreateTable"
	fs, err := parseFields(body)
	if err != nil {
		return nil, invalidRequest(method, err)
	}
	var name string
	var schemaB, psB, rowsB []byte
	var hasName, hasSchema bool
	var replicas int32
	for _, f := range fs {
		switch f.num {
		case 1:
			var v []byte
			v, err = f.bytes()
			name, hasName = string(v), true
		case 2:
			schemaB, err = f.bytes()
			hasSchema = true
		case 4:
			replicas, err = f.int32v()
		case 6:
			rowsB, err = f.bytes()
		case 7:
			psB, err = f.bytes()
		}
		if err != nil {
			return nil, invalidRequest(method, err)
		}
	}
	if !hasName || !hasSchema {
		return nil, invalidRequest(method, errors.New("missing required fields name or schema"))
	}
	invalid := func(err error) ([]byte, *rpcError) {
		return errorResponse(&masterErr{MasterInvalidSchema, StatusInvalidArgument, err.Error()}), nil
	}
	sc, err := decodeSchema(schemaB)
	if err != nil {
		return invalid(err)
	}
	if err := sc.validateTable(); err != nil {
		return invalid(err)
	}
	ps, err := decodePartitionSchema(psB, sc)
	if err != nil {
		return invalid(err)
	}
	var ops []decodedOp
	if rowsB != nil {
		rows, indirect, err := decodeRowOperationsPB(rowsB)
		if err != nil {
			return nil, invalidRequest(method, err)
		}
		d := &opDecoder{rows: rows, indirect: indirect, client: sc, target: sc, splitRows: true}
		var oerr *opsError
		if ops, oerr = d.decodeOps(); oerr != nil {
			return invalid(oerr)
		}
	}
	ranges, err := ps.rangesFromOps(sc, ops)
	if err != nil {
		return invalid(err)
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := s.leaderCheck(); e != nil {
		return errorResponse(e), nil
	}
	t, e := c.addTable(name, sc, ps, ranges, int(replicas))
	if e != nil {
		return errorResponse(e), nil
	}
	var p pb
	p.bytesf(2, []byte(t.id))
	return p.b, nil
}

// decodeRowOperationsPB decodes RowOperationsPB {rows=2, indirect_data=3}.
func decodeRowOperationsPB(b []byte) (rows, indirect []byte, err error) {
	fs, err := parseFields(b)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range fs {
		switch f.num {
		case 2:
			rows, err = f.bytes()
		case 3:
			indirect, err = f.bytes()
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return rows, indirect, nil
}

// isCreateTableDone answers IsCreateTableDoneResponsePB {error=1, done=3}:
// tables are created synchronously.
func (s *server) isCreateTableDone(body []byte) ([]byte, *rpcError) {
	return s.withTable("IsCreateTableDone", body, func(*table) []byte {
		var p pb
		p.boolf(3, true)
		return p.b
	})
}

// deleteTable serves DeleteTableRequestPB {table=1}.
func (s *server) deleteTable(body []byte) ([]byte, *rpcError) {
	return s.withTable("DeleteTable", body, func(t *table) []byte {
		c := s.c
		delete(c.tables, t.name)
		delete(c.tablesByID, t.id)
		for _, tb := range t.tablets {
			delete(c.tablets, tb.id)
		}
		return nil
	})
}

// listTables serves ListTablesRequestPB {name_filter=1}; the answer is
// ListTablesResponsePB {tables=2 {id=1, name=2, num_tablets=4,
// num_replicas=5}}.
func (s *server) listTables(body []byte) ([]byte, *rpcError) {
	fs, err := parseFields(body)
	if err != nil {
		return nil, invalidRequest("ListTables", err)
	}
	filter := ""
	for _, f := range fs {
		if f.num == 1 {
			v, err := f.bytes()
			if err != nil {
				return nil, invalidRequest("ListTables", err)
			}
			filter = string(v)
		}
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := s.leaderCheck(); e != nil {
		return errorResponse(e), nil
	}
	var p pb
	for _, name := range sortedKeys(c.tables) {
		t := c.tables[name]
		if filter != "" && !strings.Contains(name, filter) {
			continue
		}
		p.msg(2, func(q *pb) {
			q.bytesf(1, []byte(t.id))
			q.str(2, t.name)
			q.int32f(4, int32(len(t.tablets)))
			q.int32f(5, int32(t.replicas))
		})
	}
	return p.b, nil
}
