package kudusink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kudu"
)

// Op is the kind of row operation the sink sends.
type Op int

// The operations: Upsert (the default) makes replays idempotent.
const (
	Upsert Op = iota
	Insert
	InsertIgnore
	Update
	Delete
)

// Option configures New, Write and WriteMapped: the settings that do not
// depend on the record type.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	op            Op
	user, pass    string
	timeout       time.Duration
	maxBatchBytes int
	create        *createSpec
	tls           *tls.Config
	tlsSet        bool
	krb           *krbclient.Client
	krbService    string
}

type createSpec struct {
	hashCols []string
	buckets  int32
	replicas int
}

// Operation sets the row operation: Upsert (default), Insert,
// InsertIgnore, Update or Delete.
func Operation(op Op) Option {
	return optionFunc(func(c *config) error {
		if op < Upsert || op > Delete {
			return fmt.Errorf("Operation: unknown operation %d", op)
		}
		c.op = op
		return nil
	})
}

// Credentials sets the SASL PLAIN user and password. Default: the OS user
// and an empty password, as Kudu's own clients send on unsecured clusters.
func Credentials(user, password string) Option {
	return optionFunc(func(c *config) error { c.user, c.pass = user, password; return nil })
}

// TLS makes the sink's client use TLS with every master and tablet server,
// as a Kudu client with --rpc_encryption=required does: the TLS handshake
// runs inside Kudu's negotiation, and the calls go through TLS. cfg
// verifies the servers' certificates: RootCAs (nil: the system's roots;
// a Kudu cluster signs its servers' certificates with its own internal
// CA, whose certificate goes here) and ServerName (empty: the host of each
// server's address). A server without TLS, or whose certificate does not
// verify, fails the start-up check with one error naming it. cfg may be
// nil (the system's roots); it is cloned.
//
// Outside a private network TLS is required to write at all: even an
// unsecured Kudu server refuses plaintext connections from publicly
// routable addresses (its --trusted_subnets, KUDU-1875), and, over TLS,
// it still refuses unauthenticated (SASL PLAIN) ones from them: give
// Kerberos too.
func TLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) error {
		if cfg != nil {
			cfg = cfg.Clone()
		}
		c.tls, c.tlsSet = cfg, true
		return nil
	})
}

// Kerberos makes the sink's client authenticate with Kerberos (SASL
// GSSAPI) as the principal of cl, a gokrb5 client made from a keytab or a
// ticket cache (it logs in when the client first needs a ticket, and
// again when its ticket expires if it has a keytab). The servers'
// principals are kudu/<host>@REALM (see KerberosService). With Kerberos,
// Credentials is not used: a cluster that does not offer Kerberos, a
// ticket the KDC will not issue (an unknown service principal, a wrong
// keytab, an expired ticket cache) or that the servers refuse fails the
// start-up check with one error naming the server and the cause.
func Kerberos(cl *krbclient.Client) Option {
	return optionFunc(func(c *config) error {
		if cl == nil {
			return errors.New("Kerberos: nil client")
		}
		c.krb = cl
		return nil
	})
}

// KerberosService sets the service part of the Kudu servers' Kerberos
// principals, service/<host>@REALM. Default "kudu", Kudu's.
func KerberosService(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" || strings.ContainsAny(name, "/@ \t\n") {
			return fmt.Errorf("KerberosService: %q is not a service name", name)
		}
		c.krbService = name
		return nil
	})
}

// Timeout bounds each call to Kudu, retries included: finding the leader
// master and the table, and writing each chunk of a partition's rows.
// Default 30 s.
func Timeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("Timeout: %v is not positive", d)
		}
		c.timeout = d
		return nil
	})
}

// MaxBatchBytes caps the bytes of row data in one write request, and the
// estimated row data of the chunks a partition is applied in. Default
// 7 MiB; at most 49 MiB (Kudu refuses messages over 50 MiB).
func MaxBatchBytes(n int) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 || n > 49<<20 {
			return fmt.Errorf("MaxBatchBytes: %d is not in (0, 49 MiB]", n)
		}
		c.maxBatchBytes = n
		return nil
	})
}

// Partitioning describes how CreateIfMissing partitions a new table.
type Partitioning struct {
	HashColumns []string // hash-partitioned on these columns
	Buckets     int32    // into this many buckets (at least 2)
	Replicas    int      // replicas per tablet; 0 means Kudu's default (3)
}

// Hash is the Partitioning that hashes columns into buckets.
func Hash(buckets int32, columns ...string) Partitioning {
	return Partitioning{HashColumns: columns, Buckets: buckets}
}

