// Package hdfstest is an in-process HDFS for tests: a NameNode and a
// DataNode written in Go that speak Hadoop's real wire protocols, so that
// the unmodified github.com/colinmarc/hdfs/v2 client (and code built on
// it) can be tested without a Hadoop installation.
//
//	c := hdfstest.New(t, hdfstest.WithBlockSize(256<<10))
//	home, err := c.AddUser("etl") // /user/etl, owned by etl
//	client, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "etl"})
//
// # What is implemented
//
// The NameNode listens on a loopback port and speaks Hadoop RPC version 9:
// the "hrpc" preamble with SIMPLE authentication (or SASL GSSAPI, see
// Kerberos), length-prefixed frames of
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
// stored with its committed length and reported, see WithCompleteDelay),
// rename (the old one), rename2 (with overwriteDest), getListing (paged
// by startAfter, see WithListingLimit), getBlockLocations, mkdirs, delete
// (recursive or not), renewLease, recoverLease, setTimes, setPermission,
// setOwner, getFsStats and getContentSummary. Leases have soft and hard
// limits (WithLeaseLimits): past the soft limit another client may take a
// file over, past the hard limit the NameNode recovers it; recovering a
// file whose last block holds uncommitted data takes
// WithLeaseRecoveryDelay, during which create over it fails with
// RecoveryInProgressException and recoverLease answers false.
//
// # Users and permissions
//
// Permissions are checked as a NameNode with dfs.permissions.enabled
// does (WithPermissions(false) turns them off), after Hadoop's
// FSPermissionChecker: the caller is the effective user of the
// connection context (with SIMPLE authentication, the client's
// ClientOptions.User, or $HADOOP_USER_NAME); the superuser is the user
// the NameNode runs as, "hdfs" (WithSuperuser), and any member of
// "supergroup" (WithSupergroup); a user's groups are what SetGroups gave
// it, none by default, as for a user without an account on the
// NameNode's host. A refusal is an
// org.apache.hadoop.security.AccessControlException whose message is
// Hadoop's, naming the user, the access and the inode that refused it:
//
//	Permission denied: user=alice, access=WRITE, inode="/user/bob":bob:supergroup:drwxr-xr-x
//
// Every call needs EXECUTE on each existing ancestor of its path;
// create and mkdirs need WRITE on the deepest existing ancestor, and
// create with OVERWRITE WRITE on the file it replaces; getBlockLocations
// (open) needs READ on the file, getListing READ and EXECUTE on the
// directory, getContentSummary READ and EXECUTE on every directory under
// the path; delete needs WRITE on the parent and, recursively, ALL on
// every non-empty directory under the path; rename needs WRITE on the
// source's parent and on the deepest existing ancestor of the
// destination; in a directory with the sticky bit (as /tmp) only the
// owner of an entry, or of the directory, may delete it, rename it or
// rename over it. setPermission and setOwner are the owner's, and only
// the superuser may give a file to another user, or to a group its owner
// is not a member of; setTimes and recoverLease need WRITE on the file.
// The superuser passes every check. New files and directories belong to
// their creator, with the group of their parent directory and the mode
// the client asks for (the client applies its umask, as Hadoop's does;
// colinmarc's applies none).
//
// The namespace starts as a deployment's does, with /tmp (1777) and /user
// (0755) owned by the superuser (WithEmptyNamespace starts with "/"
// only). Tests lay out what an administrator would as the superuser:
// AddUser makes a user's home directory, /user/<name>, owned by the
// user; Mkdir makes any directory with its owner, group and mode, such as
// a shared /warehouse given to a job's user.
//
// The NameNode's limits are Hadoop's: a name longer than 255 UTF-8 bytes
// (WithMaxComponentLength) fails with
// FSLimitException$PathComponentTooLongException, and a directory of
// 1,048,576 entries (WithMaxDirectoryItems) takes no more, with
// FSLimitException$MaxDirectoryItemsExceededException. WithClockOffset
// sets the NameNode's clock ahead of or behind the clients'.
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
// # Kerberos
//
// WithKerberos(keytab, "nn/127.0.0.1@REALM") makes the NameNode a
// Kerberized one, as hadoop.security.authentication=kerberos with
// hadoop.rpc.protection=authentication. A client whose preamble asks for
// SIMPLE authentication (auth byte 0) is answered, on call id -33, with
// status FATAL and org.apache.hadoop.security.AccessControlException
// "SIMPLE authentication is not enabled.  Available:[KERBEROS]", and the
// connection is closed (Hadoop lists TOKEN too; this NameNode issues no
// delegation tokens). A SASL client (auth byte 0xDF) negotiates with
// RpcSaslProto messages on call id -33: its NEGOTIATE is answered with
// one auth, method KERBEROS, mechanism GSSAPI, protocol and serverId the
// service principal's two components ("nn", "127.0.0.1"); its INITIATE
// carries the RFC 1964 KRB5 token holding an AP-REQ, verified with the
// keytab (gokrb5's service.VerifyAPREQ, PACs not decoded); the CHALLENGE
// is the RFC 4752 security-layer offer, an acceptor wrap token (RFC 4121,
// under the ticket's session key) whose payload offers only "no security
// layer" (QOP authentication) with a 64 KiB maximum; the client's
// RESPONSE must be an initiator wrap token choosing it; then SUCCESS. An
// INITIATE of another method (SIMPLE) is refused like a SIMPLE preamble;
// a bad token, a ticket the keytab cannot decrypt or another failure is a
// FATAL_UNAUTHORIZED AccessControlException ("GSS initiate failed: ...").
// The connection's user is the short name of the client's principal
// (alice for alice@REALM and alice/host@REALM), Hadoop's auth_to_local
// DEFAULT rule; principals of other realms are refused ("No rules applied
// to ..."). The connection context may name the principal, its short name
// or no one; naming another user is impersonation, which no one may do.
//
// Not implemented with Kerberos: mutual authentication (an AP-REQ asking
// for it, and so an AP-REP, is refused; colinmarc's client never asks),
// the integrity and privacy QOPs (wrapped RPCs), delegation tokens
// (TOKEN/DIGEST-MD5), proxy users, and DataNode data-transfer SASL
// (dfs.data.transfer.protection, keyed by block tokens): the DataNode
// serves any client as without Kerberos.
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
// SASL beyond Kerberos authentication (see Kerberos: delegation and block
// tokens, wrapped QOPs, data transfer encryption),
// append and truncate, pipelines of more than one DataNode and pipeline
// recovery (updatePipeline), snapshots, extended attributes, ACLs (and
// the umask of default ACLs), encryption zones, erasure coding, quotas,
// symbolic links, block and DataNode permission checks (block tokens), and
// persistence: the namespace lives in memory and is gone when the Cluster
// is closed.
package hdfstest
