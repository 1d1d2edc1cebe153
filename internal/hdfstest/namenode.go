package hdfstest

import (
	"bufio"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// callCtx is what a handler knows about the call it serves.
type callCtx struct {
	user string // the effective user of the connection
}

// rpcMethod is an entry of the NameNode's method table.
type rpcMethod struct {
	req, resp string // full names of the request and response messages
	handle    func(c *Cluster, cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError)
}

// rpcMethods is the ClientProtocol subset the NameNode implements. Every
// other method is answered with RpcNoSuchMethodException.
var rpcMethods map[string]rpcMethod

func init() {
	rpcMethods = map[string]rpcMethod{
		"getFileInfo":            {"hadoop.hdfs.GetFileInfoRequestProto", "hadoop.hdfs.GetFileInfoResponseProto", (*Cluster).getFileInfo},
		"getServerDefaults":      {"hadoop.hdfs.GetServerDefaultsRequestProto", "hadoop.hdfs.GetServerDefaultsResponseProto", (*Cluster).getServerDefaults},
		"create":                 {"hadoop.hdfs.CreateRequestProto", "hadoop.hdfs.CreateResponseProto", (*Cluster).create},
		"addBlock":               {"hadoop.hdfs.AddBlockRequestProto", "hadoop.hdfs.AddBlockResponseProto", (*Cluster).addBlock},
		"abandonBlock":           {"hadoop.hdfs.AbandonBlockRequestProto", "hadoop.hdfs.AbandonBlockResponseProto", (*Cluster).abandonBlock},
		"updateBlockForPipeline": {"hadoop.hdfs.UpdateBlockForPipelineRequestProto", "hadoop.hdfs.UpdateBlockForPipelineResponseProto", (*Cluster).updateBlockForPipeline},
		"fsync":                  {"hadoop.hdfs.FsyncRequestProto", "hadoop.hdfs.FsyncResponseProto", (*Cluster).fsync},
		"complete":               {"hadoop.hdfs.CompleteRequestProto", "hadoop.hdfs.CompleteResponseProto", (*Cluster).complete},
		"rename":                 {"hadoop.hdfs.RenameRequestProto", "hadoop.hdfs.RenameResponseProto", (*Cluster).rename},
		"rename2":                {"hadoop.hdfs.Rename2RequestProto", "hadoop.hdfs.Rename2ResponseProto", (*Cluster).rename2},
		"getListing":             {"hadoop.hdfs.GetListingRequestProto", "hadoop.hdfs.GetListingResponseProto", (*Cluster).getListing},
		"getBlockLocations":      {"hadoop.hdfs.GetBlockLocationsRequestProto", "hadoop.hdfs.GetBlockLocationsResponseProto", (*Cluster).getBlockLocations},
		"mkdirs":                 {"hadoop.hdfs.MkdirsRequestProto", "hadoop.hdfs.MkdirsResponseProto", (*Cluster).mkdirs},
		"delete":                 {"hadoop.hdfs.DeleteRequestProto", "hadoop.hdfs.DeleteResponseProto", (*Cluster).delete},
		"renewLease":             {"hadoop.hdfs.RenewLeaseRequestProto", "hadoop.hdfs.RenewLeaseResponseProto", (*Cluster).renewLease},
		"recoverLease":           {"hadoop.hdfs.RecoverLeaseRequestProto", "hadoop.hdfs.RecoverLeaseResponseProto", (*Cluster).recoverLease},
		"setTimes":               {"hadoop.hdfs.SetTimesRequestProto", "hadoop.hdfs.SetTimesResponseProto", (*Cluster).setTimes},
		"setPermission":          {"hadoop.hdfs.SetPermissionRequestProto", "hadoop.hdfs.SetPermissionResponseProto", (*Cluster).setPermission},
		"setOwner":               {"hadoop.hdfs.SetOwnerRequestProto", "hadoop.hdfs.SetOwnerResponseProto", (*Cluster).setOwner},
		"getFsStats":             {"hadoop.hdfs.GetFsStatusRequestProto", "hadoop.hdfs.GetFsStatsResponseProto", (*Cluster).getFsStats},
		"getContentSummary":      {"hadoop.hdfs.GetContentSummaryRequestProto", "hadoop.hdfs.GetContentSummaryResponseProto", (*Cluster).getContentSummary},
	}
}

// serveNameNode accepts RPC connections on ln until it is closed.
func (c *Cluster) serveNameNode(ln net.Listener) {
	addr := ln.Addr().String()
	c.accept(ln, func(conn net.Conn) { c.serveRPCConn(addr, conn) })
}

// serveRPCConn serves one client connection: the preamble, the
// connection context, then calls answered in order until the client
// closes the connection or a fatal error.
func (c *Cluster) serveRPCConn(addr string, conn net.Conn) {
	br := bufio.NewReader(conn)
	auth, err := readPreamble(br)
	if err != nil {
		if !hangup(err) {
			c.cfg.logf("hdfstest: NameNode %s: %v", addr, err)
		}
		return
	}
	var authUser, authPrincipal string // with Kerberos, who authenticated
	switch {
	case c.cfg.krb != nil && auth == authNone:
		// Hadoop's Server.initializeAuthContext with SIMPLE disabled.
		c.cfg.logf("hdfstest: NameNode %s: refusing a SIMPLE client", addr)
		c.writeRPC(conn, &rpcCall{callID: saslCallID}, nil, authRefusal("SIMPLE"))
		return
	case c.cfg.krb != nil && auth == authSASL:
		authUser, authPrincipal, err = c.serveSASL(addr, conn, br)
		if err != nil {
			if !hangup(err) && err != errSASLRefused {
				c.cfg.logf("hdfstest: NameNode %s: %v", addr, err)
			}
			return
		}
	case auth != authNone:
		// Without WithKerberos, SASL is not offered.
		c.cfg.logf("hdfstest: NameNode %s: auth protocol %#x is not supported", addr, auth)
		c.writeRPC(conn, &rpcCall{callID: saslCallID}, nil, &remoteError{class: exAccessControl,
			msg: "hdfstest supports only SIMPLE authentication", code: "FATAL_UNAUTHORIZED", fatal: true})
		return
	}
	var cx *callCtx
	for {
		frame, err := readFrame(br, c.cfg.maxFrame)
		if err != nil {
			if !hangup(err) {
				c.cfg.logf("hdfstest: NameNode %s: %v", addr, err)
			}
			return
		}
		call, err := decodeCall(frame)
		if err != nil {
			c.cfg.logf("hdfstest: NameNode %s: bad request frame: %v", addr, err)
			if call == nil {
				call = &rpcCall{callID: -1}
			}
			c.writeRPC(conn, call, nil, fatalErr("FATAL_DESERIALIZING_REQUEST", "%v", err))
			return
		}
		switch {
		case call.callID == connectionContext:
			if cx != nil {
				c.writeRPC(conn, call, nil, fatalErr("FATAL_INVALID_RPC_HEADER", "connection context sent twice"))
				return
			}
			if p := getStr(call.context, "protocol"); p != clientProtocol {
				c.writeRPC(conn, call, nil, &remoteError{class: exNoSuchProtocol,
					msg: "Unknown protocol: " + p, code: "FATAL_UNKNOWN", fatal: true})
				return
			}
			cx = &callCtx{}
			if ui := getMsg(call.context, "userInfo"); ui != nil {
				cx.user = getStr(ui, "effectiveUser")
			}
			if authUser != "" {
				// The authenticated user; the context may name it (by its
				// principal or short name) or no one, but naming another
				// user would be impersonation, which needs proxy-user
				// rights that this NameNode grants no one.
				if cx.user != "" && cx.user != authUser && cx.user != authPrincipal {
					c.writeRPC(conn, call, nil, &remoteError{class: exAccessControl,
						msg: "User: " + authPrincipal + " is not allowed to impersonate " + cx.user, code: "FATAL_UNAUTHORIZED", fatal: true})
					return
				}
				cx.user = authUser
			}
			if cx.user == "" {
				c.writeRPC(conn, call, nil, &remoteError{class: exAccessControl,
					msg: "no effective user in the connection context", code: "FATAL_UNAUTHORIZED", fatal: true})
				return
			}
			continue
		case call.callID == pingCallID:
			continue
		case cx == nil:
			c.writeRPC(conn, call, nil, fatalErr("FATAL_INVALID_RPC_HEADER", "call before the connection context"))
			return
		case call.rpcOp == rpcOpClose:
			return
		}
		resp, rerr := c.dispatch(addr, cx, call)
		if rerr != nil && rerr.fatal {
			c.cfg.logf("hdfstest: NameNode %s: %s: %v", addr, call.method, rerr)
		}
		if !c.writeRPC(conn, call, resp, rerr) || rerr != nil && rerr.fatal {
			return
		}
	}
}

// writeRPC sends the response to call and reports whether it was sent.
func (c *Cluster) writeRPC(conn net.Conn, call *rpcCall, resp protoreflect.Message, rerr *remoteError) bool {
	frame, err := encodeResponse(call, resp, rerr)
	if err != nil {
		// A handler built an incomplete response: a bug here, reported to
		// the client as a server error rather than a hang.
		c.cfg.logf("hdfstest: encoding the %s response: %v", call.method, err)
		frame, err = encodeResponse(call, nil, &remoteError{class: exRPCServer,
			msg: "hdfstest: " + err.Error(), code: "ERROR_SERIALIZING_RESPONSE"})
		if err != nil {
			return false
		}
	}
	_, err = conn.Write(frame)
	return err == nil
}

// dispatch runs one call: the injected faults first, then the handler.
// A panic in a handler is answered as a server error.
func (c *Cluster) dispatch(addr string, cx *callCtx, call *rpcCall) (resp protoreflect.Message, rerr *remoteError) {
	if call.protocol != clientProtocol {
		return nil, &remoteError{class: exNoSuchProtocol, msg: "Unknown protocol: " + call.protocol, code: "ERROR_NO_SUCH_PROTOCOL"}
	}
	m, ok := rpcMethods[call.method]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rpcCounts[call.method]++
	if !ok {
		return nil, &remoteError{class: exNoSuchMethod,
			msg:  fmt.Sprintf("Unknown method %s called on %s protocol.", call.method, clientProtocol),
			code: "ERROR_NO_SUCH_METHOD"}
	}
	req, err := parse(m.req, call.body)
	if err != nil {
		return nil, fatalErr("FATAL_DESERIALIZING_REQUEST", "%s: %v", call.method, err)
	}
	if c.standby[addr] {
		return nil, javaErr(exStandby, "Operation category %s is not supported in state standby", category(call.method))
	}
	for i, f := range c.rpcFaults {
		if f.method != call.method {
			continue
		}
		if f.times > 0 {
			f.times--
			if f.times == 0 {
				c.rpcFaults = append(c.rpcFaults[:i:i], c.rpcFaults[i+1:]...)
			}
		}
		return nil, javaErr(f.class, "%s", f.msg)
	}
	c.expireLeasesLocked()
	defer func() {
		if p := recover(); p != nil {
			resp, rerr = nil, &remoteError{class: exRPCServer, msg: fmt.Sprintf("hdfstest: %s: %v", call.method, p), code: "ERROR_RPC_SERVER"}
		}
	}()
	return m.handle(c, cx, req)
}

// category returns the operation category a standby NameNode names.
func category(method string) string {
	switch method {
	case "getFileInfo", "getListing", "getBlockLocations", "getServerDefaults", "getFsStats", "getContentSummary":
		return "READ"
	}
	return "WRITE"
}

// splitHostPort returns the host and numeric port of addr.
func splitHostPort(addr string) (string, uint32) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.ParseUint(port, 10, 16)
	return host, uint32(p)
}

