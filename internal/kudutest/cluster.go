package kudutest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// Defaults of a Cluster's options.
const (
	// DefaultTabletServers is the number of tablet servers.
	DefaultTabletServers = 3
	// DefaultMaxCellSize is the largest STRING/BINARY cell a write may
	// carry, like Kudu's --max_cell_size_bytes.
	DefaultMaxCellSize = 64 << 10
	// DefaultLocationsTTL is the ttl_millis GetTableLocations reports.
	DefaultLocationsTTL = 5 * time.Minute
	// maxTabletsPerTS is Kudu's --max_create_tablets_per_ts.
	maxTabletsPerTS = 60
)

// Option configures a Cluster.
type Option func(*config)

type config struct {
	masters         int
	leader          int
	tservers        int
	replicas        int
	requireTLS      bool
	tls             bool
	cert            *tls.Certificate
	authOnly        bool
	keytabPath      string
	principal       string
	trusted         []string
	trustedSet      bool
	badBindings     bool
	onlyGSSAPI      bool
	checkCreds      bool
	user, password  string
	maxCell         int
	maxMessage      int
	ttl             time.Duration
	legacyNotLeader bool
	logf            func(format string, args ...any)
}

// WithMasters sets the number of masters (1 when not set). With more than
// one, only the leader (master 0 unless WithLeaderMaster) serves catalog
// calls: the others answer ConnectToMaster with role FOLLOWER and other
// calls with MasterErrorPB NOT_THE_LEADER.
func WithMasters(n int) Option { return func(c *config) { c.masters = n } }

// WithLeaderMaster sets which master starts as the leader.
func WithLeaderMaster(i int) Option { return func(c *config) { c.leader = i } }

// WithTabletServers sets the number of tablet servers
// (DefaultTabletServers when not set).
func WithTabletServers(n int) Option { return func(c *config) { c.tservers = n } }

// WithDefaultReplicas sets the replication factor of tables created
// without num_replicas (the largest odd number up to min(3, tablet
// servers) when not set).
func WithDefaultReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithOnlyGSSAPI makes the servers offer only the GSSAPI SASL mechanism,
// so a PLAIN-only client has nothing to choose. Without WithKerberos, which
// implies it, they have no keytab and refuse every GSSAPI attempt.
func WithOnlyGSSAPI() Option { return func(c *config) { c.onlyGSSAPI = true } }

// WithSASLCredentials makes SASL PLAIN check the user and password
// (without it, any user and password are accepted, as on an unsecured
// Kudu cluster).
func WithSASLCredentials(user, password string) Option {
	return func(c *config) { c.checkCreds, c.user, c.password = true, user, password }
}

// WithMaxCellSize sets the largest STRING/BINARY/VARCHAR cell
// (DefaultMaxCellSize when not set); larger cells fail their row with
// INVALID_ARGUMENT.
func WithMaxCellSize(n int) Option { return func(c *config) { c.maxCell = n } }

// WithMaxMessageSize sets the largest frame accepted
// (DefaultMaxMessageSize when not set).
func WithMaxMessageSize(n int) Option { return func(c *config) { c.maxMessage = n } }

// WithLocationsTTL sets the ttl_millis of GetTableLocations answers.
func WithLocationsTTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// WithLegacyNotLeaderErrors makes a follower replica answer a Write the
// way a real tablet server's consensus layer does: TabletServerErrorPB
// code UNKNOWN_ERROR with status ILLEGAL_STATE "... is not leader of this
// config", instead of code NOT_THE_LEADER.
func WithLegacyNotLeaderErrors() Option { return func(c *config) { c.legacyNotLeader = true } }

// WithLogf sets where protocol errors are reported (New uses t.Logf;
// Start discards them unless this option is given).
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

