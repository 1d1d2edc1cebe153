package kudu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Service names (the proto package and service).
const (
	masterService  = "kudu.master.MasterService"
	tserverService = "kudu.tserver.TabletServerService"

	defaultMasterPort  = "7051"
	defaultTServerPort = "7050"
)

// MasterFeatures values (master.proto) sent as required_feature_flags.
const (
	masterFeatureRangePartitionBounds = 1
	masterFeatureConnectToMaster      = 3
)

// Defaults of the options.
const (
	DefaultMaxBatchBytes  = 7 << 20
	DefaultMaxCellBytes   = 64 << 10 // Kudu's --max_cell_size_bytes
	DefaultTimeout        = 30 * time.Second
	DefaultMaxAttempts    = 12
	DefaultMaxConcurrency = 16
)

type config struct {
	user, password   string
	maxBatchBytes    int
	maxCellBytes     int
	timeout          time.Duration
	backoffMin       time.Duration
	backoffMax       time.Duration
	maxAttempts      int
	maxConcurrency   int
	locationsPerCall uint32
	dial             func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Option configures a Client.
type Option func(*config)

// WithUser sets the SASL PLAIN user name. Default: the OS user, or
// "kudu-go" if it cannot be determined.
func WithUser(name string) Option { return func(c *config) { c.user = name } }

// WithPassword sets the SASL PLAIN password. Default: empty (unsecured
// Kudu servers accept any password).
func WithPassword(p string) Option { return func(c *config) { c.password = p } }

// WithMaxBatchBytes bounds the encoded row data (rows plus indirect data)
// of one Write request. Default DefaultMaxBatchBytes (7 MiB); values are
// capped below the 50 MiB RPC message limit.
func WithMaxBatchBytes(n int) Option { return func(c *config) { c.maxBatchBytes = n } }

// WithMaxCellBytes sets the largest string or binary value accepted
// (Kudu's --max_cell_size_bytes). Default 64 KiB; 0 or less disables the
// check.
func WithMaxCellBytes(n int) Option { return func(c *config) { c.maxCellBytes = n } }

// WithTimeout sets the deadline applied to a call whose context has none.
// Default 30s.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithBackoff sets the first and the largest delay between retries. The
// delay doubles per attempt, with jitter. Default 20ms and 2s.
func WithBackoff(first, max time.Duration) Option {
	return func(c *config) { c.backoffMin, c.backoffMax = first, max }
}

// WithMaxAttempts bounds the tries of one request (master lookup or tablet
// write). Default 12. The context deadline bounds them too.
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithMaxConcurrency bounds the Write requests one Apply has in flight.
// Default 16.
func WithMaxConcurrency(n int) Option { return func(c *config) { c.maxConcurrency = n } }

// WithDialer replaces the TCP dialer (tests, proxies).
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dial = dial }
}

// Client is a connection to a Kudu cluster: its masters and the tablet
// servers it writes to. It is safe for concurrent use.
type Client struct {
	cfg     config
	masters []string

	mu     sync.Mutex
	conns  map[string]*connEntry
	leader string
	closed bool

	// propagated is the largest timestamp seen in write responses, sent
	// back as propagated_timestamp (CLIENT_PROPAGATED consistency).
	propagated atomic.Uint64

	clientID string
	seqMu    sync.Mutex
	nextSeq  int64
	inFlight map[int64]struct{}
}