func (c *Cluster) getFileInfo(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	if err := c.checkLocked(cx, src, pathAccess{}); err != nil {
		return nil, err
	}
	n, err := c.lookupLocked(src)
	if err != nil {
		return nil, err
	}
	resp := newMsg("hadoop.hdfs.GetFileInfoResponseProto")
	if n != nil { // a missing file is an empty answer, not an error
		setField(resp, "fs", c.statusLocked(n, "", false))
	}
	return resp, nil
}

func (c *Cluster) getServerDefaults(*callCtx, *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	return build("hadoop.hdfs.GetServerDefaultsResponseProto",
		"serverDefaults", build(pbServerDefaults,
			"blockSize", c.cfg.blockSize,
			"bytesPerChecksum", bytesPerChecksum,
			"writePacketSize", 64<<10,
			"replication", c.cfg.replication,
			"fileBufferSize", 4096,
			"encryptDataTransfer", false,
			"trashInterval", 0,
			"checksumType", "CHECKSUM_CRC32C",
		)), nil
}

// CreateFlag bits (CreateFlagProto).
const (
	flagCreate    = 0x01
	flagOverwrite = 0x02
	flagAppend    = 0x04
)

func (c *Cluster) create(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	holder := getStr(req, "clientName")
	flag := getUint(req, "createFlag")
	blockSize := getUint(req, "blockSize")
	replication := getUint(req, "replication")
	perm := uint32(getUint(getMsg(req, "masked"), "perm"))
	parts, err := splitPath(src)
	if err != nil {
		return nil, err
	}
	switch {
	case flag&flagAppend != 0:
		return nil, javaErr(exUnsupported, "hdfstest does not implement append (create flag %#x)", flag)
	case flag&(flagCreate|flagOverwrite) == 0:
		return nil, javaErr(exIllegalArgument, "create flag %#x has neither CREATE nor OVERWRITE", flag)
	case blockSize == 0 || blockSize%bytesPerChecksum != 0:
		return nil, javaErr(exIO, "Invalid block size %d: it must be a positive multiple of %d", blockSize, bytesPerChecksum)
	case replication == 0 || replication > 512:
		return nil, javaErr(exIO, "Requested replication %d is out of range [1, 512]", replication)
	case len(parts) == 0:
		return nil, javaErr(exAlreadyExists, "/ already exists as a directory")
	}
	if holder == "" {
		return nil, javaErr(exIllegalArgument, "empty client name")
	}
	// FSDirWriteFileOp.resolvePathForStartFile: WRITE on the deepest
	// existing ancestor, and on the file it replaces.
	k := c.checkerLocked(cx.user)
	if err := c.checkPathLocked(k, parts, pathAccess{ancestor: actWrite}); err != nil {
		return nil, err
	}
	existing, _ := c.lookupLocked(src)
	if existing != nil && !existing.dir && flag&flagOverwrite != 0 {
		if err := c.checkPathLocked(k, parts, pathAccess{self: actWrite}); err != nil {
			return nil, err
		}
	}
	if existing != nil {
		switch {
		case existing.dir:
			return nil, javaErr(exAlreadyExists, "%s already exists as a directory", src)
		case existing.uc:
			if rerr := c.takeOverLocked(existing, holder, src); rerr != nil {
				return nil, rerr
			}
		}
		if flag&flagOverwrite == 0 {
			return nil, javaErr(exAlreadyExists, "%s for client 127.0.0.1 already exists", src)
		}
		c.removeLocked(existing)
	} else if flag&flagCreate == 0 {
		return nil, javaErr(exFileNotFound, "Can't overwrite non-existent %s", src)
	}
	parent, rerr := c.parentForCreateLocked(src, parts, getBool(req, "createParent"), 0o755, cx.user)
	if rerr != nil {
		return nil, rerr
	}
	n, rerr := c.newChildLocked(parent, parts[len(parts)-1], false, perm, cx.user)
	if rerr != nil {
		return nil, rerr
	}
	n.replication, n.blockSize = uint32(replication), blockSize
	n.uc, n.holder = true, holder
	c.leases[holder] = c.cfg.now()
	return build("hadoop.hdfs.CreateResponseProto", "fs", c.statusLocked(n, "", false)), nil
}