func (c *config) validate() error {
	if c.masters == 0 {
		c.masters = 1
	}
	if c.tservers == 0 {
		c.tservers = DefaultTabletServers
	}
	if c.replicas == 0 {
		c.replicas = min(3, c.tservers)
		if c.replicas%2 == 0 {
			c.replicas--
		}
	}
	if c.maxCell == 0 {
		c.maxCell = DefaultMaxCellSize
	}
	if c.maxMessage == 0 {
		c.maxMessage = DefaultMaxMessageSize
	}
	if c.ttl == 0 {
		c.ttl = DefaultLocationsTTL
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	switch {
	case c.masters < 0 || c.tservers < 0:
		return errors.New("negative number of servers")
	case c.leader < 0 || c.leader >= c.masters:
		return fmt.Errorf("leader master %d out of range", c.leader)
	case c.replicas < 1 || c.replicas > c.tservers:
		return fmt.Errorf("default replication %d out of range", c.replicas)
	}
	return nil
}

// Row is a stored row: column name -> value. Values are int8, int16,
// int32, int64, bool, float32, float64, string (STRING, VARCHAR), []byte
// (BINARY), time.Time in UTC (UNIXTIME_MICROS; DATE at midnight), Decimal
// (DECIMAL32/64/128), or nil for NULL.
type Row map[string]any

// RowOp is a row operation as InjectRowError's predicate sees it.
type RowOp struct {
	Table    string
	TabletID string
	Op       OpType
	Key      []any // primary key values in key column order
	Row      Row   // the columns the operation sets
}

// TabletInfo describes a tablet.
type TabletInfo struct {
	ID                string
	Table             string
	PartitionKeyStart []byte
	PartitionKeyEnd   []byte // empty: unbounded
	HashBuckets       []int32
	Leader            int   // index of the leader tablet server
	Replicas          []int // indexes of the tablet servers holding a replica
	Writes            int   // Write calls applied (reached the row store)
	RowOps            int   // row operations in those calls
	Rows              int   // rows stored
}

// Stats are cluster-wide counters.
type Stats struct {
	Connections   int            // connections that completed negotiation
	BytesReceived int64          // bytes read from clients by all servers
	Calls         map[string]int // calls by method name
	RPCErrors     int            // RPC-level error answers (ErrorStatusPB)
	WriteErrors   int            // Write answers with a TabletServerErrorPB
	RowErrors     int            // per-row errors returned
}

// table is a table in the catalog.
type table struct {
	id, name string
	schema   *schema
	ps       *partitionSchema
	replicas int
	tablets  []*tablet // sorted by partition key start
}

// tablet is a tablet and its row store.
type tablet struct {
	id       string
	table    *table
	part     partition
	replicas []int
	leader   int
	rows     map[string][]cell // encoded primary key -> row
	writes   int
	ops      int
}

type countFault struct {
	target string // tablet id, or "" / "any" for every tablet
	times  int    // negative: forever
}

type methodFault struct {
	method string // "" for every method
	times  int
	delay  time.Duration
}

type rowFault struct {
	match func(RowOp) bool
	code  StatusCode
	msg   string
	times int
}

// Cluster is an in-process Kudu cluster: masters and tablet servers on
// loopback ports sharing one catalog. Its methods are safe for concurrent
// use.
type Cluster struct {
	cfg      config
	sec      security
	masters  []*server
	tservers []*server
	done     chan struct{}
	wg       sync.WaitGroup

	// mu guards the catalog, the row stores, the faults and the counters.
	mu           sync.Mutex
	leaderMaster int
	tables       map[string]*table // by name
	tablesByID   map[string]*table
	tablets      map[string]*tablet
	nextTablet   int
	notLeader    []*countFault
	notFound     []*countFault
	tooBusy      []*methodFault
	delays       []*methodFault
	rowFaults    []*rowFault
	stats        Stats
	users        []string
	negotiations []Negotiation
	clock        uint64

	// netMu guards the connections.
	netMu  sync.Mutex
	closed bool
	conns  map[*srvConn]struct{}
	drops  []int64
}

// New starts a Cluster for a test and closes it when the test ends.
// Protocol errors are logged with t.Logf unless WithLogf is given.
func New(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	var mu sync.Mutex
	done := false
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
	opts = append([]Option{WithLogf(logf)}, opts...)
	c, err := Start(opts...)
	if err != nil {
		t.Fatalf("kudutest: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return c
}

// Start starts a Cluster. The caller must Close it.
func Start(opts ...Option) (*Cluster, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sec, err := setupSecurity(&cfg)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:          cfg,
		sec:          sec,
		done:         make(chan struct{}),
		leaderMaster: cfg.leader,
		tables:       map[string]*table{},
		tablesByID:   map[string]*table{},
		tablets:      map[string]*tablet{},
		conns:        map[*srvConn]struct{}{},
		stats:        Stats{Calls: map[string]int{}},
	}
	listen := func(master bool, idx int) (*server, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		a := ln.Addr().(*net.TCPAddr)
		return &server{c: c, master: master, idx: idx, uuid: newID(), ln: ln, host: "127.0.0.1", port: a.Port}, nil
	}
	for i := 0; i < cfg.masters; i++ {
		s, err := listen(true, i)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.masters = append(c.masters, s)
	}
	for i := 0; i < cfg.tservers; i++ {
		s, err := listen(false, i)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.tservers = append(c.tservers, s)
	}
	for _, s := range append(slices.Clone(c.masters), c.tservers...) {
		c.wg.Add(1)
		go s.acceptLoop()
	}
	return c, nil
}

// Close stops the servers, closes every connection and waits for the
// goroutines.
func (c *Cluster) Close() error {
	c.netMu.Lock()
	if c.closed {
		c.netMu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	for sc := range c.conns {
		sc.close()
	}
	c.netMu.Unlock()
	for _, s := range append(slices.Clone(c.masters), c.tservers...) {
		s.ln.Close()
	}
	c.wg.Wait()
	return nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *Cluster) logf(format string, args ...any) { c.cfg.logf(format, args...) }

func (c *Cluster) count(fn func(*Stats)) {
	c.mu.Lock()
	fn(&c.stats)
	c.mu.Unlock()
}

func (c *Cluster) track(sc *srvConn) bool {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	if c.closed {
		return false
	}
	c.conns[sc] = struct{}{}
	return true
}

func (c *Cluster) untrack(sc *srvConn) {
	c.netMu.Lock()
	delete(c.conns, sc)
	c.netMu.Unlock()
}

// takeDrop returns the byte limit for a new connection (-1: none).
func (c *Cluster) takeDrop() int64 {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	if len(c.drops) == 0 {
		return -1
	}
	n := c.drops[0]
	c.drops = c.drops[1:]
	return n
}

// MasterAddrs returns the masters' host:port addresses.
func (c *Cluster) MasterAddrs() []string {
	var out []string
	for _, s := range c.masters {
		out = append(out, s.addr())
	}
	return out
}

// TServerAddrs returns the tablet servers' host:port addresses.
func (c *Cluster) TServerAddrs() []string {
	var out []string
	for _, s := range c.tservers {
		out = append(out, s.addr())
	}
	return out
}

// TServerUUID returns tablet server i's permanent uuid.
func (c *Cluster) TServerUUID(i int) string { return c.tservers[i].uuid }

// LeaderMaster returns the index of the leader master.
func (c *Cluster) LeaderMaster() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaderMaster
}

// SetLeaderMaster moves master leadership to master i.
func (c *Cluster) SetLeaderMaster(i int) {
	if i < 0 || i >= len(c.masters) {
		panic(fmt.Sprintf("kudutest: master %d out of range", i))
	}
	c.mu.Lock()
	c.leaderMaster = i
	c.mu.Unlock()
}

// Users returns who authenticated each negotiated connection, in order:
// the SASL PLAIN user name, or the Kerberos principal (name@REALM) with
// GSSAPI. Negotiations tells more.
func (c *Cluster) Users() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.users)
}

