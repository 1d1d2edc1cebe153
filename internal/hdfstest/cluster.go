package hdfstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Defaults of a Cluster's options.
const (
	// DefaultBlockSize is the block size the NameNode reports in its server
	// defaults: small, so that test files span several blocks.
	DefaultBlockSize = 1 << 20
	// DefaultReplication is the replication the NameNode reports.
	DefaultReplication = 1
	// DefaultListingLimit is the number of entries getListing returns at
	// most per call, like dfs.ls.limit.
	DefaultListingLimit = 1000
	// DefaultLeaseSoftLimit is how long a writer's lease is exclusive
	// without renewal: after it another client may take the file over.
	DefaultLeaseSoftLimit = time.Minute
	// DefaultLeaseHardLimit is how long a lease lasts without renewal
	// before the NameNode closes the file itself.
	DefaultLeaseHardLimit = 20 * time.Minute
	// DefaultSuperuser is the user the NameNode runs as, its superuser.
	DefaultSuperuser = "hdfs"
	// DefaultSupergroup is dfs.permissions.superusergroup: its members
	// are superusers too.
	DefaultSupergroup = "supergroup"
	// DefaultMaxComponentLength is dfs.namenode.fs-limits.max-component-length:
	// the longest name, in UTF-8 bytes, a new file or directory may have.
	DefaultMaxComponentLength = 255
	// DefaultMaxDirectoryItems is dfs.namenode.fs-limits.max-directory-items:
	// the most entries a directory may hold.
	DefaultMaxDirectoryItems = 1024 * 1024
	// bytesPerChecksum is the chunk size of the checksums the server
	// reports and uses when it sends block data.
	bytesPerChecksum = 512
)

// Option configures a Cluster.
type Option func(*config)

// config holds a Cluster's settings.
type config struct {
	blockSize     int64
	replication   int
	listingLimit  int
	softLimit     time.Duration
	hardLimit     time.Duration
	now           func() time.Time
	clockOffset   time.Duration
	logf          func(format string, args ...any)
	maxFrame      uint32
	noPermissions bool
	superuser     string
	supergroup    string
	maxComponent  int
	maxDirItems   int
	completeDelay time.Duration
	recoveryDelay time.Duration
	emptyRoot     bool
	krb           *kerberosConfig
}

// WithBlockSize sets the block size the NameNode reports as its default
// (DefaultBlockSize when not set). It must be a positive multiple of 512,
// the checksum chunk size. Clients may still ask for another block size
// when they create a file.
func WithBlockSize(n int64) Option { return func(c *config) { c.blockSize = n } }

// WithReplication sets the replication the NameNode reports as its
// default (DefaultReplication when not set). Every block is stored on the
// one DataNode whatever the replication.
func WithReplication(n int) Option { return func(c *config) { c.replication = n } }

// WithListingLimit sets how many entries getListing returns per call
// (DefaultListingLimit when not set), so tests can make clients page.
func WithListingLimit(n int) Option { return func(c *config) { c.listingLimit = n } }

// WithLeaseLimits sets the lease soft and hard limits
// (DefaultLeaseSoftLimit and DefaultLeaseHardLimit when not set).
func WithLeaseLimits(soft, hard time.Duration) Option {
	return func(c *config) { c.softLimit, c.hardLimit = soft, hard }
}

// WithClock sets the clock the NameNode uses for modification times and
// leases (time.Now when not set).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithClockOffset sets the NameNode's clock off by d from the clock it
// is given (WithClock, or time.Now): a NameNode host whose clock is
// ahead (d > 0) or behind (d < 0) the clients'. The modification and
// access times it assigns are its clock's; lease limits and delays are
// measured on it too, so the offset does not change them.
func WithClockOffset(d time.Duration) Option { return func(c *config) { c.clockOffset = d } }

// WithPermissions turns HDFS permission checking on (the default, as
// dfs.permissions.enabled) or off. With it off every user may do
// everything, and owners, groups and modes are only recorded.
func WithPermissions(on bool) Option { return func(c *config) { c.noPermissions = !on } }

// WithSuperuser sets the user the NameNode runs as, its superuser
// (DefaultSuperuser when not set), who owns the root directory and
// passes every permission check.
func WithSuperuser(user string) Option { return func(c *config) { c.superuser = user } }

// WithSupergroup sets dfs.permissions.superusergroup (DefaultSupergroup
// when not set): members of that group (see SetGroups) are superusers.
func WithSupergroup(group string) Option { return func(c *config) { c.supergroup = group } }

