package kudu

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"net"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
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
	tls              *tls.Config
	tlsMode          tlsMode
	tlsAuthOnly      bool
	krb              *client.Client
	krbService       string
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

	authClock authClock // Kerberos authenticator times

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
			e.c, e.err = dialConn(ctx, addr, c.connConfig(addr))
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

// connConfig returns what a connection to addr needs.
func (c *Client) connConfig(addr string) connConfig {
	role := "tablet server"
	if slices.Contains(c.masters, addr) {
		role = "master"
	}
	return connConfig{
		role:        role,
		user:        c.cfg.user,
		password:    c.cfg.password,
		dial:        c.cfg.dial,
		tls:         c.cfg.tls,
		tlsMode:     c.cfg.tlsMode,
		tlsAuthOnly: c.cfg.tlsAuthOnly,
		krb:         c.cfg.krb,
		krbService:  c.cfg.krbService,
		authClock:   &c.authClock,
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