// Stats returns a copy of the counters.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Calls = maps.Clone(c.stats.Calls)
	return st
}

// TServerBytesReceived returns the bytes tablet server i has read.
func (c *Cluster) TServerBytesReceived(i int) int64 { return c.tservers[i].bytesIn.Load() }

// Tables returns the table names, sorted.
func (c *Cluster) Tables() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.tables))
}

// Rows returns a table's rows sorted by primary key (nil if the table
// does not exist).
func (c *Cluster) Rows(name string) []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[name]
	if t == nil {
		return nil
	}
	type kr struct {
		key string
		row []cell
	}
	var all []kr
	for _, tb := range t.tablets {
		for k, r := range tb.rows {
			all = append(all, kr{k, r})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].key < all[j].key })
	out := make([]Row, 0, len(all))
	for _, e := range all {
		out = append(out, t.schema.toRow(e.row, false))
	}
	return out
}

// toRow converts cells to a Row; with onlySet, unset cells are left out.
func (s *schema) toRow(cells []cell, onlySet bool) Row {
	r := Row{}
	for i := range s.cols {
		if onlySet && !cells[i].set {
			continue
		}
		r[s.cols[i].name] = goValue(&s.cols[i], cells[i])
	}
	return r
}

// Tablets lists a table's tablets in partition key order.
func (c *Cluster) Tablets(name string) []TabletInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[name]
	if t == nil {
		return nil
	}
	var out []TabletInfo
	for _, tb := range t.tablets {
		out = append(out, tb.info())
	}
	return out
}