// WithMaxComponentLength sets dfs.namenode.fs-limits.max-component-length
// (DefaultMaxComponentLength when not set): creating a file or directory,
// or renaming to a name, longer than n UTF-8 bytes fails with
// FSLimitException$PathComponentTooLongException.
func WithMaxComponentLength(n int) Option { return func(c *config) { c.maxComponent = n } }

// WithMaxDirectoryItems sets dfs.namenode.fs-limits.max-directory-items
// (DefaultMaxDirectoryItems when not set): adding an entry to a directory
// that holds n fails with FSLimitException$MaxDirectoryItemsExceededException.
// Tests set it low to reach the limit.
func WithMaxDirectoryItems(n int) Option { return func(c *config) { c.maxDirItems = n } }

// WithCompleteDelay makes the NameNode learn that the DataNode stored a
// block (its incremental block report) only d after the DataNode has
// received the block's last packet, on the NameNode's clock. Until then
// the block has not reached its minimal replication: complete answers
// false (the client's Close returns hdfs.ErrReplicating and should
// retry), and addBlock refuses to allocate a block while the one before
// the previous is unreported (NotReplicatedYetException), as a real
// NameNode does. Zero (the default) reports blocks at once.
func WithCompleteDelay(d time.Duration) Option { return func(c *config) { c.completeDelay = d } }

// WithLeaseRecoveryDelay makes the recovery of a file whose writer is
// gone take d on the NameNode's clock when its last block holds data that
// was never committed, as block recovery on the DataNodes does: the file
// stays under construction with the NameNode holding its lease,
// recoverLease answers false, and create over it fails with
// org.apache.hadoop.hdfs.protocol.RecoveryInProgressException until the
// recovery is over. Zero (the default) recovers at once.
func WithLeaseRecoveryDelay(d time.Duration) Option { return func(c *config) { c.recoveryDelay = d } }

// WithEmptyNamespace starts the cluster with only the root directory, as
// a freshly formatted NameNode. Without it the namespace starts as a
// deployment's does: / (0755), /tmp (1777, sticky) and /user (0755), all
// owned by the superuser and the supergroup.
func WithEmptyNamespace() Option { return func(c *config) { c.emptyRoot = true } }