// CreateIfMissing creates the table when it does not exist (at the
// start-up check, or at the first batch with rows), with the columns of
// the record type's struct tags, key columns first, and the given hash
// partitioning (no range partitioning). It needs the StructTags mapping.
func CreateIfMissing(p Partitioning) Option {
	return optionFunc(func(c *config) error {
		if len(p.HashColumns) == 0 || p.Buckets < 2 {
			return errors.New("CreateIfMissing: give hash columns and at least 2 buckets")
		}
		c.create = &createSpec{hashCols: p.HashColumns, buckets: p.Buckets, replicas: p.Replicas}
		return nil
	})
}

// chunkRows bounds the rows of one chunk of a partition, besides
// MaxBatchBytes: it bounds the memory of many small rows.
const chunkRows = 1 << 15

// Write registers an output operation that writes every batch of s to
// the Kudu table, its records mapped to columns by their struct tags
// (StructTags). masters are the Kudu masters, host:port (port 7051 by
// default); the leader is found among them. It is New and Stream.WriteTo,
// which registers the sink's StartCheck. It returns the stream's build error, or a
// *dstream.BuildError wrapping dstream.ErrInvalidOption for an invalid
// setting or a record type without columns.
func Write[T any](s *dstream.Stream[T], masters []string, table string, opts ...Option) error {
	return register(s, "kudu.Write", masters, table, StructTags[T](), opts)
}

// WriteMapped is Write with the records mapped to columns by m, which
// MapColumns or StructTags returns: m's record type must be s's.
func WriteMapped[T any](s *dstream.Stream[T], masters []string, table string, m Mapping[T], opts ...Option) error {
	return register(s, "kudu.WriteMapped", masters, table, m, opts)
}

func register[T any](s *dstream.Stream[T], op string, masters []string, table string, m Mapping[T], opts []Option) error {
	if s == nil {
		return &dstream.BuildError{Op: op, Err: dstream.ErrNilStream}
	}
	out, err := New(masters, table, m, opts...)
	if err != nil {
		return &dstream.BuildError{Op: op, Err: err}
	}
	// WriteTo registers StartCheck: the masters must answer and the table
	// exist (or be created) at start, not at the first batch with data.
	return s.WriteTo(out)
}

// Sink is the dstream.Output that writes records of type T to a Kudu
// table (see the package documentation for what it guarantees). New
// returns it.
type Sink[T any] struct {
	cfg     config
	masters []string
	table   string
	mapper  *mapper // the struct tags, or nil with a MapColumns function
	values  func(T) (map[string]any, error)

	mu     sync.Mutex
	cl     *kudu.Client
	tbl    *kudu.Table
	closed bool

	applied atomic.Int64 // row operations the tablet servers applied since Open (OutputStats)
}

// New returns the sink that writes to the Kudu table through the masters
// (host:port, port 7051 by default), each record mapped to a row by m:
// StructTags[T]() or MapColumns(f), which sets T. Register it with
// Stream.WriteTo, which also registers its start-up check (StartCheck).
// An invalid setting, or a record type without columns for StructTags, is
// an error wrapping dstream.ErrInvalidOption.
func New[T any](masters []string, table string, m Mapping[T], opts ...Option) (*Sink[T], error) {
	cfg := config{timeout: 30 * time.Second}
	bad := func(err error) error { return fmt.Errorf("%w: %w", dstream.ErrInvalidOption, err) }
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return nil, bad(err)
		}
	}
	if len(masters) == 0 || table == "" {
		return nil, bad(errors.New("kudu: give the masters and the table"))
	}
	s := &Sink[T]{cfg: cfg, masters: slices.Clone(masters), table: table}
	switch {
	case m.nilFunc:
		return nil, bad(errors.New("MapColumns: nil function"))
	case m.columns != nil:
		s.values = m.columns
	default:
		mp, err := mapperFor[T]()
		if err != nil {
			return nil, bad(err)
		}
		s.mapper = mp
		s.values = func(rec T) (map[string]any, error) { return mp.values(rec) }
	}
	if cfg.create != nil && s.mapper == nil {
		return nil, bad(errors.New("CreateIfMissing needs the columns of struct tags, not a MapColumns function"))
	}
	return s, nil
}

// String names the sink in listener events: "kudu <table>@<masters>".
func (s *Sink[T]) String() string {
	return "kudu " + s.table + "@" + strings.Join(s.masters, ",")
}

