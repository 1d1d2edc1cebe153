package hdfstest

import (
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/dynamicpb"
)

// rootInodeID is the id of "/", as in HDFS (INodeId.ROOT_INODE_ID).
const rootInodeID = 16385

// inode is a file or directory of the namespace.
type inode struct {
	id       uint64
	name     string // the last path element; "" for the root
	parent   *inode
	dir      bool
	children map[string]*inode // of a directory

	perm         uint32
	owner, group string
	mtime, atime time.Time

	// Of a file.
	replication uint32
	blockSize   uint64
	blocks      []*blockInfo
	uc          bool      // under construction: created and not completed
	holder      string    // the client name holding the lease while uc
	recovering  bool      // uc, with its lease being recovered by the NameNode
	recoveredAt time.Time // when the recovery will be over
}

// path returns the absolute path of n.
func (n *inode) path() string {
	if n.parent == nil {
		return "/"
	}
	var parts []string
	for m := n; m.parent != nil; m = m.parent {
		parts = append(parts, m.name)
	}
	slices.Reverse(parts)
	return "/" + strings.Join(parts, "/")
}

// sortedChildren returns a directory's children sorted by name, byte by
// byte, as HDFS lists them.
func (n *inode) sortedChildren() []*inode {
	names := slices.Sorted(maps.Keys(n.children))
	out := make([]*inode, len(names))
	for i, name := range names {
		out[i] = n.children[name]
	}
	return out
}

// blockInfo is the NameNode's record of a block of a file.
type blockInfo struct {
	id, gs    uint64
	file      *inode
	numBytes  uint64 // the length the client committed
	committed bool   // numBytes is known (addBlock's previous or complete's last)
	complete  bool   // committed and stored with that length (see blockCompleteLocked)
}

// replica is the DataNode's copy of a block.
type replica struct {
	id, gs      uint64
	data        []byte
	finalized   bool      // the last packet arrived
	finalizedAt time.Time // when, on the NameNode's clock
	recovering  bool      // its file's lease is being recovered: no more packets
}

// splitPath checks that p is a valid HDFS path name (absolute, no "." or
// ".." elements, no ":" and no empty element in the middle) and returns
// its elements, none for "/". The rules are those of DFSUtil.isValidName.
func splitPath(p string) ([]string, *remoteError) {
	if !strings.HasPrefix(p, "/") {
		return nil, javaErr(exInvalidPath, "Invalid path name Path is not absolute: %s", p)
	}
	parts := strings.Split(p[1:], "/")
	if parts[len(parts)-1] == "" { // "/" or a trailing slash
		parts = parts[:len(parts)-1]
	}
	for _, e := range parts {
		if e == "" || e == "." || e == ".." || strings.Contains(e, ":") {
			return nil, javaErr(exInvalidPath, "Invalid path name Invalid file name: %s", p)
		}
	}
	return parts, nil
}

// walkLocked resolves the elements as far as they exist: it returns the
// deepest existing inode and how many elements it resolved. It stops at
// a file that has more elements after it.
func (c *Cluster) walkLocked(parts []string) (*inode, int) {
	n := c.root
	for i, e := range parts {
		if !n.dir {
			return n, i
		}
		child, ok := n.children[e]
		if !ok {
			return n, i
		}
		n = child
	}
	return n, len(parts)
}

// lookupLocked returns the inode at p, or nil if there is none (also
// when an ancestor is a file, as getFileInfo answers).
func (c *Cluster) lookupLocked(p string) (*inode, *remoteError) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	n, depth := c.walkLocked(parts)
	if depth < len(parts) {
		return nil, nil
	}
	return n, nil
}