// WithLogf sets where the cluster reports protocol errors it answers
// (malformed frames, bad packets, checksum errors). New logs to t.Logf;
// Start discards them unless this option is given.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// validate checks the settings and fills in defaults.
func (c *config) validate() error {
	if c.blockSize == 0 {
		c.blockSize = DefaultBlockSize
	}
	if c.replication == 0 {
		c.replication = DefaultReplication
	}
	if c.listingLimit == 0 {
		c.listingLimit = DefaultListingLimit
	}
	if c.softLimit == 0 {
		c.softLimit = DefaultLeaseSoftLimit
	}
	if c.hardLimit == 0 {
		c.hardLimit = DefaultLeaseHardLimit
	}
	if c.now == nil {
		c.now = time.Now
	}
	if off := c.clockOffset; off != 0 {
		base := c.now
		c.now = func() time.Time { return base().Add(off) }
	}
	if c.superuser == "" {
		c.superuser = DefaultSuperuser
	}
	if c.supergroup == "" {
		c.supergroup = DefaultSupergroup
	}
	if c.maxComponent == 0 {
		c.maxComponent = DefaultMaxComponentLength
	}
	if c.maxDirItems == 0 {
		c.maxDirItems = DefaultMaxDirectoryItems
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.maxFrame == 0 {
		c.maxFrame = defaultMaxFrame
	}
	switch {
	case c.blockSize < 0 || c.blockSize%bytesPerChecksum != 0:
		return fmt.Errorf("hdfstest: block size %d is not a positive multiple of %d", c.blockSize, bytesPerChecksum)
	case c.replication < 0 || c.replication > 512:
		return fmt.Errorf("hdfstest: replication %d is out of range", c.replication)
	case c.listingLimit < 0:
		return fmt.Errorf("hdfstest: listing limit %d is negative", c.listingLimit)
	case c.softLimit < 0 || c.hardLimit < c.softLimit:
		return fmt.Errorf("hdfstest: lease limits %v (soft) and %v (hard) are invalid", c.softLimit, c.hardLimit)
	case c.maxComponent < 0:
		return fmt.Errorf("hdfstest: max component length %d is negative", c.maxComponent)
	case c.maxDirItems < 0:
		return fmt.Errorf("hdfstest: max directory items %d is negative", c.maxDirItems)
	case c.completeDelay < 0 || c.recoveryDelay < 0:
		return fmt.Errorf("hdfstest: delays %v (complete) and %v (lease recovery) must not be negative", c.completeDelay, c.recoveryDelay)
	}
	if c.krb != nil {
		return c.krb.load()
	}
	return nil
}

// Cluster is an in-process HDFS: one or more NameNode RPC endpoints that
// share one namespace, and one DataNode. Its methods are safe for
// concurrent use.
type Cluster struct {
	cfg config

	// mu guards the namespace, the blocks and replicas, the leases, the
	// faults and the counters.
	mu        sync.Mutex
	root      *inode
	inodes    map[uint64]*inode
	nextInode uint64
	blocks    map[uint64]*blockInfo
	nextBlock uint64
	nextGS    uint64
	leases    map[string]time.Time // lease holder (client name) -> last renewal
	replicas  map[uint64]*replica
	poolID    string
	dnUUID    string
	storageID string
	groups    map[string][]string // user -> the groups SetGroups gave it

	rpcFaults     []*rpcFault
	delayComplete int
	drops         []int
	standby       map[string]bool // NameNode address -> answers StandbyException
	rpcCounts     map[string]int
	dnOps         map[byte]int

	// netMu guards the listeners and connections.
	netMu     sync.Mutex
	closed    bool
	nameNodes []net.Listener
	dataNode  net.Listener
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// rpcFault is an exception InjectRPCError queued for a method.
type rpcFault struct {
	method, class, msg string
	times              int // calls left; negative: every call
}

// New starts a Cluster for a test and closes it when the test ends. It
// fails the test if the cluster cannot start. Protocol errors the cluster
// answers are logged with t.Logf unless WithLogf is given.
func New(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	opts = append([]Option{WithLogf(t.Logf)}, opts...)
	c, err := Start(opts...)
	if err != nil {
		t.Fatalf("hdfstest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Start starts a Cluster listening on loopback ports. The caller must
// Close it.
func Start(opts ...Option) (*Cluster, error) {
	if errDescriptors != nil {
		return nil, errDescriptors
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	now := cfg.now()
	c := &Cluster{
		cfg:       cfg,
		inodes:    map[uint64]*inode{},
		nextInode: rootInodeID + 1,
		blocks:    map[uint64]*blockInfo{},
		nextBlock: 1 << 30,
		nextGS:    1000,
		leases:    map[string]time.Time{},
		replicas:  map[uint64]*replica{},
		poolID:    fmt.Sprintf("BP-%d-127.0.0.1-%d", randUint32(), now.UnixMilli()),
		dnUUID:    randUUID(),
		storageID: "DS-" + randUUID(),
		standby:   map[string]bool{},
		rpcCounts: map[string]int{},
		dnOps:     map[byte]int{},
		conns:     map[net.Conn]struct{}{},
		groups:    map[string][]string{},
	}
	c.root = &inode{id: rootInodeID, dir: true, children: map[string]*inode{},
		perm: 0o755, owner: cfg.superuser, group: cfg.supergroup, mtime: now, atime: now}
	c.inodes[rootInodeID] = c.root
	if !cfg.emptyRoot {
		for _, d := range []struct {
			name string
			perm uint32
		}{{"tmp", 0o1777}, {"user", 0o755}} {
			if _, err := c.newChildLocked(c.root, d.name, true, d.perm, cfg.superuser); err != nil {
				return nil, err
			}
		}
	}

	dn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hdfstest: DataNode: %w", err)
	}
	c.dataNode = dn
	c.wg.Add(1)
	go c.serveDataNode(dn)
	if _, err := c.AddNameNode(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// AddNameNode starts another NameNode RPC endpoint on a loopback port
// and returns its address. All endpoints serve the same namespace, as
// the active and standby NameNodes of an HA pair share one; SetStandby
// makes one answer every call with a StandbyException.
func (c *Cluster) AddNameNode() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("hdfstest: NameNode: %w", err)
	}
	c.netMu.Lock()
	if c.closed {
		c.netMu.Unlock()
		ln.Close()
		return "", errors.New("hdfstest: cluster is closed")
	}
	c.nameNodes = append(c.nameNodes, ln)
	c.wg.Add(1)
	c.netMu.Unlock()
	go c.serveNameNode(ln)
	return ln.Addr().String(), nil
}

// Addr returns the address (host:port) of the first NameNode.
func (c *Cluster) Addr() string { return c.Addrs()[0] }

// Addrs returns the addresses of all NameNode endpoints, in the order
// they were started.
func (c *Cluster) Addrs() []string {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	out := make([]string, len(c.nameNodes))
	for i, ln := range c.nameNodes {
		out[i] = ln.Addr().String()
	}
	return out
}

// DataNodeAddr returns the address of the DataNode's data transfer port.
func (c *Cluster) DataNodeAddr() string { return c.dataNode.Addr().String() }

// BlockSize returns the default block size the NameNode reports.
func (c *Cluster) BlockSize() int64 { return c.cfg.blockSize }

// Superuser returns the user the NameNode runs as, which passes every
// permission check (see WithSuperuser).
func (c *Cluster) Superuser() string { return c.cfg.superuser }

// SetGroups sets the groups user belongs to, as the NameNode's group
// mapping (hadoop.security.group.mapping) would resolve them; it replaces
// the groups set before. A user the mapping does not know, as a user
// without an account on the NameNode's host, has no groups: that is
// every user until SetGroups names it. A member of the supergroup is a
// superuser.
func (c *Cluster) SetGroups(user string, groups ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groups[user] = slices.Clone(groups)
}

// Mkdir makes the directory p as an administrator does with the
// superuser's "hdfs dfs -mkdir -p", "-chown owner:group" and "-chmod
// perm": the missing parents are created owned by the superuser with mode
// 0755, and p (created if missing) gets the owner, the group (an empty
// one keeps the group p inherits from its parent) and the permission
// bits of perm, including the sticky bit (fs.ModeSticky or 0o1000).
// The name limits apply as to any client.
func (c *Cluster) Mkdir(p string, perm fs.FileMode, owner, group string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts, rerr := splitPath(p)
	if rerr != nil {
		return fmt.Errorf("hdfstest: mkdir %s: %w", p, rerr)
	}
	n, depth := c.walkLocked(parts)
	if depth < len(parts) && !n.dir {
		return fmt.Errorf("hdfstest: mkdir %s: %s is a file", p, n.path())
	}
	if depth == len(parts) && !n.dir {
		return fmt.Errorf("hdfstest: mkdir %s: it is a file", p)
	}
	if rerr := c.checkNewLocked(n, parts[depth:]); rerr != nil {
		return fmt.Errorf("hdfstest: mkdir %s: %w", p, rerr)
	}
	for _, e := range parts[depth:] {
		if n, rerr = c.newChildLocked(n, e, true, 0o755, c.cfg.superuser); rerr != nil {
			return fmt.Errorf("hdfstest: mkdir %s: %w", p, rerr)
		}
	}
	n.perm = uint32(perm.Perm())
	if perm&fs.ModeSticky != 0 || perm&0o1000 != 0 {
		n.perm |= 0o1000
	}
	if owner != "" {
		n.owner = owner
	}
	if group != "" {
		n.group = group
	}
	return nil
}

// AddUser gives user a home directory as an administrator does when a
// user joins: /user/<user>, owned by user with the supergroup's group
// inherited from /user and mode 0755. The groups, when given, are the
// user's (see SetGroups). It returns the home directory's path.
func (c *Cluster) AddUser(user string, groups ...string) (string, error) {
	if user == "" || strings.ContainsAny(user, "/:") {
		return "", fmt.Errorf("hdfstest: invalid user name %q", user)
	}
	if len(groups) > 0 {
		c.SetGroups(user, groups...)
	}
	home := "/user/" + user
	if err := c.Mkdir(home, 0o755, user, ""); err != nil {
		return "", err
	}
	return home, nil
}

// SetStandby makes the NameNode endpoint at addr answer every call with
// org.apache.hadoop.ipc.StandbyException (standby true) or serve calls
// again (false), as a NameNode does across an HA failover. It returns an
// error if addr is not one of Addrs.
func (c *Cluster) SetStandby(addr string, standby bool) error {
	if !slices.Contains(c.Addrs(), addr) {
		return fmt.Errorf("hdfstest: no NameNode at %s", addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.standby[addr] = standby
	return nil
}

// InjectRPCError makes the next times calls of method (for example
// "create" or "getFileInfo"), on any NameNode endpoint, fail with the
// Java exception javaClass (for example
// "org.apache.hadoop.security.AccessControlException" or
// "org.apache.hadoop.ipc.StandbyException") and the message msg, instead
// of being carried out. A negative times fails every call until
// ClearFaults. Faults for one method are used in the order they were
// injected.
func (c *Cluster) InjectRPCError(method, javaClass, msg string, times int) {
	if times == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rpcFaults = append(c.rpcFaults, &rpcFault{method: method, class: javaClass, msg: msg, times: times})
}

// DelayComplete makes the next n complete calls that would close a file
// answer false instead, as a NameNode does while the last block has not
// reached its minimal replication: the client's Close returns
// hdfs.ErrReplicating and should retry. The block lengths the calls carry
// are still committed.
func (c *Cluster) DelayComplete(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delayComplete += n
}

// DropDataNodeConnection makes the DataNode close the next data transfer
// connection (a block write or a block read) once afterBytes bytes of
// block data have passed through it: a write is cut after the packet
// that reaches the count, without an ack; a read is cut in the middle
// of the packet that crosses it. Each call arms one more dropped
// connection, used in order.
func (c *Cluster) DropDataNodeConnection(afterBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drops = append(c.drops, max(afterBytes, 0))
}

// ClearFaults removes every fault that InjectRPCError, DelayComplete,
// DropDataNodeConnection and SetStandby armed.
func (c *Cluster) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rpcFaults, c.delayComplete, c.drops = nil, 0, nil
	clear(c.standby)
}

// OpenFiles returns the sorted paths of the files under construction:
// created or being written and not yet completed, whose leases have not
// expired, and those whose leases the NameNode is still recovering (see
// WithLeaseRecoveryDelay). A test that finishes with open files leaked a
// writer.
func (c *Cluster) OpenFiles() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLeasesLocked()
	var out []string
	for _, n := range c.inodes {
		if n.uc {
			out = append(out, n.path())
		}
	}
	slices.Sort(out)
	return out
}

// RPCCount returns how many calls of method the NameNode endpoints have
// received, including those that failed.
func (c *Cluster) RPCCount(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rpcCounts[method]
}

// DataNodeOps returns how many block writes (op 0x50) and block reads
// (op 0x51) the DataNode has been asked for.
func (c *Cluster) DataNodeOps() (writes, reads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dnOps[opWriteBlock], c.dnOps[opReadBlock]
}

// ReadFile returns the contents of a file as the cluster stores it,
// without going through a client: the committed length of each block, or
// for a block still being written what the DataNode has received.
func (c *Cluster) ReadFile(name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("hdfstest: %s does not exist", name)
	}
	if n.dir {
		return nil, fmt.Errorf("hdfstest: %s is a directory", name)
	}
	var out []byte
	for _, b := range n.blocks {
		r := c.replicas[b.id]
		if r == nil {
			return nil, fmt.Errorf("hdfstest: block %d of %s has no replica", b.id, name)
		}
		l := c.blockLengthLocked(b)
		if l > uint64(len(r.data)) {
			return nil, fmt.Errorf("hdfstest: block %d of %s has %d bytes, %d committed", b.id, name, len(r.data), l)
		}
		out = append(out, r.data[:l]...)
	}
	return out, nil
}

// BlockLengths returns the lengths of the blocks of the file name, in
// order.
func (c *Cluster) BlockLengths(name string) ([]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	if n == nil || n.dir {
		return nil, fmt.Errorf("hdfstest: %s is not a file", name)
	}
	out := make([]int64, len(n.blocks))
	for i, b := range n.blocks {
		out[i] = int64(c.blockLengthLocked(b))
	}
	return out, nil
}

// Close stops the NameNodes and the DataNode, closes every connection
// and waits for the cluster's goroutines to end. It is safe to call more
// than once.
func (c *Cluster) Close() error {
	c.netMu.Lock()
	if c.closed {
		c.netMu.Unlock()
		return nil
	}
	c.closed = true
	for _, ln := range c.nameNodes {
		ln.Close()
	}
	if c.dataNode != nil {
		c.dataNode.Close()
	}
	for conn := range c.conns {
		conn.Close()
	}
	c.netMu.Unlock()
	c.wg.Wait()
	return nil
}

// track registers a connection so that Close can close it; it returns
// false (and closes conn) if the cluster is closing.
func (c *Cluster) track(conn net.Conn) bool {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	if c.closed {
		conn.Close()
		return false
	}
	c.conns[conn] = struct{}{}
	c.wg.Add(1)
	return true
}

// untrack closes conn and forgets it.
func (c *Cluster) untrack(conn net.Conn) {
	conn.Close()
	c.netMu.Lock()
	delete(c.conns, conn)
	c.netMu.Unlock()
	c.wg.Done()
}

// accept runs handle on each connection ln accepts until ln is closed.
func (c *Cluster) accept(ln net.Listener, handle func(net.Conn)) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if !c.track(conn) {
			continue
		}
		go func() {
			defer c.untrack(conn)
			handle(conn)
		}()
	}
}

// randUint32 returns a random number for identifiers.
func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// randUUID returns a random UUID in its text form.
func randUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// hangup reports whether err only says that the peer went away (or the
// cluster closed the connection), which is not worth logging: clients
// close block reads they no longer need.
func hangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
