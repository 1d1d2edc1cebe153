// Package kudusink writes streams to Apache Kudu tables, with the
// project's own pure-Go Kudu write client (internal/kudu).
//
// Each batch's records become Kudu row operations, UPSERT by default, so a
// batch run again after a failure leaves no duplicates. Rows go straight
// to the tablet leaders that hold them, in batches per tablet. A row Kudu
// rejects (a duplicate INSERT, a string over the cell size limit, a null
// key) does not fail the batch when a DeadLetter function is given: the
// record and its error go there and the other rows land.
//
//	err := kudusink.Write(events, []string{"kudu-master:7051"}, "events",
//		kudusink.CreateIfMissing(kudusink.Hash(8, "source")),
//		kudusink.DeadLetter(func(e Event, err error) { dead.Add(e, err) }))
//
// Columns come from struct tags, `kudu:"name"`, `kudu:"name,key"` for
// primary-key columns (in field order) and `kudu:"-"` to skip a field;
// pointer fields are nullable. Go types map to Kudu types: int8–int64,
// bool, float32 (FLOAT), float64 (DOUBLE), string (STRING), []byte
// (BINARY), time.Time (UNIXTIME_MICROS, or DATE with `kudu:"name,date"`).
// Or give a Columns function that returns each record's values by column
// name.
//
// The client speaks Kudu's RPC protocol with SASL PLAIN and no TLS; it
// refuses servers that require TLS or Kerberos. It has been tested against
// the protocol test server in internal/kudutest and Kudu's own golden
// vectors, not against a real cluster (KUDU_MASTERS runs the tests against
// one).
package kudusink

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

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

// Option configures Write.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	op            Op
	user, pass    string
	timeout       time.Duration
	maxBatchBytes int
	create        *createSpec
	deadLetter    any // func(T, error)
	columns       any // func(T) (map[string]any, error)
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

// Timeout bounds each batch's writes, retries included. Default 30 s.
func Timeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("Timeout: %v is not positive", d)
		}
		c.timeout = d
		return nil
	})
}

// MaxBatchBytes caps the bytes of row data in one write request. Default
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

// CreateIfMissing creates the table at the first batch when it does not
// exist, with the columns of the record type's struct tags and the given
// hash partitioning (no range partitioning).
func CreateIfMissing(p Partitioning) Option {
	return optionFunc(func(c *config) error {
		if len(p.HashColumns) == 0 || p.Buckets < 2 {
			return errors.New("CreateIfMissing: give hash columns and at least 2 buckets")
		}
		c.create = &createSpec{hashCols: p.HashColumns, buckets: p.Buckets, replicas: p.Replicas}
		return nil
	})
}

// DeadLetter receives every record Kudu or the client rejects, with the
// reason; the other rows of the batch land and the batch goes on. Without
// it, a rejected row fails the batch (and so the job) with an error naming
// it.
func DeadLetter[T any](f func(record T, err error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return errors.New("DeadLetter: nil function")
		}
		c.deadLetter = f
		return nil
	})
}

// Columns maps each record to its column values by name (nil for NULL),
// instead of struct tags.
func Columns[T any](f func(T) (map[string]any, error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return errors.New("Columns: nil function")
		}
		c.columns = f
		return nil
	})
}

// Write adds an output operation that writes every batch of s to the
// Kudu table. masters are the Kudu masters, host:port (port 7051 by
// default); the leader is found among them.
func Write[T any](s *dstream.Stream[T], masters []string, table string, opts ...Option) error {
	if s == nil {
		return &dstream.BuildError{Op: "kudu.Write", Err: dstream.ErrNilStream}
	}
	cfg := config{timeout: 30 * time.Second}
	bad := func(err error) error {
		return &dstream.BuildError{Op: "kudu.Write", Err: fmt.Errorf("%w: %w", dstream.ErrInvalidOption, err)}
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return bad(err)
		}
	}
	if len(masters) == 0 || table == "" {
		return bad(errors.New("kudu: give the masters and the table"))
	}
	w := &writer[T]{cfg: cfg, masters: masters, table: table}
	if cfg.deadLetter != nil {
		f, ok := cfg.deadLetter.(func(T, error))
		if !ok {
			return bad(fmt.Errorf("DeadLetter takes func(%v, error), got %T", reflect.TypeFor[T](), cfg.deadLetter))
		}
		w.dead = f
	}
	if cfg.columns != nil {
		f, ok := cfg.columns.(func(T) (map[string]any, error))
		if !ok {
			return bad(fmt.Errorf("Columns takes func(%v) (map[string]any, error), got %T", reflect.TypeFor[T](), cfg.columns))
		}
		w.values = f
	} else {
		m, err := mapperFor[T]()
		if err != nil {
			return bad(err)
		}
		w.mapper = m
		w.values = func(rec T) (map[string]any, error) { return m.values(rec) }
	}
	if cfg.create != nil && w.mapper == nil {
		return bad(errors.New("CreateIfMissing needs the columns of struct tags, not a Columns function"))
	}
	s.Context().AddListener(w)
	// The masters must answer and the table exist (or be created) at
	// start, not at the first batch with data.
	s.Context().AddStartCheck("kudu masters "+strings.Join(masters, ","), func(ctx context.Context) error {
		_, _, err := w.open(ctx)
		return err
	})
	return s.ForEachBatch(w.write)
}