// takeOverLocked decides whether holder may replace or recover the file
// n that another writer has open (FSNamesystem.recoverLeaseInternal):
// only once that writer's lease is past the soft limit, when the file is
// recovered first; while the recovery takes (WithLeaseRecoveryDelay),
// the answer is a RecoveryInProgressException.
func (c *Cluster) takeOverLocked(n *inode, holder, src string) *remoteError {
	switch {
	case n.recovering:
		return javaErr(exRecoveryInProgress, "Failed to CREATE_FILE %s for %s on 127.0.0.1 because another recovery is in progress by %s on 127.0.0.1", src, holder, n.holder)
	case n.holder == holder:
		return javaErr(exAlreadyBeingCreated, "Failed to CREATE_FILE %s for %s on 127.0.0.1 because current leaseholder is trying to recreate file.", src, holder)
	case c.cfg.now().Sub(c.leases[n.holder]) <= c.cfg.softLimit:
		return javaErr(exAlreadyBeingCreated, "Failed to CREATE_FILE %s for %s on 127.0.0.1 because this file lease is currently owned by %s on 127.0.0.1", src, holder, n.holder)
	case !c.releaseLeaseLocked(n):
		return javaErr(exRecoveryInProgress, "Failed to CREATE_FILE %s for %s on 127.0.0.1 because lease recovery is in progress. Try again later.", src, holder)
	}
	return nil
}