// parentForCreateLocked returns the directory that will hold the new
// entry at parts, creating missing ancestors (owned by user, with perm
// and u+wx) when createParent is set. It fails with FileNotFoundException
// when an ancestor is missing and with ParentNotDirectoryException when
// one is a file, and with an FSLimitException when a new name is too long
// or a directory full; the limits are checked for the entry's own name
// too before anything is created.
func (c *Cluster) parentForCreateLocked(p string, parts []string, createParent bool, perm uint32, user string) (*inode, *remoteError) {
	dirParts := parts[:len(parts)-1]
	n, depth := c.walkLocked(dirParts)
	if !n.dir {
		return nil, javaErr(exParentNotDir, "Parent path is not a directory: %s", n.path())
	}
	if depth < len(dirParts) && !createParent {
		return nil, javaErr(exFileNotFound, "Parent directory doesn't exist: %s", path.Dir(p))
	}
	if rerr := c.checkNewLocked(n, parts[depth:]); rerr != nil {
		return nil, rerr
	}
	for _, e := range dirParts[depth:] {
		var rerr *remoteError
		if n, rerr = c.newChildLocked(n, e, true, perm|0o300, user); rerr != nil { // HDFS gives implicit parents u+wx
			return nil, rerr
		}
	}
	return n, nil
}

// checkNewLocked checks the FSLimits for adding the chain of new entries
// names under dir (the first in dir, each next one in the one before):
// every name's length (FSDirectory.verifyMaxComponentLength) and the
// number of entries dir holds (verifyMaxDirItems); the later entries go
// into new, empty directories.
func (c *Cluster) checkNewLocked(dir *inode, names []string) *remoteError {
	parent := dir.path()
	for i, name := range names {
		if len(name) > c.cfg.maxComponent {
			return javaErr(exPathComponentTooLong,
				"The maximum path component name limit of %s in directory %s is exceeded: limit=%d length=%d",
				name, parent, c.cfg.maxComponent, len(name))
		}
		if i == 0 {
			if n := len(dir.children); n >= c.cfg.maxDirItems {
				return javaErr(exMaxDirectoryItems, "The directory item limit of %s is exceeded: limit=%d items=%d",
					parent, c.cfg.maxDirItems, n)
			}
		}
		parent = path.Join(parent, name)
	}
	return nil
}

// newChildLocked adds a new file or directory named name to dir, owned by
// user and with dir's group (the BSD rule HDFS follows), after checking
// the FSLimits.
func (c *Cluster) newChildLocked(dir *inode, name string, isDir bool, perm uint32, user string) (*inode, *remoteError) {
	if rerr := c.checkNewLocked(dir, []string{name}); rerr != nil {
		return nil, rerr
	}
	now := c.cfg.now()
	n := &inode{
		id: c.nextInode, name: name, parent: dir, dir: isDir,
		perm: perm & 0o1777, owner: user, group: dir.group, mtime: now, atime: now,
	}
	if isDir {
		n.children = map[string]*inode{}
	}
	c.nextInode++
	c.inodes[n.id] = n
	dir.children[name] = n
	dir.mtime = now
	return n, nil
}

// removeLocked unlinks n (and everything under it) from the namespace
// and drops its blocks and replicas.
func (c *Cluster) removeLocked(n *inode) {
	if n.parent != nil {
		delete(n.parent.children, n.name)
		n.parent.mtime = c.cfg.now()
	}
	var drop func(*inode)
	drop = func(m *inode) {
		delete(c.inodes, m.id)
		for _, b := range m.blocks {
			delete(c.blocks, b.id)
			delete(c.replicas, b.id)
		}
		m.uc, m.holder, m.recovering = false, "", false
		for _, child := range m.children {
			drop(child)
		}
	}
	drop(n)
}

// blockLengthLocked returns the length of a block: the committed length,
// or for a block still being written what the DataNode has received.
func (c *Cluster) blockLengthLocked(b *blockInfo) uint64 {
	if b.committed {
		return b.numBytes
	}
	if r := c.replicas[b.id]; r != nil {
		return uint64(len(r.data))
	}
	return 0
}