// StartCheck returns the sink's start-up check, which Stream.WriteTo
// registers (dstream.StartChecker): its name is "kudu masters <masters>", and it
// checks that the masters answer and the table exists, creating it with
// CreateIfMissing, with a client of its own that it closes.
func (s *Sink[T]) StartCheck() (name string, check func(ctx context.Context) error) {
	return "kudu masters " + strings.Join(s.masters, ","), func(ctx context.Context) error {
		cl, err := s.connect(ctx)
		if err != nil {
			return clientErr{err} // the check's name says kudu already
		}
		defer cl.Close()
		_, err = s.openTable(ctx, cl)
		return err
	}
}

// Open does not block: the client connects at the first batch with rows
// (StartCheck checks the cluster at start).
func (s *Sink[T]) Open(context.Context) error {
	s.mu.Lock()
	s.closed = false
	s.mu.Unlock()
	s.applied.Store(0)
	return nil
}

// OutputStats implements dstream.StatsReporter: what the sink wrote since
// Open. Rows are the row operations the tablet servers applied (those of
// the chunks whose write succeeded, less the rows the client or a server
// rejected; a row InsertIgnore found present, or UPDATE IGNORE missing,
// counts as applied), and Records the same number, one row operation per
// record. The rows of a chunk whose write failed as a whole, which may or
// may not have been applied, are not counted: the batch fails and is
// written again. Bytes and Files are zero: the client does not report the
// encoded size of what it sends.
func (s *Sink[T]) OutputStats() dstream.OutputStats {
	n := s.applied.Load()
	return dstream.OutputStats{Records: n, Rows: n}
}

// Close closes the client.
func (s *Sink[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	if s.cl != nil {
		err = s.cl.Close()
		s.cl, s.tbl = nil, nil
	}
	return err
}

// Begin starts writing a batch: it holds no state of its own, each
// partition is written as it comes.
func (s *Sink[T]) Begin(context.Context, dstream.OutputBatch) (dstream.BatchWriter[T], error) {
	return batchWriter[T]{s}, nil
}

// batchWriter writes the partitions of one batch.
type batchWriter[T any] struct{ s *Sink[T] }

// WritePartition maps the partition's records to row operations as they
// are computed and applies them in chunks, handing the rejected ones to
// p.Reject.
func (b batchWriter[T]) WritePartition(ctx context.Context, p *dstream.Partition[T]) error {
	s := b.s
	var (
		cl   *kudu.Client
		tbl  *kudu.Table
		ops  []*kudu.Operation
		recs []T   // ops[i] is of recs[i]
		size int   // the estimated row data of ops
		long []int // the indexes in ops of rows with a cell over the client's limit
	)
	maxBytes := s.cfg.maxBatchBytes
	if maxBytes == 0 {
		maxBytes = kudu.DefaultMaxBatchBytes
	}
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		rowErrs, err := cl.Apply(ctx, tbl, ops)
		if err != nil {
			// The batch fails and is written again: its rows are not
			// rejected, nor counted.
			return fmt.Errorf("kudu: writing %d rows to %s: %w", len(ops), s.table, clientErr{err})
		}
		for _, re := range rowErrs {
			p.Reject(recs[re.Index], rowRejection(re, slices.Contains(long, re.Index)))
		}
		s.applied.Add(int64(len(ops) - len(rowErrs)))
		clear(ops)
		clear(recs)
		ops, recs, size, long = ops[:0], recs[:0], 0, long[:0]
		return nil
	}
	for rec := range p.Records() {
		if tbl == nil {
			var err error
			if cl, tbl, err = s.open(ctx); err != nil {
				return err
			}
		}
		op, n, tooLong, err := s.operation(tbl, rec)
		if err != nil {
			p.Reject(rec, err)
			continue
		}
		if tooLong {
			long = append(long, len(ops))
		}
		ops, recs, size = append(ops, op), append(recs, rec), size+n
		if size >= maxBytes || len(ops) >= chunkRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Commit has nothing to do: every partition applied its rows.
func (b batchWriter[T]) Commit(context.Context) error { return nil }

// Abort has nothing to undo: the rows applied stay, and a batch written
// again upserts them again.
func (b batchWriter[T]) Abort(context.Context, error) {}

// connect returns a new client of the cluster.
func (s *Sink[T]) connect(ctx context.Context) (*kudu.Client, error) {
	opts := []kudu.Option{kudu.WithTimeout(s.cfg.timeout)}
	if s.cfg.user != "" {
		opts = append(opts, kudu.WithUser(s.cfg.user), kudu.WithPassword(s.cfg.pass))
	}
	if s.cfg.maxBatchBytes > 0 {
		opts = append(opts, kudu.WithMaxBatchBytes(s.cfg.maxBatchBytes))
	}
	if s.cfg.tlsSet {
		opts = append(opts, kudu.WithTLS(s.cfg.tls))
	}
	if s.cfg.krb != nil {
		opts = append(opts, kudu.WithKerberos(s.cfg.krb))
	}
	if s.cfg.krbService != "" {
		opts = append(opts, kudu.WithKerberosService(s.cfg.krbService))
	}
	return kudu.Open(ctx, s.masters, opts...) // its errors name the masters
}

// openTable finds (or creates) the table, and checks that it has the
// columns of the struct tags.
func (s *Sink[T]) openTable(ctx context.Context, cl *kudu.Client) (*kudu.Table, error) {
	tbl, err := cl.Table(ctx, s.table)
	if errors.Is(err, kudu.ErrTableNotFound) && s.cfg.create != nil {
		tbl, err = s.createTable(ctx, cl)
	}
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", s.table, err)
	}
	if s.mapper != nil {
		// Rejecting every row would hide a table that does not match
		// the record type.
		for _, c := range s.mapper.columns {
			if tbl.Schema().ColumnIndex(c.Name) < 0 {
				return nil, fmt.Errorf("table %s has no column %q, of the struct tags of %v", s.table, c.Name, s.mapper.typ)
			}
		}
	}
	return tbl, nil
}

// open returns the sink's client and table, connecting and opening them
// once.
func (s *Sink[T]) open(ctx context.Context) (*kudu.Client, *kudu.Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, fmt.Errorf("kudu: writing to %s: %w", s.table, kudu.ErrClosed)
	}
	if s.tbl != nil {
		return s.cl, s.tbl, nil
	}
	if s.cl == nil {
		cl, err := s.connect(ctx)
		if err != nil {
			return nil, nil, err
		}
		s.cl = cl
	}
	tbl, err := s.openTable(ctx, s.cl)
	if err != nil {
		return nil, nil, err
	}
	s.tbl = tbl
	return s.cl, s.tbl, nil
}