// ucFileLocked returns the file a writer names by id (or by path when
// the id is 0), checking that it is under construction with holder's
// lease, as FSNamesystem.checkLease does.
func (c *Cluster) ucFileLocked(src string, fileID uint64, holder string) (*inode, *remoteError) {
	var n *inode
	if fileID != 0 {
		n = c.inodes[fileID]
	} else {
		var err *remoteError
		if n, err = c.lookupLocked(src); err != nil {
			return nil, err
		}
	}
	switch {
	case n == nil:
		return nil, javaErr(exFileNotFound, "File does not exist: %s (inode %d) Holder %s does not have any open files.", src, fileID, holder)
	case n.dir:
		return nil, javaErr(exFileNotFound, "Path is not a file: %s", src)
	case !n.uc:
		return nil, javaErr(exLeaseExpired, "No lease on %s (inode %d): File is not open for writing. Holder %s does not have any open files.", src, n.id, holder)
	case n.holder != holder:
		return nil, javaErr(exLeaseExpired, "Client (=%s) is not the lease owner (=%s)", holder, n.holder)
	}
	return n, nil
}

// commitLocked records the length a client reports for the block eb,
// which must be the block b. A block the DataNode has finalized with
// the same length becomes complete once it is reported
// (blockCompleteLocked).
func (c *Cluster) commitLocked(b *blockInfo, eb protoreflect.Message) *remoteError {
	if getStr(eb, "poolId") != c.poolID || getUint(eb, "blockId") != b.id || getUint(eb, "generationStamp") != b.gs {
		return javaErr(exIO, "block %s:blk_%d_%d is not the last block blk_%d_%d of the file",
			getStr(eb, "poolId"), getUint(eb, "blockId"), getUint(eb, "generationStamp"), b.id, b.gs)
	}
	l := getUint(eb, "numBytes")
	if b.committed && b.numBytes != l {
		return javaErr(exIO, "block blk_%d_%d was committed with %d bytes, now %d", b.id, b.gs, b.numBytes, l)
	}
	b.numBytes, b.committed = l, true
	c.blockCompleteLocked(b)
	return nil
}

func (c *Cluster) addBlock(_ *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src, holder := getStr(req, "src"), getStr(req, "clientName")
	n, rerr := c.ucFileLocked(src, getUint(req, "fileId"), holder)
	if rerr != nil {
		return nil, rerr
	}
	prev := getMsg(req, "previous")
	if k := len(n.blocks); k > 0 {
		last := n.blocks[k-1]
		if prev == nil {
			return nil, javaErr(exIO, "addBlock for %s without the previous block blk_%d_%d", src, last.id, last.gs)
		}
		if rerr := c.commitLocked(last, prev); rerr != nil {
			return nil, rerr
		}
		// The previous block may be only committed; the one before it must
		// be complete (FSNamesystem.checkFileProgress, with
		// dfs.namenode.file.close.num-committed-allowed 0).
		if k > 1 && !c.blockCompleteLocked(n.blocks[k-2]) {
			return nil, javaErr(exNotReplicatedYet, "Not replicated yet: %s", src)
		}
	} else if prev != nil {
		return nil, javaErr(exIO, "addBlock for %s names a previous block, but the file has none", src)
	}
	excluded := req.Get(field(req, "excludeNodes")).List()
	for i := range excluded.Len() {
		if getStr(getMsg(excluded.Get(i).Message(), "id"), "datanodeUuid") == c.dnUUID {
			return nil, javaErr(exIO, "File %s could only be written to 0 of the 1 minReplication nodes. "+
				"There are 1 datanode(s) running and 1 node(s) are excluded in this operation.", src)
		}
	}
	var offset uint64
	for _, b := range n.blocks {
		offset += b.numBytes
	}
	b := &blockInfo{id: c.nextBlock, gs: c.nextGS, file: n}
	c.nextBlock++
	c.nextGS++
	c.blocks[b.id] = b
	n.blocks = append(n.blocks, b)
	return build("hadoop.hdfs.AddBlockResponseProto", "block", c.locatedBlockLocked(b, offset, 0, b.gs)), nil
}