func (tb *tablet) info() TabletInfo {
	return TabletInfo{
		ID: tb.id, Table: tb.table.name,
		PartitionKeyStart: slices.Clone(tb.part.start), PartitionKeyEnd: slices.Clone(tb.part.end),
		HashBuckets: slices.Clone(tb.part.buckets), Leader: tb.leader, Replicas: slices.Clone(tb.replicas),
		Writes: tb.writes, RowOps: tb.ops, Rows: len(tb.rows),
	}
}

// keyCells converts primary key values to cells.
func (t *table) keyCells(key []any) ([]cell, error) {
	if len(key) != t.schema.nkeys {
		return nil, fmt.Errorf("table %s has %d key columns, got %d values", t.name, t.schema.nkeys, len(key))
	}
	cells := make([]cell, len(t.schema.cols))
	for i, v := range key {
		b, err := cellOf(&t.schema.cols[i], v)
		if err != nil {
			return nil, err
		}
		cells[i] = cell{set: true, v: b}
	}
	return cells, nil
}

// PartitionKey returns the partition key of the row with this primary key
// (values in key column order).
func (c *Cluster) PartitionKey(name string, key ...any) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[name]
	if t == nil {
		return nil, fmt.Errorf("kudutest: no table %q", name)
	}
	cells, err := t.keyCells(key)
	if err != nil {
		return nil, err
	}
	_, pk := t.ps.partitionKey(t.schema, cells)
	return pk, nil
}

// TabletOf returns the tablet that holds the row with this primary key.
func (c *Cluster) TabletOf(name string, key ...any) (TabletInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[name]
	if t == nil {
		return TabletInfo{}, fmt.Errorf("kudutest: no table %q", name)
	}
	cells, err := t.keyCells(key)
	if err != nil {
		return TabletInfo{}, err
	}
	buckets, _ := t.ps.partitionKey(t.schema, cells)
	rk := t.ps.rangeKey(t.schema, cells)
	for _, tb := range t.tablets {
		if tb.part.contains(buckets, rk) {
			return tb.info(), nil
		}
	}
	return TabletInfo{}, fmt.Errorf("kudutest: key %v of table %s is in no tablet (non-covered range)", key, name)
}

// InjectNotTheLeader makes the next times Write calls for the tablet
// ("" or "any": any tablet) fail with NOT_THE_LEADER even at the leader.
// Negative times: every call until cleared with times 0.
func (c *Cluster) InjectNotTheLeader(tabletID string, times int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notLeader = setCountFault(c.notLeader, tabletID, times)
}

// InjectTabletNotFound makes the next times Write calls for the tablet
// ("" or "any": any tablet) fail with TABLET_NOT_FOUND.
func (c *Cluster) InjectTabletNotFound(tabletID string, times int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notFound = setCountFault(c.notFound, tabletID, times)
}

func setCountFault(fs []*countFault, target string, times int) []*countFault {
	if target == "any" {
		target = ""
	}
	fs = slices.DeleteFunc(fs, func(f *countFault) bool { return f.target == target })
	if times != 0 {
		fs = append(fs, &countFault{target: target, times: times})
	}
	return fs
}

func takeCountFault(fs []*countFault, target string) bool {
	for _, f := range fs {
		if (f.target == "" || f.target == target) && f.times != 0 {
			if f.times > 0 {
				f.times--
			}
			return true
		}
	}
	return false
}

// MoveLeader makes tablet server ts the tablet's leader. If ts holds no
// replica, it takes over the old leader's replica. The old leader answers
// NOT_THE_LEADER from then on and GetTableLocations reports the new one.
func (c *Cluster) MoveLeader(tabletID string, ts int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	tb := c.tablets[tabletID]
	if tb == nil {
		return fmt.Errorf("kudutest: no tablet %q", tabletID)
	}
	if ts < 0 || ts >= len(c.tservers) {
		return fmt.Errorf("kudutest: tablet server %d out of range", ts)
	}
	if !slices.Contains(tb.replicas, ts) {
		i := slices.Index(tb.replicas, tb.leader)
		tb.replicas[i] = ts
	}
	tb.leader = ts
	return nil
}