func (s *Sink[T]) createTable(ctx context.Context, cl *kudu.Client) (*kudu.Table, error) {
	schema, err := kudu.NewSchema(s.mapper.columns)
	if err != nil {
		return nil, err
	}
	spec := s.cfg.create
	ps := kudu.PartitionSchema{Hash: []kudu.HashSchema{{Columns: spec.hashCols, NumBuckets: spec.buckets}}}
	tbl, err := cl.CreateTable(ctx, s.table, schema, ps, &kudu.CreateTableOptions{NumReplicas: spec.replicas})
	if errors.Is(err, kudu.ErrTableExists) { // another writer was first
		return cl.Table(ctx, s.table)
	}
	return tbl, err
}

// clientErr is an error of the Kudu client, or of a row, for a message of
// the sink that starts with "kudu: " already: its own "kudu: " prefix is
// cut. It unwraps to the error.
type clientErr struct{ err error }

func (e clientErr) Error() string { return strings.TrimPrefix(e.err.Error(), "kudu: ") }

func (e clientErr) Unwrap() error { return e.err }

// operation builds the row operation of one record, and estimates its row
// data in bytes; long says whether a string or binary value is over the
// client's cell limit, for which the client rejects the row. An error is
// a *rejection, naming its reason.
func (s *Sink[T]) operation(tbl *kudu.Table, rec T) (op *kudu.Operation, size int, long bool, err error) {
	switch s.cfg.op {
	case Insert:
		op = tbl.NewInsert()
	case InsertIgnore:
		op = tbl.NewInsertIgnore()
	case Update:
		op = tbl.NewUpdate()
	case Delete:
		op = tbl.NewDelete()
	default:
		op = tbl.NewUpsert()
	}
	vals, err := s.values(rec)
	if err != nil {
		return nil, 0, false, &rejection{reasonMapping, fmt.Errorf("mapping the record to columns: %w", err)}
	}
	schema := tbl.Schema()
	size = 1 + 2*((schema.NumColumns()+7)/8) // the op byte and the bitmaps
	for name, v := range vals {
		i := schema.ColumnIndex(name)
		if i < 0 {
			return nil, 0, false, &rejection{reasonNoColumn, fmt.Errorf("no column %q in table %s", name, s.table)}
		}
		if s.cfg.op == Delete && !schema.Column(i).Key {
			continue // a delete names the key only
		}
		reason := reasonInvalidValue
		switch v := v.(type) {
		case nil:
			err = op.SetNull(name)
			reason = reasonNullValue
		case string:
			err = op.Set(name, v)
			size += 16 + len(v)
			long = long || len(v) > kudu.DefaultMaxCellBytes
		case []byte:
			err = op.Set(name, v)
			size += 16 + len(v)
			long = long || len(v) > kudu.DefaultMaxCellBytes
		default:
			err = op.Set(name, v)
			size += 8
		}
		if err != nil {
			if errors.Is(err, kudu.ErrUnsupported) {
				reason = reasonUnsupported
			}
			return nil, 0, false, &rejection{reason, err}
		}
	}
	return op, size, long, nil
}

