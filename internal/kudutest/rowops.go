package kudutest

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// This file decodes RowOperationsPB {rows=2, indirect_data=3}
// (common/row_operations.proto) the way Kudu's RowOperationsPBDecoder
// does. Each row is: one op-type byte; an isset bitmap of ceil(ncols/8)
// bytes (column i is bit i%8 of byte i/8); a null bitmap of the same size
// only if the client schema has a nullable column (set bit = NULL); then,
// for each set non-null column in client schema order, the cell: fixed
// widths little-endian, STRING/BINARY/VARCHAR as a uint64 LE offset and a
// uint64 LE length into indirect_data. Rows are concatenated without
// padding and must be consumed exactly.
//
// Errors come in two kinds, as in Kudu: a malformed request (truncated
// row, bad indirect slice, unknown op type) fails the whole request
// (opsError); a well-formed row that breaks a rule (missing or NULL key,
// NULL in a non-nullable column, cell too large) fails only that row
// (decodedOp.err).
//
// One rule is kudutest's own, stricter than a tablet server: a DATE cell
// outside Kudu's range (minDate to maxDate days, 0001-01-01 to 9999-12-31)
// fails its row, and a split row or range bound that holds one fails the
// whole request. Kudu's clients refuse such a value (KuduPartialRow::SetDate
// checks DataTypeTraits<DATE>::IsValidValue) but a tablet server stores it,
// and Kudu's Java client then cannot read it back: refusing it here makes a
// client that lets one through fail its tests instead of passing silently.

// rowStatus is a per-row failure: AppStatusPB {code, message}.
type rowStatus struct {
	code StatusCode
	msg  string
}

// opsError is a failure of the whole row block.
type opsError struct {
	code StatusCode
	msg  string
}

func (e *opsError) Error() string { return fmt.Sprintf("%v: %s", e.code, e.msg) }

// decodedOp is one decoded row operation.
type decodedOp struct {
	typ   OpType
	cells []cell // in the target schema's column order
	err   *rowStatus
}

func (o *decodedOp) fail(code StatusCode, msg string) {
	if o.err == nil {
		o.err = &rowStatus{code, msg}
	}
}

// opDecoder holds the state of one decoding pass.
type opDecoder struct {
	rows, indirect []byte
	client, target *schema
	mapping        []int // client column index -> target column index
	maxCell        int   // 0: no limit
	splitRows      bool  // CreateTable split rows / range bounds instead of writes
}

// colString describes a column as Kudu's ColumnSchema::ToString does.
func colString(c *column) string {
	n := " NOT NULL"
	if c.nullable {
		n = " NULLABLE"
	}
	return fmt.Sprintf("%s %v%s", c.name, c.typ, n)
}

func bitSet(bm []byte, i int) bool { return bm[i/8]&(1<<(uint(i)%8)) != 0 }