// DropConnections closes every open client connection.
func (c *Cluster) DropConnections() {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	for sc := range c.conns {
		sc.close()
	}
}

// DropNextConnectionAfter makes the next accepted connection (to any
// server) close once it has received n bytes, counting the connection
// header. Calls queue up: each applies to one connection.
func (c *Cluster) DropNextConnectionAfter(n int) {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	c.drops = append(c.drops, int64(n))
}

// InjectServerTooBusy makes the next times calls of method ("" for any
// method, on any server) fail with the RPC error ERROR_SERVER_TOO_BUSY.
func (c *Cluster) InjectServerTooBusy(method string, times int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tooBusy = append(c.tooBusy, &methodFault{method: method, times: times})
}

func (c *Cluster) takeTooBusy(method string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.tooBusy {
		if (f.method == "" || f.method == method) && f.times != 0 {
			if f.times > 0 {
				f.times--
			}
			return true
		}
	}
	return false
}

// InjectDelay delays the next times calls of method ("" for any) by d
// before they are served. Calls on one connection are served
// concurrently, so a delayed call is answered after later ones.
func (c *Cluster) InjectDelay(method string, d time.Duration, times int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delays = append(c.delays, &methodFault{method: method, times: times, delay: d})
}

func (c *Cluster) takeDelay(method string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.delays {
		if (f.method == "" || f.method == method) && f.times != 0 {
			if f.times > 0 {
				f.times--
			}
			return f.delay
		}
	}
	return 0
}

// InjectRowError makes the next times row operations that match fail
// with a per-row error (code, msg) instead of being applied. Negative
// times: every match.
func (c *Cluster) InjectRowError(match func(RowOp) bool, code StatusCode, msg string, times int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rowFaults = append(c.rowFaults, &rowFault{match: match, code: code, msg: msg, times: times})
}

// ClearFaults removes every injected fault.
func (c *Cluster) ClearFaults() {
	c.mu.Lock()
	c.notLeader, c.notFound, c.tooBusy, c.delays, c.rowFaults = nil, nil, nil, nil, nil
	c.mu.Unlock()
	c.netMu.Lock()
	c.drops = nil
	c.netMu.Unlock()
}

// Column describes a column for CreateTable.
type Column struct {
	Name             string
	Type             DataType
	Key, Nullable    bool
	Precision, Scale int32 // DECIMAL*
	Length           int32 // VARCHAR
}

// HashDimension is one hash partitioning dimension for CreateTable.
type HashDimension struct {
	Columns []string
	Buckets int32
	Seed    uint32
}

// TableSpec describes a table for CreateTable.
type TableSpec struct {
	Name    string
	Columns []Column
	Hash    []HashDimension
	// RangeColumns are the range partition columns: nil means the primary
	// key, an empty non-nil slice no range partitioning.
	RangeColumns []string
	// SplitRows split the range partition; each holds values of the range
	// columns in order.
	SplitRows [][]any
	Replicas  int // 0: the cluster default
}