// The reasons of the rows the sink or the client rejects before sending
// them (dstream.RejectReasoner), which metrics count dead letters by; the
// rows a tablet server refuses are named by serverReason.
const (
	reasonMapping      = "mapping"           // the MapColumns function failed
	reasonNoColumn     = "no_column"         // a value for a column the table lacks
	reasonInvalidValue = "invalid_value"     // a value of the wrong type, out of range (a DATE outside 0001-01-01..9999-12-31), or over a VARCHAR's length
	reasonNullValue    = "null_value"        // a null in a non-nullable column, or a key column null or missing
	reasonCellTooLarge = "cell_too_large"    // a string or binary value over Kudu's cell limit (64 KiB)
	reasonUnsupported  = "unsupported"       // a column type the client cannot write
	reasonNoTablet     = "non_covered_range" // a row that no tablet's range covers
)

// serverReason is the reason of a row a tablet server refused: the name of
// its Kudu status code in snake_case ("already_present" for a duplicate
// INSERT, "not_found" for an UPDATE or DELETE of a missing row, ...), or
// "server" for a code Kudu does not define.
func serverReason(c kudu.StatusCode) string {
	switch c {
	case kudu.StatusNotFound:
		return "not_found"
	case kudu.StatusCorruption:
		return "corruption"
	case kudu.StatusNotSupported:
		return "not_supported"
	case kudu.StatusInvalidArgument:
		return "invalid_argument"
	case kudu.StatusIOError:
		return "io_error"
	case kudu.StatusAlreadyPresent:
		return "already_present"
	case kudu.StatusRuntimeError:
		return "runtime_error"
	case kudu.StatusNetworkError:
		return "network_error"
	case kudu.StatusIllegalState:
		return "illegal_state"
	case kudu.StatusNotAuthorized:
		return "not_authorized"
	case kudu.StatusAborted:
		return "aborted"
	case kudu.StatusRemoteError:
		return "remote_error"
	case kudu.StatusServiceUnavailable:
		return "service_unavailable"
	case kudu.StatusTimedOut:
		return "timed_out"
	case kudu.StatusUninitialized:
		return "uninitialized"
	case kudu.StatusConfigurationError:
		return "configuration_error"
	case kudu.StatusIncomplete:
		return "incomplete"
	case kudu.StatusEndOfFile:
		return "end_of_file"
	case kudu.StatusCancelled:
		return "cancelled"
	case kudu.StatusImmutable:
		return "immutable"
	}
	return "server"
}

// rejection is the reason given to dstream.Partition.Reject for a row:
// the error, whose message it keeps and which it unwraps to, and the
// word that names its cause.
type rejection struct {
	reason string
	err    error
}

func (e *rejection) Error() string { return e.err.Error() }

func (e *rejection) Unwrap() error { return e.err }

// RejectReason implements dstream.RejectReasoner.
func (e *rejection) RejectReason() string { return e.reason }

// rowRejection is the rejection of a row that Apply reports: a tablet
// server's status, or the client's check before sending it (a key column
// null or missing, a cell over the limit, which long says the row has, a
// VARCHAR value too long, a row no tablet covers).
func rowRejection(re kudu.RowError, long bool) error {
	var st *kudu.StatusError
	reason := "other"
	switch {
	case errors.As(re.Err, &st):
		reason = serverReason(st.Code)
	case errors.Is(re.Err, kudu.ErrNonCoveredRange):
		reason = reasonNoTablet
	case errors.Is(re.Err, kudu.ErrUnsupported):
		reason = reasonUnsupported
	case errors.Is(re.Err, kudu.ErrInvalidRow):
		reason = reasonInvalidValue
		if long {
			reason = reasonCellTooLarge
		}
		if op := re.Op; op != nil {
			for i := range op.Schema().NumKeyColumns() {
				if !op.IsSet(i) || op.IsNull(i) {
					reason = reasonNullValue // the client checks the key first
					break
				}
			}
		}
	}
	return &rejection{reason, re.Err}
}