// decodeOps decodes every row. For split rows the client and target
// schemas are the same.
func (d *opDecoder) decodeOps() ([]decodedOp, *opsError) {
	if d.mapping == nil {
		d.mapping = make([]int, len(d.client.cols))
		for i := range d.mapping {
			d.mapping[i] = i
		}
	}
	var ops []decodedOp
	for len(d.rows) > 0 {
		t := OpType(d.rows[0])
		if t > OpUpsertIgnore {
			return nil, &opsError{StatusNotSupported, fmt.Sprintf("Unknown operation type: %d", d.rows[0])}
		}
		d.rows = d.rows[1:]
		op := decodedOp{typ: t, cells: make([]cell, len(d.target.cols))}
		var err *opsError
		switch {
		case d.splitRows:
			switch t {
			case OpSplitRow, OpRangeLowerBound, OpRangeUpperBound, OpExclusiveRangeLowerBound, OpInclusiveRangeUpperBound:
				err = d.decodeSplitRow(&op)
			default:
				return nil, &opsError{StatusInvalidArgument, "Invalid split row type " + t.String()}
			}
		default:
			switch t {
			case OpInsert, OpUpsert, OpInsertIgnore, OpUpsertIgnore:
				err = d.decodeInsert(&op)
			case OpUpdate, OpUpdateIgnore, OpDelete, OpDeleteIgnore:
				err = d.decodeUpdateOrDelete(&op)
			default:
				return nil, &opsError{StatusInvalidArgument, "Invalid write operation type " + t.String()}
			}
		}
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// bitmaps reads the isset bitmap and, if the client schema has nullable
// columns, the null bitmap.
func (d *opDecoder) bitmaps() (isset, nulls []byte, err *opsError) {
	n := (len(d.client.cols) + 7) / 8
	if len(d.rows) < n {
		return nil, nil, &opsError{StatusCorruption, "Cannot find isset bitmap"}
	}
	isset, d.rows = d.rows[:n], d.rows[n:]
	if d.client.nullable {
		if len(d.rows) < n {
			return nil, nil, &opsError{StatusCorruption, "Cannot find null bitmap"}
		}
		nulls, d.rows = d.rows[:n], d.rows[n:]
	}
	return isset, nulls, nil
}

// isNull reports whether the client marked a column NULL.
func (d *opDecoder) isNull(nulls []byte, ci int) bool {
	return nulls != nil && bitSet(nulls, ci)
}

// readCell consumes one cell of column c. When op is not nil, a string
// or binary cell larger than the cell limit fails the row.
func (d *opDecoder) readCell(c *column, op *decodedOp) ([]byte, *opsError) {
	size := c.typ.size()
	if len(d.rows) < size {
		return nil, &opsError{StatusCorruption, "Not enough data for column: " + colString(c)}
	}
	raw := d.rows[:size]
	d.rows = d.rows[size:]
	if !c.typ.varlen() {
		return append([]byte(nil), raw...), nil
	}
	off := binary.LittleEndian.Uint64(raw[:8])
	n := binary.LittleEndian.Uint64(raw[8:])
	end, carry := bits.Add64(off, n, 0)
	if carry != 0 || end > uint64(len(d.indirect)) {
		return nil, &opsError{StatusCorruption, "Bad indirect slice"}
	}
	if op != nil && d.maxCell > 0 && n > uint64(d.maxCell) {
		op.fail(StatusInvalidArgument, fmt.Sprintf("value too large for column '%s' (%d bytes, maximum is %d bytes)", c.name, n, d.maxCell))
	}
	return append([]byte{}, d.indirect[off:end]...), nil
}

// dateOutOfRange returns why cell v of column c holds a value Kudu's
// clients refuse, a DATE outside minDate..maxDate days, or "" when it
// does not.
func dateOutOfRange(c *column, v []byte) string {
	if c.typ != TypeDate || len(v) != 4 {
		return ""
	}
	days := int32(binary.LittleEndian.Uint32(v))
	if days >= minDate && days <= maxDate {
		return ""
	}
	return fmt.Sprintf("value %d out of range for DATE column '%s': Kudu's clients refuse days outside %d (0001-01-01) to %d (9999-12-31) "+
		"(kudutest refuses it; a tablet server would store it)", days, c.name, minDate, maxDate)
}

// checkCell fails op when cell v of column c holds a value outside its
// type's range (dateOutOfRange).
func checkCell(c *column, v []byte, op *decodedOp) {
	if msg := dateOutOfRange(c, v); msg != "" {
		op.fail(StatusInvalidArgument, msg)
	}
}

// decodeInsert decodes INSERT, UPSERT, INSERT_IGNORE and UPSERT_IGNORE
// rows: every non-nullable column without a default must be set.
func (d *opDecoder) decodeInsert(op *decodedOp) *opsError {
	isset, nulls, err := d.bitmaps()
	if err != nil {
		return err
	}
	for ci := range d.client.cols {
		ti := d.mapping[ci]
		tc := &d.target.cols[ti]
		if !bitSet(isset, ci) {
			if !tc.nullable && !tc.hasDef {
				op.fail(StatusInvalidArgument, "No value provided for required column: "+colString(tc))
			}
			continue
		}
		if d.isNull(nulls, ci) {
			if tc.nullable {
				op.cells[ti] = cell{set: true, null: true}
				continue
			}
			op.fail(StatusInvalidArgument, "NULL values not allowed for non-nullable column: "+colString(tc))
			// Kudu reads and discards the cell of a NULL non-nullable column.
			if _, err := d.readCell(tc, nil); err != nil {
				return err
			}
			continue
		}
		v, err := d.readCell(tc, op)
		if err != nil {
			return err
		}
		checkCell(tc, v, op)
		op.cells[ti] = cell{set: true, v: v}
	}
	return nil
}

// decodeUpdateOrDelete decodes UPDATE, UPDATE_IGNORE, DELETE and
// DELETE_IGNORE rows: the key must be set and non-NULL; an update must set
// some other column; a delete must set none.
func (d *opDecoder) decodeUpdateOrDelete(op *decodedOp) *opsError {
	isset, nulls, err := d.bitmaps()
	if err != nil {
		return err
	}
	ci := 0
	for ; ci < d.client.nkeys; ci++ {
		ti := d.mapping[ci]
		tc := &d.target.cols[ti]
		if !bitSet(isset, ci) {
			op.fail(StatusInvalidArgument, "No value provided for key column: "+colString(tc))
			continue
		}
		if d.isNull(nulls, ci) {
			op.fail(StatusInvalidArgument, "NULL values not allowed for key column: "+colString(tc))
			if _, err := d.readCell(tc, nil); err != nil {
				return err
			}
			continue
		}
		v, err := d.readCell(tc, nil)
		if err != nil {
			return err
		}
		checkCell(tc, v, op)
		op.cells[ti] = cell{set: true, v: v}
	}
	isUpdate := op.typ == OpUpdate || op.typ == OpUpdateIgnore
	updated := 0
	for ; ci < len(d.client.cols); ci++ {
		if !bitSet(isset, ci) {
			continue
		}
		ti := d.mapping[ci]
		tc := &d.target.cols[ti]
		null := d.isNull(nulls, ci)
		if !isUpdate {
			op.fail(StatusInvalidArgument, "DELETE should not have a value for column: "+colString(tc))
			if !null || !tc.nullable {
				if _, err := d.readCell(tc, nil); err != nil {
					return err
				}
			}
			continue
		}
		switch {
		case !null:
			v, err := d.readCell(tc, op)
			if err != nil {
				return err
			}
			checkCell(tc, v, op)
			op.cells[ti] = cell{set: true, v: v}
		case !tc.nullable:
			op.fail(StatusInvalidArgument, "NULL value not allowed for non-nullable column: "+colString(tc))
			if _, err := d.readCell(tc, nil); err != nil {
				return err
			}
			continue
		default:
			op.cells[ti] = cell{set: true, null: true}
		}
		updated++
	}
	if isUpdate && updated == 0 {
		op.fail(StatusInvalidArgument, "No fields updated, key is: "+d.keyString(op.cells))
	}
	return nil
}

// decodeSplitRow decodes a split row or range bound: set columns carry a
// value (the null bitmap is read and ignored, as in Kudu). A DATE value
// out of range fails the request (dateOutOfRange).
func (d *opDecoder) decodeSplitRow(op *decodedOp) *opsError {
	isset, _, err := d.bitmaps()
	if err != nil {
		return err
	}
	for ci := range d.client.cols {
		if !bitSet(isset, ci) {
			continue
		}
		ti := d.mapping[ci]
		tc := &d.target.cols[ti]
		v, err := d.readCell(tc, nil)
		if err != nil {
			return err
		}
		if msg := dateOutOfRange(tc, v); msg != "" {
			return &opsError{StatusInvalidArgument, msg}
		}
		op.cells[ti] = cell{set: true, v: v}
	}
	return nil
}

// keyString renders a row's key for messages.
func (d *opDecoder) keyString(cells []cell) string {
	return keyString(d.target, cells)
}

func keyString(s *schema, cells []cell) string {
	out := "("
	for i := 0; i < s.nkeys; i++ {
		if i > 0 {
			out += ", "
		}
		c := &s.cols[i]
		out += fmt.Sprintf("%v %s=%v", c.typ, c.name, goValue(c, cells[i]))
	}
	return out + ")"
}