type connEntry struct {
	ready chan struct{}
	c     *conn
	err   error
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("kudu: client closed")

// Open returns a client for the cluster with the given master addresses
// ("host" or "host:port", port 7051 by default). It finds the leader master
// before returning.
func Open(ctx context.Context, masters []string, opts ...Option) (*Client, error) {
	cfg := config{
		maxBatchBytes:    DefaultMaxBatchBytes,
		maxCellBytes:     DefaultMaxCellBytes,
		timeout:          DefaultTimeout,
		backoffMin:       20 * time.Millisecond,
		backoffMax:       2 * time.Second,
		maxAttempts:      DefaultMaxAttempts,
		maxConcurrency:   DefaultMaxConcurrency,
		locationsPerCall: 100,
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		cfg.user = u.Username
	} else {
		cfg.user = "kudu-go"
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBatchBytes <= 0 {
		cfg.maxBatchBytes = DefaultMaxBatchBytes
	}
	cfg.maxBatchBytes = min(cfg.maxBatchBytes, MaxMessageBytes-(1<<20))
	cfg.maxAttempts = max(cfg.maxAttempts, 1)
	cfg.maxConcurrency = max(cfg.maxConcurrency, 1)
	cfg.backoffMin = max(cfg.backoffMin, time.Millisecond)
	cfg.backoffMax = max(cfg.backoffMax, cfg.backoffMin)
	if len(masters) == 0 {
		return nil, errors.New("kudu: no master addresses")
	}
	c := &Client{cfg: cfg, conns: make(map[string]*connEntry), inFlight: make(map[int64]struct{})}
	for _, m := range masters {
		c.masters = append(c.masters, withDefaultPort(m, defaultMasterPort))
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	c.clientID = hex.EncodeToString(id[:])
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if _, err := c.masterLeader(ctx, 0); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func withDefaultPort(addr, port string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, port)
}

// Close closes all connections. Calls in progress fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = map[string]*connEntry{}
	c.mu.Unlock()
	for _, e := range conns {
		go func() {
			<-e.ready
			if e.c != nil {
				e.c.Close()
			}
		}()
	}
	return nil
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.cfg.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.timeout)
}

// getConn returns a negotiated connection to addr, dialing if needed.
func (c *Client) getConn(ctx context.Context, addr string) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		e := c.conns[addr]
		if e == nil {
			e = &connEntry{ready: make(chan struct{})}
			c.conns[addr] = e
			c.mu.Unlock()
			e.c, e.err = dialConn(ctx, addr, connConfig{user: c.cfg.user, password: c.cfg.password, dial: c.cfg.dial})
			close(e.ready)
			if e.err != nil {
				c.dropConn(addr, e)
				return nil, e.err
			}
			return e.c, nil
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil && !e.c.broken() {
			return e.c, nil
		}
		c.dropConn(addr, e)
		if e.err != nil {
			return nil, e.err
		}
	}
}

func (c *Client) dropConn(addr string, e *connEntry) {
	c.mu.Lock()
	if c.conns[addr] == e {
		delete(c.conns, addr)
	}
	c.mu.Unlock()
}

// backoff sleeps before retry attempt (0-based), doubling from backoffMin
// up to backoffMax with jitter in [d/2, d].
func (c *Client) backoff(ctx context.Context, attempt int) error {
	d := c.cfg.backoffMax
	if attempt < 30 {
		d = min(c.cfg.backoffMin<<uint(attempt), c.cfg.backoffMax)
	}
	d = d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryableCallErr reports whether err from conn.call may go away on retry.
func retryableCallErr(err error) bool {
	var re *RPCError
	if errors.As(err, &re) {
		return re.Retryable()
	}
	return errors.Is(err, ErrConnectionClosed)
}

// masterLeader returns the leader master's address, asking every master
// with ConnectToMaster if it is not known.
func (c *Client) masterLeader(ctx context.Context, attempt int) (string, error) {
	c.mu.Lock()
	l := c.leader
	c.mu.Unlock()
	if l != "" {
		return l, nil
	}
	var lastErr error
	for ; attempt < c.cfg.maxAttempts; attempt++ {
		l, err := c.findLeader(ctx)
		if err == nil {
			c.mu.Lock()
			c.leader = l
			c.mu.Unlock()
			return l, nil
		}
		lastErr = err
		if ctx.Err() != nil || errors.Is(err, ErrUnsupportedSecurity) || errors.Is(err, ErrClosed) {
			break
		}
		if err := c.backoff(ctx, attempt); err != nil {
			break
		}
	}
	return "", fmt.Errorf("kudu: no leader master among %v: %w", c.masters, lastErr)
}

// RaftPeerPB.Role LEADER (src/kudu/consensus/metadata.proto).
const roleLeader = 1

// findLeader asks all masters concurrently and returns the first that says
// it is the LEADER.
func (c *Client) findLeader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		addr   string
		leader bool
		err    error
	}
	ch := make(chan result, len(c.masters))
	for _, m := range c.masters {
		go func() {
			r := result{addr: m}
			cn, err := c.getConn(ctx, m)
			if err == nil {
				var body []byte
				body, err = cn.call(ctx, masterService, "ConnectToMaster", nil, []uint32{masterFeatureConnectToMaster}, nil)
				if err == nil {
					r.leader, err = parseConnectToMaster(body)
				}
			}
			r.err = err
			ch <- r
		}()
	}
	var errs []error
	for range c.masters {
		r := <-ch
		if r.err == nil && r.leader {
			return r.addr, nil
		}
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.addr, r.err))
		}
	}
	if len(errs) == 0 {
		return "", errors.New("kudu: no master reports itself as leader")
	}
	return "", errors.Join(errs...)
}