// writer is one Write output operation.
type writer[T any] struct {
	cfg     config
	masters []string
	table   string
	mapper  *mapper
	values  func(T) (map[string]any, error)
	dead    func(T, error)

	mu  sync.Mutex
	cl  *kudu.Client
	tbl *kudu.Table
}

// OnStreamingStopped implements dstream.StreamingStoppedListener: the
// client is closed with the context.
func (w *writer[T]) OnStreamingStopped(error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cl != nil {
		_ = w.cl.Close()
		w.cl, w.tbl = nil, nil
	}
}

// open connects and finds (or creates) the table, once.
func (w *writer[T]) open(ctx context.Context) (*kudu.Client, *kudu.Table, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tbl != nil {
		return w.cl, w.tbl, nil
	}
	if w.cl == nil {
		opts := []kudu.Option{kudu.WithTimeout(w.cfg.timeout)}
		if w.cfg.user != "" {
			opts = append(opts, kudu.WithUser(w.cfg.user), kudu.WithPassword(w.cfg.pass))
		}
		if w.cfg.maxBatchBytes > 0 {
			opts = append(opts, kudu.WithMaxBatchBytes(w.cfg.maxBatchBytes))
		}
		cl, err := kudu.Open(ctx, w.masters, opts...)
		if err != nil {
			return nil, nil, err // it names the masters
		}
		w.cl = cl
	}
	tbl, err := w.cl.Table(ctx, w.table)
	if errors.Is(err, kudu.ErrTableNotFound) && w.cfg.create != nil {
		tbl, err = w.createTable(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("table %s: %w", w.table, err)
	}
	w.tbl = tbl
	return w.cl, w.tbl, nil
}

func (w *writer[T]) createTable(ctx context.Context) (*kudu.Table, error) {
	schema, err := kudu.NewSchema(w.mapper.columns)
	if err != nil {
		return nil, err
	}
	spec := w.cfg.create
	ps := kudu.PartitionSchema{Hash: []kudu.HashSchema{{Columns: spec.hashCols, NumBuckets: spec.buckets}}}
	tbl, err := w.cl.CreateTable(ctx, w.table, schema, ps, &kudu.CreateTableOptions{NumReplicas: spec.replicas})
	if errors.Is(err, kudu.ErrTableExists) { // another writer was first
		return w.cl.Table(ctx, w.table)
	}
	return tbl, err
}

// write sends one batch.
func (w *writer[T]) write(ctx context.Context, b *dstream.Batch[T]) error {
	records := b.Collect()
	if len(records) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.timeout)
	defer cancel()
	cl, tbl, err := w.open(ctx)
	if err != nil {
		return err
	}
	ops := make([]*kudu.Operation, 0, len(records))
	idx := make([]int, 0, len(records)) // op -> record
	var failed []string
	reject := func(i int, err error) {
		if w.dead != nil {
			w.dead(records[i], err)
			return
		}
		failed = append(failed, fmt.Sprintf("record %d: %v", i, clientErr{err}))
	}
	for i, rec := range records {
		op, err := w.operation(tbl, rec)
		if err != nil {
			reject(i, err)
			continue
		}
		ops = append(ops, op)
		idx = append(idx, i)
	}
	rowErrs, err := cl.Apply(ctx, tbl, ops)
	if err != nil {
		return fmt.Errorf("kudu: writing %d rows to %s: %w", len(ops), w.table, clientErr{err})
	}
	for _, re := range rowErrs {
		reject(idx[re.Index], re.Err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("kudu: %d of %d rows rejected by %s (give a DeadLetter to set them aside): %s",
			len(failed), len(records), w.table, strings.Join(failed[:min(len(failed), 5)], "; "))
	}
	return nil
}

// clientErr is an error of the Kudu client, or of a row, for a message of
// the sink that starts with "kudu: " already: its own "kudu: " prefix is
// cut. It unwraps to the error.
type clientErr struct{ err error }

func (e clientErr) Error() string { return strings.TrimPrefix(e.err.Error(), "kudu: ") }

func (e clientErr) Unwrap() error { return e.err }

// operation builds the row operation of one record.
func (w *writer[T]) operation(tbl *kudu.Table, rec T) (*kudu.Operation, error) {
	var op *kudu.Operation
	switch w.cfg.op {
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
	vals, err := w.values(rec)
	if err != nil {
		return nil, fmt.Errorf("mapping the record to columns: %w", err)
	}
	schema := tbl.Schema()
	for name, v := range vals {
		i := schema.ColumnIndex(name)
		if i < 0 {
			return nil, fmt.Errorf("no column %q in table %s", name, w.table)
		}
		if w.cfg.op == Delete && !schema.Column(i).Key {
			continue // a delete names the key only
		}
		if v == nil {
			err = op.SetNull(name)
		} else {
			err = op.Set(name, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return op, nil
}
