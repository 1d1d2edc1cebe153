package kudu

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// tableIdentifier encodes TableIdentifierPB {table_id=1, table_name=2};
// empty values are left out (the master checks both when both are set).
func tableIdentifier(id, name string) func([]byte) []byte {
	return func(b []byte) []byte {
		if id != "" {
			b = appendStringField(b, 1, id)
		}
		if name != "" {
			b = appendStringField(b, 2, name)
		}
		return b
	}
}

// Table is an open table: its schema, partitioning, and a cache of its
// tablet locations. It is safe for concurrent use.
type Table struct {
	client      *Client
	name, id    string
	schema      *Schema
	ps          PartitionSchema
	part        *partitioning
	numReplicas int32
	schemaPB    []byte                 // SchemaPB sent with every write
	authz       atomic.Pointer[[]byte] // SignedTokenPB, forwarded as is
	locs        locationCache
}

// Name returns the table name.
func (t *Table) Name() string { return t.name }

// ID returns the table id assigned by the master.
func (t *Table) ID() string { return t.id }

// Schema returns the table schema.
func (t *Table) Schema() *Schema { return t.schema }

// PartitionSchema returns the table's hash and range partitioning (without
// bounds).
func (t *Table) PartitionSchema() PartitionSchema { return t.ps }

// NumReplicas returns the table's replication factor.
func (t *Table) NumReplicas() int { return int(t.numReplicas) }

// NewInsert returns an empty INSERT operation.
func (t *Table) NewInsert() *Operation { return t.schema.NewOperation(OpInsert) }

// NewUpsert returns an empty UPSERT operation (insert or replace).
func (t *Table) NewUpsert() *Operation { return t.schema.NewOperation(OpUpsert) }

// NewUpdate returns an empty UPDATE operation.
func (t *Table) NewUpdate() *Operation { return t.schema.NewOperation(OpUpdate) }

// NewDelete returns an empty DELETE operation; only key columns are sent.
func (t *Table) NewDelete() *Operation { return t.schema.NewOperation(OpDelete) }

// NewInsertIgnore returns an INSERT_IGNORE operation (duplicates are not
// errors). Needs a server with the IGNORE_OPERATIONS feature.
func (t *Table) NewInsertIgnore() *Operation { return t.schema.NewOperation(OpInsertIgnore) }

// NewUpsertIgnore returns an UPSERT_IGNORE operation.
func (t *Table) NewUpsertIgnore() *Operation { return t.schema.NewOperation(OpUpsertIgnore) }

// NewUpdateIgnore returns an UPDATE_IGNORE operation.
func (t *Table) NewUpdateIgnore() *Operation { return t.schema.NewOperation(OpUpdateIgnore) }

// NewDeleteIgnore returns a DELETE_IGNORE operation.
func (t *Table) NewDeleteIgnore() *Operation { return t.schema.NewOperation(OpDeleteIgnore) }

// Table opens the named table (GetTableSchema).
func (c *Client) Table(ctx context.Context, name string) (*Table, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req := appendMessageField(nil, 1, tableIdentifier("", name))
	body, err := c.masterCall(ctx, "GetTableSchema", req, nil)
	if err != nil {
		return nil, err
	}
	t, err := parseTableSchema(body)
	if err != nil {
		return nil, errorf("table %q: %w", name, err)
	}
	t.client = c
	if t.name == "" {
		t.name = name
	}
	return t, nil
}

// parseTableSchema decodes GetTableSchemaResponsePB: schema=2,
// partition_schema=5, num_replicas=3, table_id=4, table_name=7,
// authz_token=8.
func parseTableSchema(b []byte) (*Table, error) {
	t := &Table{}
	var schemaB, psB, token []byte
	haveSchema := false
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 2:
			schemaB, err = f.bytes()
			haveSchema = true
		case 5:
			psB, err = f.bytes()
		case 3:
			t.numReplicas, err = f.int32v()
		case 4:
			t.id, err = f.str()
		case 7:
			t.name, err = f.str()
		case 8:
			token, err = f.bytes()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !haveSchema || t.id == "" {
		return nil, malformed("GetTableSchema response without schema or table_id")
	}
	if t.schema, err = parseSchema(schemaB); err != nil {
		return nil, err
	}
	var ps *PartitionSchema
	if t.part, ps, err = parsePartitionSchema(psB, t.schema); err != nil {
		return nil, err
	}
	t.ps = *ps
	t.schemaPB = t.schema.marshal()
	if token != nil {
		tok := append([]byte(nil), token...)
		t.authz.Store(&tok)
	}
	return t, nil
}