func (c *Cluster) abandonBlock(_ *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src, holder := getStr(req, "src"), getStr(req, "holder")
	n, rerr := c.ucFileLocked(src, getUint(req, "fileId"), holder)
	if rerr != nil {
		return nil, rerr
	}
	eb := getMsg(req, "b")
	if k := len(n.blocks); k > 0 && n.blocks[k-1].id == getUint(eb, "blockId") {
		b := n.blocks[k-1]
		n.blocks = n.blocks[:k-1]
		delete(c.blocks, b.id)
		delete(c.replicas, b.id)
	}
	return newMsg("hadoop.hdfs.AbandonBlockResponseProto"), nil
}

func (c *Cluster) updateBlockForPipeline(_ *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	eb := getMsg(req, "block")
	holder := getStr(req, "clientName")
	b := c.blocks[getUint(eb, "blockId")]
	switch {
	case b == nil || getStr(eb, "poolId") != c.poolID:
		return nil, javaErr(exIO, "Block %s:blk_%d does not exist.", getStr(eb, "poolId"), getUint(eb, "blockId"))
	case !b.file.uc:
		return nil, javaErr(exIO, "blk_%d_%d is not under Construction", b.id, b.gs)
	case b.file.holder != holder:
		return nil, javaErr(exLeaseExpired, "Client (=%s) is not the lease owner (=%s)", holder, b.file.holder)
	case getUint(eb, "generationStamp") != b.gs:
		return nil, javaErr(exIO, "blk_%d has generation stamp %d, not %d", b.id, b.gs, getUint(eb, "generationStamp"))
	}
	// Like the NameNode, hand out a new generation stamp for the pipeline
	// without changing the stored block: updatePipeline would commit it.
	gs := c.nextGS
	c.nextGS++
	var offset uint64
	for _, o := range b.file.blocks {
		if o == b {
			break
		}
		offset += o.numBytes
	}
	return build("hadoop.hdfs.UpdateBlockForPipelineResponseProto",
		"block", c.locatedBlockLocked(b, offset, getUint(eb, "numBytes"), gs)), nil
}

func (c *Cluster) fsync(_ *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	if _, rerr := c.ucFileLocked(getStr(req, "src"), getUint(req, "fileId"), getStr(req, "client")); rerr != nil {
		return nil, rerr
	}
	return newMsg("hadoop.hdfs.FsyncResponseProto"), nil
}

func (c *Cluster) complete(_ *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src, holder, fileID := getStr(req, "src"), getStr(req, "clientName"), getUint(req, "fileId")
	last := getMsg(req, "last")
	result := func(ok bool) protoreflect.Message {
		return build("hadoop.hdfs.CompleteResponseProto", "result", ok)
	}
	n, rerr := c.ucFileLocked(src, fileID, holder)
	if rerr != nil {
		// A retried complete of a file already closed succeeds if it names
		// the file's last block (FSNamesystem.completeFileInternal).
		if rerr.class == exLeaseExpired {
			f := c.inodes[fileID]
			if fileID == 0 {
				f, _ = c.lookupLocked(src)
			}
			if f != nil && !f.dir && !f.uc && sameLastBlock(f, last) {
				return result(true), nil
			}
		}
		return nil, rerr
	}
	k := len(n.blocks)
	switch {
	case last != nil && k == 0:
		return nil, javaErr(exIO, "complete of %s names a last block, but the file has none", src)
	case last != nil:
		if rerr := c.commitLocked(n.blocks[k-1], last); rerr != nil {
			return nil, rerr
		}
	}
	for _, b := range n.blocks {
		if !c.blockCompleteLocked(b) {
			return result(false), nil // not committed, or not yet stored with that length and reported
		}
	}
	if c.delayComplete > 0 {
		c.delayComplete--
		return result(false), nil
	}
	n.uc, n.holder = false, ""
	n.mtime = c.cfg.now()
	return result(true), nil
}

// sameLastBlock reports whether eb (possibly nil) names the last block of
// f (or f has none and eb is nil).
func sameLastBlock(f *inode, eb protoreflect.Message) bool {
	if len(f.blocks) == 0 || eb == nil {
		return len(f.blocks) == 0 && eb == nil
	}
	b := f.blocks[len(f.blocks)-1]
	return getUint(eb, "blockId") == b.id && getUint(eb, "generationStamp") == b.gs
}