// fileLengthLocked returns the length of a file as getFileInfo reports
// it: the sum of its committed blocks (a block still being written is not
// counted, as HDFS does not count the last block under construction).
func (c *Cluster) fileLengthLocked(n *inode) uint64 {
	var l uint64
	for _, b := range n.blocks {
		if b.committed {
			l += b.numBytes
		}
	}
	return l
}

// statusLocked returns the HdfsFileStatusProto of n, with name as its
// local name ("" in getFileInfo answers, the entry's name in listings).
func (c *Cluster) statusLocked(n *inode, name string, needLocation bool) *dynamicpb.Message {
	m := build(pbFileStatus,
		"fileType", "IS_FILE",
		"path", name,
		"length", 0,
		"permission", build(pbPermission, "perm", n.perm),
		"owner", n.owner,
		"group", n.group,
		"modification_time", n.mtime.UnixMilli(),
		"access_time", n.atime.UnixMilli(),
		"fileId", n.id,
		"childrenNum", 0,
	)
	if n.dir {
		setField(m, "fileType", "IS_DIR")
		setField(m, "childrenNum", len(n.children))
		return m
	}
	length := c.fileLengthLocked(n)
	setField(m, "length", length)
	setField(m, "block_replication", n.replication)
	setField(m, "blocksize", n.blockSize)
	if needLocation {
		setField(m, "locations", c.locatedBlocksLocked(n, 0, length))
	}
	return m
}

// emptyToken returns the block token of an unsecured cluster.
func emptyToken() *dynamicpb.Message {
	return build(pbToken, "identifier", "", "password", "", "kind", "", "service", "")
}

// datanodeInfoLocked describes the DataNode as the NameNode reports it.
func (c *Cluster) datanodeInfoLocked() *dynamicpb.Message {
	var used uint64
	for _, r := range c.replicas {
		used += uint64(len(r.data))
	}
	const capacity = 1 << 40
	_, port := splitHostPort(c.dataNode.Addr().String())
	return build(pbDatanodeInfo,
		"id", build(pbDatanodeID,
			"ipAddr", "127.0.0.1",
			"hostName", "localhost",
			"datanodeUuid", c.dnUUID,
			"xferPort", port,
			"infoPort", 0,
			"ipcPort", 0,
		),
		"capacity", capacity,
		"dfsUsed", used,
		"remaining", capacity-used,
		"blockPoolUsed", used,
		"lastUpdate", c.cfg.now().UnixMilli(),
		"xceiverCount", 1,
		"location", "/default-rack",
		"adminState", "NORMAL",
	)
}

// locatedBlockLocked returns the LocatedBlockProto of b, which starts at
// offset in its file, with the generation stamp gs.
func (c *Cluster) locatedBlockLocked(b *blockInfo, offset, numBytes, gs uint64) *dynamicpb.Message {
	return build(pbLocatedBlock,
		"b", build(pbExtendedBlock,
			"poolId", c.poolID,
			"blockId", b.id,
			"generationStamp", gs,
			"numBytes", numBytes,
		),
		"offset", offset,
		"locs", []any{c.datanodeInfoLocked()},
		"corrupt", false,
		"blockToken", emptyToken(),
		"isCached", []bool{false},
		"storageTypes", []string{"DISK"},
		"storageIDs", []string{c.storageID},
	)
}

// locatedBlocksLocked returns the LocatedBlocksProto of the blocks of n
// that overlap [offset, offset+length).
func (c *Cluster) locatedBlocksLocked(n *inode, offset, length uint64) *dynamicpb.Message {
	var blocks []any
	var last *dynamicpb.Message
	var pos uint64
	lastComplete := true
	for i, b := range n.blocks {
		l := c.blockLengthLocked(b)
		lb := c.locatedBlockLocked(b, pos, l, b.gs)
		if (pos < offset+length && pos+l > offset) || (l == 0 && pos == offset) {
			blocks = append(blocks, lb)
		}
		if i == len(n.blocks)-1 {
			last, lastComplete = c.locatedBlockLocked(b, pos, l, b.gs), c.blockCompleteLocked(b)
		}
		pos += l
	}
	m := build(pbLocatedBlocks,
		"fileLength", c.fileLengthLocked(n),
		"blocks", blocks,
		"underConstruction", n.uc,
		"isLastBlockComplete", lastComplete,
	)
	if last != nil {
		setField(m, "lastBlock", last)
	}
	return m
}