// refreshAuthz fetches a new authz token for t.
func (t *Table) refreshAuthz(ctx context.Context) error {
	req := appendMessageField(nil, 1, tableIdentifier(t.id, t.name))
	body, err := t.client.masterCall(ctx, "GetTableSchema", req, nil)
	if err != nil {
		return err
	}
	nt, err := parseTableSchema(body)
	if err != nil {
		return err
	}
	if p := nt.authz.Load(); p != nil {
		t.authz.Store(p)
	}
	return nil
}

// CreateTableOptions are optional settings of CreateTable.
type CreateTableOptions struct {
	// NumReplicas is the replication factor; 0 uses the master default.
	NumReplicas int
	// NoWait returns as soon as the master accepted the table, without
	// polling IsCreateTableDone.
	NoWait bool
}

// CreateTable creates a table and returns it opened. Range bounds and
// split rows in ps must be rows of schema (schema.NewRow) with only range
// columns set.
func (c *Client) CreateTable(ctx context.Context, name string, schema *Schema, ps PartitionSchema, opts *CreateTableOptions) (*Table, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if opts == nil {
		opts = &CreateTableOptions{}
	}
	if _, err := resolvePartitioning(&ps, schema); err != nil {
		return nil, err
	}
	bounds, err := encodeRangeBounds(&ps, schema)
	if err != nil {
		return nil, err
	}
	var req []byte
	req = appendStringField(req, 1, name)
	req = appendBytesField(req, 2, schema.marshal())
	if opts.NumReplicas > 0 {
		req = appendInt32Field(req, 4, int32(opts.NumReplicas))
	}
	if bounds != nil {
		req = appendBytesField(req, 6, bounds)
	}
	req = appendBytesField(req, 7, marshalPartitionSchema(&ps))
	var features []uint32
	if len(ps.RangeBounds) > 0 {
		features = append(features, masterFeatureRangePartitionBounds)
	}
	body, err := c.masterCall(ctx, "CreateTable", req, features)
	if err != nil {
		return nil, err
	}
	var tableID string
	err = walkFields(body, func(f field) error {
		var err error
		if f.num == 2 {
			tableID, err = f.str()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !opts.NoWait {
		if err := c.waitCreateTable(ctx, tableID, name); err != nil {
			return nil, err
		}
	}
	return c.Table(ctx, name)
}

// waitCreateTable polls IsCreateTableDone until done=3 is true.
func (c *Client) waitCreateTable(ctx context.Context, id, name string) error {
	req := appendMessageField(nil, 1, tableIdentifier(id, name))
	for attempt := 0; ; attempt++ {
		body, err := c.masterCall(ctx, "IsCreateTableDone", req, nil)
		if err != nil {
			return err
		}
		done := false
		err = walkFields(body, func(f field) error {
			var err error
			if f.num == 3 {
				done, err = f.boolv()
			}
			return err
		})
		if err != nil || done {
			return err
		}
		if err := c.backoff(ctx, min(attempt, 6)); err != nil {
			return errorf("waiting for table %q: %w", name, err)
		}
	}
}

// encodeRangeBounds encodes the bounds and split rows as a RowOperationsPB
// (RANGE_LOWER_BOUND=6 / RANGE_UPPER_BOUND=7 pairs, SPLIT_ROW=4).
func encodeRangeBounds(ps *PartitionSchema, s *Schema) ([]byte, error) {
	if len(ps.RangeBounds) == 0 && len(ps.SplitRows) == 0 {
		return nil, nil
	}
	var rows, indirect []byte
	add := func(r *Row, op OpType) error {
		if r == nil {
			r = s.NewRow()
		}
		if r.schema != s {
			return fmt.Errorf("kudu: %v row was not made with this schema's NewRow", op)
		}
		if r.err != nil {
			return r.err
		}
		rows, indirect = r.appendRow(rows, indirect, op)
		return nil
	}
	for _, b := range ps.RangeBounds {
		if err := add(b.Lower, opRangeLowerBound); err != nil {
			return nil, err
		}
		if err := add(b.Upper, opRangeUpperBound); err != nil {
			return nil, err
		}
	}
	for _, r := range ps.SplitRows {
		if r == nil {
			return nil, errors.New("kudu: nil split row")
		}
		if err := add(r, opSplitRow); err != nil {
			return nil, err
		}
	}
	return marshalRowOperations(rows, indirect), nil
}

// marshalRowOperations encodes RowOperationsPB {rows=2, indirect_data=3}.
func marshalRowOperations(rows, indirect []byte) []byte {
	b := make([]byte, 0, len(rows)+len(indirect)+12)
	b = appendBytesField(b, 2, rows)
	if len(indirect) > 0 {
		b = appendBytesField(b, 3, indirect)
	}
	return b
}

// DeleteTable deletes the named table.
func (c *Client) DeleteTable(ctx context.Context, name string) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req := appendMessageField(nil, 1, tableIdentifier("", name))
	_, err := c.masterCall(ctx, "DeleteTable", req, nil)
	return err
}