// isAncestor reports whether a is b or one of b's ancestors.
func isAncestor(a, b *inode) bool {
	for m := b; m != nil; m = m.parent {
		if m == a {
			return true
		}
	}
	return false
}

func (c *Cluster) rename2(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src, dst := getStr(req, "src"), getStr(req, "dst")
	if err := c.checkRenameLocked(cx, src, dst); err != nil {
		return nil, err
	}
	if err := c.renameLocked(src, dst, getBool(req, "overwriteDest")); err != nil {
		return nil, err
	}
	return newMsg("hadoop.hdfs.Rename2ResponseProto"), nil
}

// renameLocked moves src to dst with the semantics of rename2
// (FSDirRenameOp.renameTo with options): dst's parent must exist, and an
// existing dst is replaced only with overwrite, only by the same kind of
// entry, and only if it is not a non-empty directory.
func (c *Cluster) renameLocked(src, dst string, overwrite bool) *remoteError {
	sparts, err := splitPath(src)
	if err != nil {
		return err
	}
	dparts, err := splitPath(dst)
	if err != nil {
		return err
	}
	s, _ := c.lookupLocked(src)
	switch {
	case s == nil:
		return javaErr(exFileNotFound, "rename source %s is not found.", src)
	case len(sparts) == 0:
		return javaErr(exIO, "rename source cannot be the root")
	case len(dparts) == 0:
		return javaErr(exIO, "rename destination cannot be the root")
	}
	parent, depth := c.walkLocked(dparts[:len(dparts)-1])
	switch {
	case !parent.dir:
		return javaErr(exParentNotDir, "rename destination parent %s is a file.", parent.path())
	case depth < len(dparts)-1:
		return javaErr(exFileNotFound, "rename destination parent %s not found.", path.Dir(dst))
	case isAncestor(s, parent):
		return javaErr(exIO, "Rename destination %s is a directory or file under source %s", dst, src)
	}
	name := dparts[len(dparts)-1]
	if len(name) > c.cfg.maxComponent {
		return c.checkNewLocked(parent, []string{name})
	}
	if parent != s.parent { // FSDirectory.verifyFsLimitsForRename
		if err := c.checkNewLocked(parent, []string{name}); err != nil {
			return err
		}
	}
	if d := parent.children[name]; d != nil {
		switch {
		case d == s:
			return javaErr(exAlreadyExists, "The source %s and destination %s are the same", src, dst)
		case !overwrite:
			return javaErr(exAlreadyExists, "rename destination %s already exists", dst)
		case d.dir && !s.dir:
			return javaErr(exIO, "Source %s and destination %s must both be files", src, dst)
		case !d.dir && s.dir:
			return javaErr(exIO, "Source %s and destination %s must both be directories", src, dst)
		case d.dir && len(d.children) > 0:
			return javaErr(exIO, "rename destination directory is not empty: %s", dst)
		}
		c.removeLocked(d)
	}
	delete(s.parent.children, s.name)
	now := c.cfg.now()
	s.parent.mtime = now
	s.name, s.parent = name, parent
	parent.children[name] = s
	parent.mtime = now
	return nil
}

func (c *Cluster) rename(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	// The old rename moves into an existing directory and answers false,
	// rather than an exception, when it cannot rename; permissions and
	// limits are still exceptions.
	src, dst := getStr(req, "src"), getStr(req, "dst")
	ok := func(b bool) protoreflect.Message { return build("hadoop.hdfs.RenameResponseProto", "result", b) }
	if _, err := splitPath(src); err != nil {
		return nil, err
	}
	d, err := c.lookupLocked(dst)
	if err != nil {
		return nil, err
	}
	if d != nil && d.dir {
		dst = path.Join(dst, path.Base(src))
	}
	if err := c.checkRenameLocked(cx, src, dst); err != nil {
		return nil, err
	}
	if d != nil {
		if !d.dir {
			return ok(false), nil
		}
		if d2, _ := c.lookupLocked(dst); d2 != nil {
			return ok(false), nil
		}
	}
	switch err := c.renameLocked(src, dst, false); {
	case err == nil:
		return ok(true), nil
	case err.class == exPathComponentTooLong || err.class == exMaxDirectoryItems:
		return nil, err
	}
	return ok(false), nil
}

// checkRenameLocked checks the permissions of a rename
// (FSDirRenameOp.renameToInt): WRITE on the source's parent, under its
// sticky bit, and on the deepest existing ancestor of the destination;
// an existing destination, which the rename would replace, is under its
// parent's sticky bit too, as in POSIX rename.
func (c *Cluster) checkRenameLocked(cx *callCtx, src, dst string) *remoteError {
	k := c.checkerLocked(cx.user)
	if k.skip() {
		return nil
	}
	sparts, err := splitPath(src)
	if err != nil {
		return err
	}
	dparts, err := splitPath(dst)
	if err != nil {
		return err
	}
	if err := c.checkPathLocked(k, sparts, pathAccess{parent: actWrite}); err != nil {
		return err
	}
	if err := c.checkPathLocked(k, dparts, pathAccess{ancestor: actWrite}); err != nil {
		return err
	}
	if nodes := c.resolveLocked(dparts); len(dparts) > 0 && nodes[len(dparts)] != nil {
		return k.checkSticky(nodes[len(dparts)-1], nodes[len(dparts)], dparts)
	}
	return nil
}