// nameNodeLeaseHolder is the lease holder of a file whose lease the
// NameNode is recovering (HdfsServerConstants.NAMENODE_LEASE_HOLDER).
const nameNodeLeaseHolder = "HDFS_NameNode"

// expireLeasesLocked finishes the lease recoveries whose time has come,
// and recovers the files whose holders have not renewed their leases
// within the hard limit, as the NameNode's lease monitor does.
func (c *Cluster) expireLeasesLocked() {
	now := c.cfg.now()
	for _, n := range c.inodes {
		switch {
		case !n.uc:
		case n.recovering:
			if !now.Before(n.recoveredAt) {
				c.recoverLocked(n)
			}
		case now.Sub(c.leases[n.holder]) > c.cfg.hardLimit:
			c.releaseLeaseLocked(n)
		}
	}
}

// releaseLeaseLocked takes the lease of a file under construction from
// its writer, who is gone (FSNamesystem.internalReleaseLease), and
// reports whether the file is closed. A file whose last block holds data
// that was never committed needs block recovery on the DataNode: with a
// lease recovery delay the file stays under construction, its lease held
// by the NameNode, until the delay has passed; otherwise, or without the
// delay, it is closed at once.
func (c *Cluster) releaseLeaseLocked(n *inode) bool {
	if !n.uc {
		return true
	}
	if n.recovering {
		return false
	}
	needsBlockRecovery := false
	if k := len(n.blocks); k > 0 {
		b := n.blocks[k-1]
		r := c.replicas[b.id]
		needsBlockRecovery = !b.committed && r != nil && len(r.data) > 0
	}
	if !needsBlockRecovery || c.cfg.recoveryDelay == 0 {
		c.recoverLocked(n)
		return true
	}
	n.recovering, n.recoveredAt = true, c.cfg.now().Add(c.cfg.recoveryDelay)
	n.holder = nameNodeLeaseHolder
	if r := c.replicas[n.blocks[len(n.blocks)-1].id]; r != nil {
		r.recovering = true // the writer's packets are refused from now on
	}
	return false
}

// recoverLocked closes a file under construction whose writer is gone:
// the last block keeps what the DataNode received (or is dropped if the
// DataNode has none of it), and the file is complete.
func (c *Cluster) recoverLocked(n *inode) {
	if k := len(n.blocks); k > 0 {
		b := n.blocks[k-1]
		if !b.committed {
			if r := c.replicas[b.id]; r != nil && len(r.data) > 0 {
				b.numBytes, b.committed = uint64(len(r.data)), true
				r.finalized = true
			} else {
				delete(c.blocks, b.id)
				delete(c.replicas, b.id)
				n.blocks = n.blocks[:k-1]
			}
		}
	}
	for _, b := range n.blocks {
		b.complete = true
	}
	n.uc, n.holder, n.recovering = false, "", false
	n.mtime = c.cfg.now()
}

// blockCompleteLocked reports whether the NameNode counts b as complete:
// committed, and stored by the DataNode with that length, reported (see
// WithCompleteDelay). It records the answer once it is true.
func (c *Cluster) blockCompleteLocked(b *blockInfo) bool {
	if b.complete {
		return true
	}
	r := c.replicas[b.id]
	if b.committed && r != nil && r.finalized && uint64(len(r.data)) == b.numBytes &&
		!c.cfg.now().Before(r.finalizedAt.Add(c.cfg.completeDelay)) {
		b.complete = true
	}
	return b.complete
}
