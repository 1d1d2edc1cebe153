// Package hdfstest is an in-process HDFS for tests: a NameNode and a
// DataNode written in Go that speak Hadoop's real wire protocols, so that
// the unmodified github.com/colinmarc/hdfs/v2 client (and code built on
// it) can be tested without a Hadoop installation.
//
//	c := hdfstest.New(t, hdfstest.WithBlockSize(256<<10))
//	client, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "test"})
//
// # What is implemented
//
// The NameNode listens on a loopback port and speaks Hadoop RPC version 9:
// the "hrpc" preamble with SIMPLE authentication, length-prefixed frames of
// varint-delimited RpcRequestHeaderProto, RequestHeaderProto and request
// messages, the IpcConnectionContextProto (call id -3) that names the
// user, pings (call id -4), and RpcResponseHeaderProto answers that carry
// exceptions by Java class name (java.io.FileNotFoundException,
// org.apache.hadoop.fs.FileAlreadyExistsException, ...), which the client
// maps to Go errors. A malformed frame gets a FATAL answer and the
// connection is closed, as in Hadoop; an unknown method gets
// org.apache.hadoop.ipc.RpcNoSuchMethodException.
//
// It implements these ClientProtocol methods over an in-memory namespace
// (directories, files, blocks, permissions, owner and group, modification
// and access times) with leases: getFileInfo, getServerDefaults, create
// (CREATE and OVERWRITE flags, createParent), addBlock, abandonBlock,
// updateBlockForPipeline, fsync, complete (false until every block is
// stored with its committed length), rename (the old one), rename2 (with
// overwriteDest), getListing (paged by startAfter, see WithListingLimit),
// getBlockLocations, mkdirs, delete (recursive or not), renewLease,
// recoverLease, setTimes, setPermission, setOwner, getFsStats and
// getContentSummary. Leases have soft and hard limits (WithLeaseLimits):
// past the soft limit another client may take a file over, past the hard
// limit the NameNode closes it.
//
// The DataNode speaks DataTransferProtocol version 28: block writes (op
// 0x50, PIPELINE_SETUP_CREATE) whose packets are checked (sequence numbers,
// offsets, lengths, CRC32C or CRC32 chunk checksums) and acknowledged with
// PipelineAckProto, block reads (op 0x51) with ReadOpChecksumInfoProto and
// chunk-aligned packets carrying CRC32C checksums, and block checksums (op
// 0x55).
//
// Every message is built and parsed with dynamicpb from the descriptors
// the client package registers in the global protobuf registry: this
// package has no generated code, and proto2 required fields are enforced
// both ways.
//
// # Faults
//
// InjectRPCError fails calls of a method with a chosen Java exception
// (StandbyException, AccessControlException, ...); SetStandby with
// AddNameNode models an HA pair; DelayComplete makes complete answer
// false so that clients see ErrReplicating; DropDataNodeConnection cuts a
// block write or read in the middle. OpenFiles lists the files still
// under construction, to catch leaked writers.
//
// # What is not implemented
//
// SASL (Kerberos, delegation and block tokens, data transfer encryption),
// append and truncate, pipelines of more than one DataNode and pipeline
// recovery (updatePipeline), snapshots, extended attributes, ACLs,
// encryption zones, erasure coding, quotas, symbolic links, permission
// checks (every user may do everything) and persistence: the namespace
// lives in memory and is gone when the Cluster is closed.
package hdfstest