func (c *Cluster) getListing(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	startAfter := getStr(req, "startAfter")
	needLocation := getBool(req, "needLocation")
	n, err := c.lookupLocked(src)
	if err != nil {
		return nil, err
	}
	// READ_EXECUTE on a directory listed, traverse only for a file.
	a := pathAccess{}
	if n != nil && n.dir {
		a.self = actRead | actExecute
	}
	if err := c.checkLocked(cx, src, a); err != nil {
		return nil, err
	}
	resp := newMsg("hadoop.hdfs.GetListingResponseProto")
	if n == nil {
		return resp, nil // no dirList: the path does not exist
	}
	var entries []any
	remaining := 0
	if !n.dir {
		entries = append(entries, c.statusLocked(n, "", needLocation))
	} else {
		children := n.sortedChildren()
		i := 0
		for i < len(children) && children[i].name <= startAfter {
			i++
		}
		for ; i < len(children); i++ {
			if len(entries) == c.cfg.listingLimit {
				remaining = len(children) - i
				break
			}
			entries = append(entries, c.statusLocked(children[i], children[i].name, needLocation))
		}
	}
	setField(resp, "dirList", build(pbDirListing, "partialListing", entries, "remainingEntries", remaining))
	return resp, nil
}

func (c *Cluster) getBlockLocations(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	if err := c.checkLocked(cx, src, pathAccess{}); err != nil {
		return nil, err
	}
	n, err := c.lookupLocked(src)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, javaErr(exFileNotFound, "File does not exist: %s", src)
	case n.dir:
		return nil, javaErr(exFileNotFound, "Path is not a file: %s", src)
	}
	if err := c.checkLocked(cx, src, pathAccess{self: actRead}); err != nil {
		return nil, err
	}
	n.atime = c.cfg.now()
	return build("hadoop.hdfs.GetBlockLocationsResponseProto",
		"locations", c.locatedBlocksLocked(n, getUint(req, "offset"), getUint(req, "length"))), nil
}

func (c *Cluster) mkdirs(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	parts, err := splitPath(src)
	if err != nil {
		return nil, err
	}
	perm := uint32(getUint(getMsg(req, "masked"), "perm"))
	ok := build("hadoop.hdfs.MkdirsResponseProto", "result", true)
	k := c.checkerLocked(cx.user)
	if err := c.checkPathLocked(k, parts, pathAccess{}); err != nil {
		return nil, err
	}
	n, depth := c.walkLocked(parts)
	if depth < len(parts) && n.dir {
		// FSDirMkdirOp.mkdirs: WRITE on the deepest existing ancestor.
		if err := c.checkPathLocked(k, parts, pathAccess{ancestor: actWrite}); err != nil {
			return nil, err
		}
	}
	switch {
	case depth == len(parts) && n.dir:
		return ok, nil
	case depth == len(parts):
		return nil, javaErr(exAlreadyExists, "Path is not a directory: %s", src)
	case !n.dir:
		return nil, javaErr(exParentNotDir, "Parent path is not a directory: %s", n.path())
	case depth < len(parts)-1 && !getBool(req, "createParent"):
		return nil, javaErr(exFileNotFound, "Parent directory doesn't exist: %s", path.Dir(src))
	}
	if err := c.checkNewLocked(n, parts[depth:]); err != nil {
		return nil, err
	}
	for i, e := range parts[depth:] {
		p := perm | 0o300 // implicit parents get u+wx, as in HDFS
		if depth+i == len(parts)-1 {
			p = perm
		}
		if n, err = c.newChildLocked(n, e, true, p, cx.user); err != nil {
			return nil, err
		}
	}
	return ok, nil
}

func (c *Cluster) delete(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	result := func(ok bool) protoreflect.Message { return build("hadoop.hdfs.DeleteResponseProto", "result", ok) }
	// FSDirDeleteOp.delete: WRITE on the parent, under its sticky bit, and
	// ALL on every non-empty directory of the subtree.
	if err := c.checkLocked(cx, src, pathAccess{parent: actWrite, sub: actAll, ignoreEmpty: true}); err != nil {
		return nil, err
	}
	n, err := c.lookupLocked(src)
	switch {
	case err != nil:
		return nil, err
	case n == nil || n == c.root:
		return result(false), nil // nothing to delete; the root is never deleted
	case n.dir && len(n.children) > 0 && !getBool(req, "recursive"):
		return nil, javaErr(exNotEmpty, "`%s is non empty': Directory is not empty", src)
	}
	c.removeLocked(n) // an open file may be deleted: its writer's next call fails
	return result(true), nil
}

func (c *Cluster) renewLease(_ *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	c.leases[getStr(req, "clientName")] = c.cfg.now()
	return newMsg("hadoop.hdfs.RenewLeaseResponseProto"), nil
}