// CreateTable creates a table directly, without the protocol, and returns
// its id.
func (c *Cluster) CreateTable(spec TableSpec) (string, error) {
	s := &schema{}
	for _, col := range spec.Columns {
		s.cols = append(s.cols, column{name: col.Name, typ: col.Type, key: col.Key, nullable: col.Nullable,
			precision: col.Precision, scale: col.Scale, length: col.Length})
	}
	if err := s.index(); err != nil {
		return "", err
	}
	if err := s.validateTable(); err != nil {
		return "", err
	}
	ps := &partitionSchema{}
	for _, h := range spec.Hash {
		d := hashDim{buckets: h.Buckets, seed: h.Seed}
		for _, n := range h.Columns {
			i, ok := s.byName[n]
			if !ok || !s.cols[i].key {
				return "", fmt.Errorf("hash column %q is not a key column", n)
			}
			d.cols = append(d.cols, i)
		}
		if d.buckets < 2 || len(d.cols) == 0 {
			return "", errors.New("a hash dimension needs columns and at least two buckets")
		}
		slices.Sort(d.cols)
		ps.hash = append(ps.hash, d)
	}
	if spec.RangeColumns == nil {
		for i := 0; i < s.nkeys; i++ {
			ps.rangeCols = append(ps.rangeCols, i)
		}
	}
	for _, n := range spec.RangeColumns {
		i, ok := s.byName[n]
		if !ok || !s.cols[i].key {
			return "", fmt.Errorf("range column %q is not a key column", n)
		}
		ps.rangeCols = append(ps.rangeCols, i)
	}
	var ops []decodedOp
	for _, sr := range spec.SplitRows {
		if len(sr) != len(ps.rangeCols) {
			return "", errors.New("a split row needs one value per range column")
		}
		cells := make([]cell, len(s.cols))
		for j, v := range sr {
			ci := ps.rangeCols[j]
			b, err := cellOf(&s.cols[ci], v)
			if err != nil {
				return "", err
			}
			cells[ci] = cell{set: true, v: b}
		}
		ops = append(ops, decodedOp{typ: OpSplitRow, cells: cells})
	}
	ranges, err := ps.rangesFromOps(s, ops)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, merr := c.addTable(spec.Name, s, ps, ranges, spec.Replicas)
	if merr != nil {
		return "", errors.New(merr.msg)
	}
	return t.id, nil
}

// masterErr is a MasterErrorPB.
type masterErr struct {
	code   MasterErrorCode
	status StatusCode
	msg    string
}

// addTable assigns column ids and creates the tablets, spreading leaders
// over the tablet servers. c.mu must be held.
func (c *Cluster) addTable(name string, s *schema, ps *partitionSchema, ranges []keyRange, replicas int) (*table, *masterErr) {
	if name == "" {
		return nil, &masterErr{MasterInvalidSchema, StatusInvalidArgument, "table name must not be empty"}
	}
	if old := c.tables[name]; old != nil {
		return nil, &masterErr{MasterTableAlreadyPresent, StatusAlreadyPresent, fmt.Sprintf("table %s already exists with id %s", name, old.id)}
	}
	switch {
	case replicas == 0:
		replicas = c.cfg.replicas
	case replicas < 0:
		return nil, &masterErr{MasterIllegalReplicationFactor, StatusInvalidArgument, fmt.Sprintf("illegal replication factor %d", replicas)}
	case replicas%2 == 0:
		return nil, &masterErr{MasterEvenReplicationFactor, StatusInvalidArgument, fmt.Sprintf("illegal replication factor %d: replication factor must be odd", replicas)}
	case replicas > len(c.tservers):
		return nil, &masterErr{MasterReplicationFactorTooHigh, StatusInvalidArgument, fmt.Sprintf("not enough live tablet servers to create a table with the requested replication factor %d; %d tablet servers are alive", replicas, len(c.tservers))}
	}
	// Kudu's --max_create_tablets_per_ts (60) bounds the replicas a
	// CreateTable may place.
	n := int64(len(ranges))
	for _, d := range ps.hash {
		n *= int64(d.buckets)
		if n > maxTabletsPerTS*int64(len(c.tservers)) {
			break
		}
	}
	if n*int64(replicas) > maxTabletsPerTS*int64(len(c.tservers)) {
		return nil, &masterErr{MasterTooManyTablets, StatusInvalidArgument, fmt.Sprintf("the requested number of tablet replicas is over the maximum permitted at creation time (%d)", maxTabletsPerTS*len(c.tservers))}
	}
	for i := range s.cols {
		s.cols[i].id, s.cols[i].hasID = int32(10+i), true
	}
	t := &table{id: newID(), name: name, schema: s, ps: ps, replicas: replicas}
	for _, p := range ps.createPartitions(ranges) {
		leader := c.nextTablet % len(c.tservers)
		c.nextTablet++
		tb := &tablet{id: newID(), table: t, part: p, leader: leader, rows: map[string][]cell{}}
		for r := 0; r < replicas; r++ {
			tb.replicas = append(tb.replicas, (leader+r)%len(c.tservers))
		}
		t.tablets = append(t.tablets, tb)
		c.tablets[tb.id] = tb
	}
	slices.SortStableFunc(t.tablets, func(a, b *tablet) int { return bytes.Compare(a.part.start, b.part.start) })
	c.tables[name] = t
	c.tablesByID[t.id] = t
	return t, nil
}