// parseConnectToMaster decodes ConnectToMasterResponsePB {error=1, role=2}.
func parseConnectToMaster(b []byte) (leader bool, err error) {
	var merr *MasterError
	err = walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			eb, err := f.bytes()
			if err != nil {
				return err
			}
			merr, err = parseMasterError(eb)
			return err
		case 2:
			r, err := f.int32v()
			leader = r == roleLeader
			return err
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if merr != nil && merr.Code != MasterNotTheLeader {
		return false, merr
	}
	return leader && merr == nil, nil
}

func (c *Client) clearLeader(addr string) {
	c.mu.Lock()
	if c.leader == addr {
		c.leader = ""
	}
	c.mu.Unlock()
}

// masterCall calls method on the leader master, following leadership
// changes and retrying transient failures. It returns the response body
// after checking its MasterErrorPB (field 1 of every response used here).
func (c *Client) masterCall(ctx context.Context, method string, req []byte, features []uint32) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt < c.cfg.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := c.backoff(ctx, attempt-1); err != nil {
				return nil, fmt.Errorf("kudu: %s: %w (last error: %v)", method, err, lastErr)
			}
		}
		leader, err := c.masterLeader(ctx, attempt)
		if err != nil {
			return nil, err
		}
		cn, err := c.getConn(ctx, leader)
		var body []byte
		if err == nil {
			body, err = cn.call(ctx, masterService, method, req, features, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("kudu: %s: %w", method, ctx.Err())
			}
			if retryableCallErr(err) {
				if errors.Is(err, ErrConnectionClosed) {
					c.clearLeader(leader)
				}
				lastErr = err
				continue
			}
			return nil, fmt.Errorf("kudu: %s: %w", method, err)
		}
		merr, err := responseMasterError(body)
		if err != nil {
			return nil, fmt.Errorf("kudu: %s response: %w", method, err)
		}
		if merr != nil {
			switch merr.Code {
			case MasterNotTheLeader, MasterCatalogManagerNotInitialized:
				c.clearLeader(leader)
				lastErr = merr
				continue
			case MasterTabletNotRunning:
				lastErr = merr
				continue
			}
			return nil, merr
		}
		return body, nil
	}
	return nil, fmt.Errorf("kudu: %s: giving up after %d attempts: %w", method, c.cfg.maxAttempts, lastErr)
}

// responseMasterError extracts the MasterErrorPB in field 1, if any.
func responseMasterError(body []byte) (*MasterError, error) {
	var merr *MasterError
	err := walkFields(body, func(f field) error {
		if f.num != 1 {
			return nil
		}
		eb, err := f.bytes()
		if err != nil {
			return err
		}
		merr, err = parseMasterError(eb)
		return err
	})
	return merr, err
}

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
		return nil, fmt.Errorf("kudu: table %q: %w", name, err)
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
			return fmt.Errorf("kudu: waiting for table %q: %w", name, err)
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

// newRequestID starts tracking a write (RequestIdPB) for server-side
// de-duplication of retries.
func (c *Client) newRequestID() *requestID {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	seq := c.nextSeq
	c.nextSeq++
	c.inFlight[seq] = struct{}{}
	first := seq
	for s := range c.inFlight {
		first = min(first, s)
	}
	return &requestID{clientID: c.clientID, seqNo: seq, firstIncompleteSeqNo: first, attemptNo: 1}
}

// refreshRequestID updates first_incomplete_seq_no for a retry.
func (c *Client) refreshRequestID(r *requestID) {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	first := r.seqNo
	for s := range c.inFlight {
		first = min(first, s)
	}
	r.firstIncompleteSeqNo = first
	r.attemptNo++
}

func (c *Client) finishRequestID(r *requestID) {
	c.seqMu.Lock()
	delete(c.inFlight, r.seqNo)
	c.seqMu.Unlock()
}

// observeTimestamp records a write response timestamp.
func (c *Client) observeTimestamp(ts uint64) {
	for {
		cur := c.propagated.Load()
		if ts <= cur || c.propagated.CompareAndSwap(cur, ts) {
			return
		}
	}
}

// hostPort joins a HostPortPB.
func hostPort(host string, port uint32) string {
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}