func (c *Cluster) recoverLease(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	if err := c.checkLocked(cx, src, pathAccess{}); err != nil {
		return nil, err
	}
	n, err := c.lookupLocked(src)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, javaErr(exFileNotFound, "File not found %s", src)
	case n.dir:
		return nil, javaErr(exFileNotFound, "Path is not a file: %s", src)
	}
	result := func(ok bool) protoreflect.Message {
		return build("hadoop.hdfs.RecoverLeaseResponseProto", "result", ok)
	}
	if !n.uc {
		return result(true), nil
	}
	if err := c.checkLocked(cx, src, pathAccess{self: actWrite}); err != nil {
		return nil, err
	}
	// True when the file could be closed at once; false while its last
	// block is recovered (WithLeaseRecoveryDelay): the caller polls.
	return result(c.releaseLeaseLocked(n)), nil
}

// existingLocked returns the inode at src or a FileNotFoundException.
func (c *Cluster) existingLocked(src string) (*inode, *remoteError) {
	n, err := c.lookupLocked(src)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, javaErr(exFileNotFound, "File does not exist: %s", src)
	}
	return n, nil
}

func (c *Cluster) setTimes(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	if err := c.checkLocked(cx, src, pathAccess{}); err != nil {
		return nil, err
	}
	n, err := c.existingLocked(src)
	if err != nil {
		return nil, err
	}
	if err := c.checkLocked(cx, src, pathAccess{self: actWrite}); err != nil {
		return nil, err
	}
	// -1 (all bits set in the uint64 field) leaves a time unchanged.
	if mt := getUint(req, "mtime"); mt != ^uint64(0) {
		n.mtime = millis(mt)
	}
	if at := getUint(req, "atime"); at != ^uint64(0) {
		n.atime = millis(at)
	}
	return newMsg("hadoop.hdfs.SetTimesResponseProto"), nil
}

func (c *Cluster) setPermission(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	if err := c.checkLocked(cx, src, pathAccess{}); err != nil {
		return nil, err
	}
	n, err := c.existingLocked(src)
	if err != nil {
		return nil, err
	}
	if err := c.checkLocked(cx, src, pathAccess{owner: true}); err != nil {
		return nil, err
	}
	n.perm = uint32(getUint(getMsg(req, "permission"), "perm")) & 0o1777
	return newMsg("hadoop.hdfs.SetPermissionResponseProto"), nil
}

func (c *Cluster) setOwner(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "src")
	if err := c.checkLocked(cx, src, pathAccess{}); err != nil {
		return nil, err
	}
	n, err := c.existingLocked(src)
	if err != nil {
		return nil, err
	}
	// An empty name (the colinmarc client sends one for "unchanged")
	// changes nothing.
	owner, group := getStr(req, "username"), getStr(req, "groupname")
	// FSDirAttrOp.setOwner: the owner (or the superuser) may give a file
	// to a group it belongs to; only the superuser may give it away.
	if err := c.checkLocked(cx, src, pathAccess{owner: true}); err != nil {
		return nil, err
	}
	if k := c.checkerLocked(cx.user); !k.skip() {
		switch {
		case owner != "" && owner != k.user:
			return nil, javaErr(exAccessControl, "User %s is not a super user (non-super user cannot change owner).", k.user)
		case group != "" && !slices.Contains(k.groups, group):
			return nil, javaErr(exAccessControl, "User %s does not belong to %s", k.user, group)
		}
	}
	if owner != "" {
		n.owner = owner
	}
	if group != "" {
		n.group = group
	}
	return newMsg("hadoop.hdfs.SetOwnerResponseProto"), nil
}

// checkLocked checks the caller's access to src (see pathAccess). An
// invalid path passes: the call itself reports it.
func (c *Cluster) checkLocked(cx *callCtx, src string, a pathAccess) *remoteError {
	parts, err := splitPath(src)
	if err != nil {
		return nil
	}
	return c.checkPathLocked(c.checkerLocked(cx.user), parts, a)
}

func (c *Cluster) getFsStats(*callCtx, *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	var used uint64
	for _, r := range c.replicas {
		used += uint64(len(r.data))
	}
	const capacity = 1 << 40
	return build("hadoop.hdfs.GetFsStatsResponseProto",
		"capacity", capacity, "used", used, "remaining", capacity-used,
		"under_replicated", 0, "corrupt_blocks", 0, "missing_blocks", 0), nil
}

func (c *Cluster) getContentSummary(cx *callCtx, req *dynamicpb.Message) (protoreflect.Message, *remoteError) {
	src := getStr(req, "path")
	// READ_EXECUTE on every directory of the subtree.
	if err := c.checkLocked(cx, src, pathAccess{sub: actRead | actExecute}); err != nil {
		return nil, err
	}
	n, err := c.existingLocked(src)
	if err != nil {
		return nil, err
	}
	var length, files, dirs uint64
	var walk func(*inode)
	walk = func(m *inode) {
		if m.dir {
			dirs++
			for _, child := range m.children {
				walk(child)
			}
			return
		}
		files++
		length += c.fileLengthLocked(m)
	}
	walk(n)
	return build("hadoop.hdfs.GetContentSummaryResponseProto", "summary", build(pbContentSummary,
		"length", length, "fileCount", files, "directoryCount", dirs,
		"quota", -1, "spaceConsumed", length, "spaceQuota", -1)), nil
}

// millis converts milliseconds since the epoch to a time.
func millis(ms uint64) time.Time { return time.UnixMilli(int64(ms)) }
