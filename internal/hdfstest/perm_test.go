package hdfstest

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Request builders for the permission tests.

func mkdirsReq(src string, perm uint32) *dynamicpb.Message {
	return build("hadoop.hdfs.MkdirsRequestProto", "src", src, "masked", build(pbPermission, "perm", perm), "createParent", true)
}

func deleteReq(src string, recursive bool) *dynamicpb.Message {
	return build("hadoop.hdfs.DeleteRequestProto", "src", src, "recursive", recursive)
}

func rename2Req(src, dst string) *dynamicpb.Message {
	return build("hadoop.hdfs.Rename2RequestProto", "src", src, "dst", dst, "overwriteDest", true)
}

func listingReq(src string) *dynamicpb.Message {
	return build("hadoop.hdfs.GetListingRequestProto", "src", src, "startAfter", "", "needLocation", false)
}

// wantResult checks that hdr reports the exception class with exactly the
// message msg, or success when class is "".
func wantResult(t *testing.T, what string, hdr *dynamicpb.Message, class, msg string) {
	t.Helper()
	gotClass, gotMsg := "", ""
	if getInt(hdr, "status") != 0 {
		gotClass, gotMsg = getStr(hdr, "exceptionClassName"), getStr(hdr, "errorMsg")
	}
	if gotClass != class || gotMsg != msg {
		t.Errorf("%s:\n got  %q %q\n want %q %q", what, gotClass, gotMsg, class, msg)
	}
}

// permFixture is a cluster laid out as a deployment, with raw
// connections for its users:
//
//	/user/alice        alice:supergroup drwxr-xr-x
//	/user/alice/ro     alice:supergroup dr-xr-xr-x
//	/user/alice/tree   alice:supergroup drwxr-xr-x, with bobs (bob's, holding a file) and empty (bob's, empty)
//	/user/bob          bob:supergroup   drwx------, with data/f (bob's)
//	/user/carol        carol:supergroup drwxr-xr-x, with secret (carol's, -rw-------)
//	/shared            hdfs:analysts    drwxrwx---; carol is an analyst
//	/tmp               hdfs:supergroup  drwxrwxrwt, with bobfile, bobopen (being written) and alicefile
type permFixture struct {
	c     *Cluster
	conns map[string]*rawConn
}

func newPermFixture(t *testing.T, opts ...Option) *permFixture {
	t.Helper()
	c := New(t, opts...)
	f := &permFixture{c: c, conns: map[string]*rawConn{}}
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := c.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	c.SetGroups("carol", "analysts")
	c.SetGroups("dave", "staff", "supergroup")
	for _, d := range []struct {
		p            string
		perm         fs.FileMode
		owner, group string
	}{
		{"/user/bob", 0o700, "bob", ""},
		{"/user/alice/ro", 0o555, "alice", ""},
		{"/user/alice/tree", 0o755, "alice", ""},
		{"/user/alice/tree/bobs", 0o755, "bob", ""},
		{"/user/alice/tree/empty", 0o755, "bob", ""},
		{"/shared", 0o770, "hdfs", "analysts"},
	} {
		if err := c.Mkdir(d.p, d.perm, d.owner, d.group); err != nil {
			t.Fatal(err)
		}
	}
	bob := f.as(t, "bob")
	bob.mustCall("mkdirs", mkdirsReq("/user/bob/data", 0o755))
	for _, p := range []string{"/user/bob/data/f", "/tmp/bobfile", "/user/alice/tree/bobs/f"} {
		bob.mustCall("create", createReq(p, "bob-client", flagCreate, false))
		bob.mustCall("complete", build("hadoop.hdfs.CompleteRequestProto", "src", p, "clientName", "bob-client"))
	}
	bob.mustCall("create", createReq("/tmp/bobopen", "bob-client", flagCreate, false))
	alice := f.as(t, "alice")
	alice.mustCall("create", createReq("/tmp/alicefile", "alice-client", flagCreate, false))
	alice.mustCall("complete", build("hadoop.hdfs.CompleteRequestProto", "src", "/tmp/alicefile", "clientName", "alice-client"))
	carol := f.as(t, "carol")
	carol.mustCall("create", build("hadoop.hdfs.CreateRequestProto", "src", "/user/carol/secret",
		"masked", build(pbPermission, "perm", 0o600), "clientName", "carol-client", "createFlag", flagCreate,
		"createParent", false, "replication", 1, "blockSize", 64<<10))
	carol.mustCall("complete", build("hadoop.hdfs.CompleteRequestProto", "src", "/user/carol/secret", "clientName", "carol-client"))
	return f
}

// as returns the raw connection of user.
func (f *permFixture) as(t *testing.T, user string) *rawConn {
	t.Helper()
	if r := f.conns[user]; r != nil {
		return r
	}
	r := dialRaw(t, f.c.Addr(), authNone, user)
	f.conns[user] = r
	return r
}

// TestPermissions checks each rule of FSPermissionChecker the NameNode
// applies, allowed and denied, with Hadoop's exception and message.
func TestPermissions(t *testing.T) {
	f := newPermFixture(t)
	const ace = exAccessControl
	denied := func(user, access, inode string) string {
		return "Permission denied: user=" + user + ", access=" + access + ", inode=" + inode
	}
	const (
		bobHome   = `"/user/bob":bob:supergroup:drwx------`
		carolHome = `"/user/carol":carol:supergroup:drwxr-xr-x`
		tmp       = `"/tmp":hdfs:supergroup:drwxrwxrwt`
		bobFile   = `"/tmp/bobfile":bob:supergroup:-rw-r--r--`
	)
	tests := []struct {
		name   string
		user   string
		method string
		req    protoreflect.Message
		class  string
		msg    string
	}{
		// Traverse: EXECUTE on every ancestor.
		{"stat in another's 0700 home", "alice", "getFileInfo", fileInfoReq("/user/bob/data"), ace, denied("alice", "EXECUTE", bobHome)},
		{"stat of another's 0700 home", "alice", "getFileInfo", fileInfoReq("/user/bob"), "", ""},
		{"stat by its owner", "bob", "getFileInfo", fileInfoReq("/user/bob/data/f"), "", ""},
		{"create in another's 0700 home", "alice", "create", createReq("/user/bob/x", "alice-client", flagCreate, false),
			ace, denied("alice", "EXECUTE", bobHome)},
		// Create and mkdirs: WRITE on the deepest existing ancestor.
		{"create in another's 0755 home", "alice", "create", createReq("/user/carol/x", "alice-client", flagCreate, false),
			ace, denied("alice", "WRITE", carolHome)},
		{"create with parents in another's 0755 home", "alice", "create", createReq("/user/carol/a/b/x", "alice-client", flagCreate, true),
			ace, denied("alice", "WRITE", carolHome)},
		{"mkdirs in another's 0755 home", "alice", "mkdirs", mkdirsReq("/user/carol/a/b", 0o755), ace, denied("alice", "WRITE", carolHome)},
		{"mkdirs of an existing directory", "alice", "mkdirs", mkdirsReq("/user/carol", 0o755), "", ""},
		{"mkdirs at the root", "alice", "mkdirs", mkdirsReq("/warehouse", 0o755), ace, denied("alice", "WRITE", `"/":hdfs:supergroup:drwxr-xr-x`)},
		{"create in own read-only directory", "alice", "create", createReq("/user/alice/ro/x", "alice-client", flagCreate, false),
			ace, denied("alice", "WRITE", `"/user/alice/ro":alice:supergroup:dr-xr-xr-x`)},
		{"create in own home", "alice", "create", createReq("/user/alice/x", "alice-client", flagCreate, false), "", ""},
		{"create in /tmp", "alice", "create", createReq("/tmp/a/x", "alice-client", flagCreate, true), "", ""},
		// Overwriting a file needs WRITE on it.
		{"overwrite of another's file", "alice", "create", createReq("/tmp/bobfile", "alice-client", flagCreate|flagOverwrite, false),
			ace, denied("alice", "WRITE", bobFile)},
		{"create without overwrite of another's file", "alice", "create", createReq("/tmp/bobfile", "alice-client", flagCreate, false),
			exAlreadyExists, "/tmp/bobfile for client 127.0.0.1 already exists"},
		// Group and others.
		{"create in a group directory, as a member", "carol", "create", createReq("/shared/x", "carol-client", flagCreate, false), "", ""},
		{"create in a group directory, not a member", "alice", "create", createReq("/shared/x2", "alice-client", flagCreate, false),
			ace, denied("alice", "EXECUTE", `"/shared":hdfs:analysts:drwxrwx---`)},
		// Reads and listings.
		{"read of another's 0600 file", "alice", "getBlockLocations", build("hadoop.hdfs.GetBlockLocationsRequestProto",
			"src", "/user/carol/secret", "offset", 0, "length", 1), ace, denied("alice", "READ", `"/user/carol/secret":carol:supergroup:-rw-------`)},
		{"read of another's 0644 file", "alice", "getBlockLocations", build("hadoop.hdfs.GetBlockLocationsRequestProto",
			"src", "/tmp/bobfile", "offset", 0, "length", 1), "", ""},
		{"listing of another's 0700 home", "alice", "getListing", listingReq("/user/bob"), ace, denied("alice", "READ_EXECUTE", bobHome)},
		{"listing of another's 0755 home", "alice", "getListing", listingReq("/user/carol"), "", ""},
		{"content summary of another's 0700 home", "alice", "getContentSummary", build("hadoop.hdfs.GetContentSummaryRequestProto",
			"path", "/user/bob"), ace, denied("alice", "READ_EXECUTE", bobHome)},
		// Delete: WRITE on the parent, the sticky bit, ALL on the subtree.
		{"delete in another's 0755 home", "alice", "delete", deleteReq("/user/carol/secret", false), ace, denied("alice", "WRITE", carolHome)},
		{"delete of another's file in sticky /tmp", "alice", "delete", deleteReq("/tmp/bobfile", false), ace,
			"Permission denied by sticky bit: user=alice, path=" + bobFile + ", parent=" + tmp},
		{"recursive delete over another's non-empty directory", "alice", "delete", deleteReq("/user/alice/tree", true), ace,
			denied("alice", "ALL", `"/user/alice/tree/bobs":bob:supergroup:drwxr-xr-x`)},
		{"delete of another's empty directory in own home", "alice", "delete", deleteReq("/user/alice/tree/empty", true), "", ""},
		{"delete of own file in sticky /tmp", "bob", "delete", deleteReq("/tmp/bobfile", false), "", ""},
		// Rename: WRITE on both parents, the sticky bit on both.
		{"rename of another's file out of sticky /tmp", "alice", "rename2", rename2Req("/tmp/bobopen", "/user/alice/taken"), ace,
			"Permission denied by sticky bit: user=alice, path=" + `"/tmp/bobopen":bob:supergroup:-rw-r--r--` + ", parent=" + tmp},
		{"rename over another's file in sticky /tmp", "alice", "rename2", rename2Req("/tmp/alicefile", "/tmp/bobopen"), ace,
			"Permission denied by sticky bit: user=alice, path=" + `"/tmp/bobopen":bob:supergroup:-rw-r--r--` + ", parent=" + tmp},
		{"rename into another's 0755 home", "alice", "rename2", rename2Req("/tmp/alicefile", "/user/carol/alicefile"), ace,
			denied("alice", "WRITE", carolHome)},
		{"rename out of another's 0755 home", "alice", "rename2", rename2Req("/user/carol/secret", "/tmp/stolen"), ace,
			denied("alice", "WRITE", carolHome)},
		{"old rename into another's 0755 home", "alice", "rename", build("hadoop.hdfs.RenameRequestProto",
			"src", "/tmp/alicefile", "dst", "/user/carol"), ace, denied("alice", "WRITE", carolHome)},
		{"rename of own file from /tmp to own home", "alice", "rename2", rename2Req("/tmp/alicefile", "/user/alice/moved"), "", ""},
		// Attributes: the owner's.
		{"chmod of another's file", "alice", "setPermission", build("hadoop.hdfs.SetPermissionRequestProto",
			"src", "/tmp/bobopen", "permission", build(pbPermission, "perm", 0o777)), ace,
			"Permission denied. user=alice is not the owner of inode=/tmp/bobopen"},
		{"chmod of own file", "alice", "setPermission", build("hadoop.hdfs.SetPermissionRequestProto",
			"src", "/user/alice/moved", "permission", build(pbPermission, "perm", 0o600)), "", ""},
		{"chown to another user", "alice", "setOwner", build("hadoop.hdfs.SetOwnerRequestProto",
			"src", "/user/alice/moved", "username", "bob"), ace, "User alice is not a super user (non-super user cannot change owner)."},
		{"chgrp to a group not one's own", "alice", "setOwner", build("hadoop.hdfs.SetOwnerRequestProto",
			"src", "/user/alice/moved", "groupname", "analysts"), ace, "User alice does not belong to analysts"},
		{"chgrp of another's file", "carol", "setOwner", build("hadoop.hdfs.SetOwnerRequestProto",
			"src", "/tmp/bobopen", "groupname", "analysts"), ace, "Permission denied. user=carol is not the owner of inode=/tmp/bobopen"},
		{"chgrp to one's own group", "carol", "setOwner", build("hadoop.hdfs.SetOwnerRequestProto",
			"src", "/user/carol/secret", "groupname", "analysts"), "", ""},
		{"touch of another's file", "alice", "setTimes", build("hadoop.hdfs.SetTimesRequestProto",
			"src", "/tmp/bobopen", "mtime", 0, "atime", 0), ace, denied("alice", "WRITE", `"/tmp/bobopen":bob:supergroup:-rw-r--r--`)},
		{"recoverLease of another's open file", "alice", "recoverLease", build("hadoop.hdfs.RecoverLeaseRequestProto",
			"src", "/tmp/bobopen", "clientName", "alice-client"), ace, denied("alice", "WRITE", `"/tmp/bobopen":bob:supergroup:-rw-r--r--`)},
		// The superuser, and members of the supergroup, pass every check.
		{"superuser: stat in a 0700 home", "hdfs", "getFileInfo", fileInfoReq("/user/bob/data/f"), "", ""},
		{"superuser: chown", "hdfs", "setOwner", build("hadoop.hdfs.SetOwnerRequestProto",
			"src", "/user/alice/moved", "username", "bob", "groupname", "staff"), "", ""},
		{"supergroup member: create in a 0700 home", "dave", "create", createReq("/user/bob/dave", "dave-client", flagCreate, false), "", ""},
		{"supergroup member: delete in sticky /tmp", "dave", "delete", deleteReq("/tmp/bobopen", false), "", ""},
		{"superuser: recursive delete", "hdfs", "delete", deleteReq("/user/alice/tree", true), "", ""},
	}
	for _, tt := range tests {
		hdr, _ := f.as(t, tt.user).call(tt.method, tt.req)
		wantResult(t, tt.name, hdr, tt.class, tt.msg)
	}

	// New entries belong to their creator, in their parent's group.
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, want := range map[string]string{
		"/shared/x":         `"/shared/x":carol:analysts:-rw-r--r--`,
		"/tmp/a":            `"/tmp/a":alice:supergroup:drwxr-xr-x`,
		"/user/alice/moved": `"/user/alice/moved":bob:staff:-rw-------`,
		"/user/bob/dave":    `"/user/bob/dave":dave:supergroup:-rw-r--r--`,
	} {
		n, _ := c.lookupLocked(p)
		if n == nil {
			t.Errorf("%s does not exist", p)
			continue
		}
		if got := describe(n, p); got != want {
			t.Errorf("%s is %s, want %s", p, got, want)
		}
	}
}

// TestPermissionsThroughClient checks what the colinmarc client makes of
// a refusal: fs.ErrPermission, as for a local file.
func TestPermissionsThroughClient(t *testing.T) {
	c := New(t)
	home := addUser(t, c, "bob")
	if err := c.Mkdir(home, 0o700, "bob", ""); err != nil {
		t.Fatal(err)
	}
	alice := newClient(t, c, "alice")
	if _, err := alice.Create(home + "/x"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Create in another's 0700 home: %v, want os.ErrPermission", err)
	}
	if err := alice.MkdirAll("/iot", 0o755); !errors.Is(err, os.ErrPermission) {
		t.Errorf("MkdirAll at the root as an ordinary user: %v, want os.ErrPermission", err)
	}
	if _, err := alice.ReadDir(home); !errors.Is(err, os.ErrPermission) {
		t.Errorf("ReadDir of another's 0700 home: %v, want os.ErrPermission", err)
	}
	// The administrator's way: the superuser makes the directory and
	// gives it to the job's user.
	admin := newClient(t, c, c.Superuser())
	if err := admin.MkdirAll("/iot", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := admin.Chown("/iot", "alice", ""); err != nil {
		t.Fatal(err)
	}
	writeFile(t, alice, "/iot/events", []byte("e"))
	fi, err := alice.Stat("/iot/events")
	if err != nil {
		t.Fatal(err)
	}
	if hf := fi.(*hdfs.FileInfo); hf.Owner() != "alice" || hf.OwnerGroup() != "supergroup" {
		t.Errorf("/iot/events is %s:%s", hf.Owner(), hf.OwnerGroup())
	}
}

func TestPermissionsOff(t *testing.T) {
	c := New(t, WithPermissions(false))
	home := addUser(t, c, "bob")
	if err := c.Mkdir(home, 0o700, "bob", ""); err != nil {
		t.Fatal(err)
	}
	alice := newClient(t, c, "alice")
	writeFile(t, alice, home+"/x", []byte("x"))
	if err := alice.MkdirAll("/iot/a", 0o755); err != nil {
		t.Errorf("MkdirAll at the root with permissions off: %v", err)
	}
	if err := alice.Chown(home+"/x", "carol", "staff"); err != nil {
		t.Errorf("Chown with permissions off: %v", err)
	}
}

func TestNamespaceLayout(t *testing.T) {
	c := New(t, WithSuperuser("hadoop"), WithSupergroup("admins"))
	cl := newClient(t, c, "u")
	want := map[string]string{
		"/":     "hadoop:admins:drwxr-xr-x",
		"/tmp":  "hadoop:admins:drwxrwxrwt",
		"/user": "hadoop:admins:drwxr-xr-x",
	}
	for p, w := range want {
		fi, err := cl.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		hf := fi.(*hdfs.FileInfo)
		st := fi.Sys().(*hdfs.FileStatus)
		n := &inode{dir: fi.IsDir(), perm: st.GetPermission().GetPerm()}
		if got := hf.Owner() + ":" + hf.OwnerGroup() + ":" + modeString(n); got != w {
			t.Errorf("%s is %s, want %s", p, got, w)
		}
	}
	home, err := c.AddUser("u", "g1", "admins")
	if err != nil || home != "/user/u" {
		t.Fatalf("AddUser = %q, %v", home, err)
	}
	if fi, err := cl.Stat(home); err != nil || fi.(*hdfs.FileInfo).Owner() != "u" || fi.Mode().Perm() != 0o755 {
		t.Errorf("home: %v, %v", fi, err)
	}
	// u is in the supergroup now: a superuser.
	if err := cl.MkdirAll("/anywhere", 0o755); err != nil {
		t.Errorf("MkdirAll at the root by a supergroup member: %v", err)
	}
	if err := c.Mkdir("/data/drop", 0o1777|fs.ModeSticky, "etl", "etl"); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	n, _ := c.lookupLocked("/data/drop")
	p, _ := c.lookupLocked("/data")
	c.mu.Unlock()
	if got := describe(n, "/data/drop"); got != `"/data/drop":etl:etl:drwxrwxrwt` {
		t.Errorf("Mkdir made %s", got)
	}
	if got := describe(p, "/data"); got != `"/data":hadoop:admins:drwxr-xr-x` {
		t.Errorf("Mkdir made the parent %s", got)
	}
	if _, err := c.AddUser("a/b"); err == nil {
		t.Errorf("AddUser of a name with a slash succeeded")
	}
	if err := c.Mkdir("relative", 0o755, "", ""); err == nil {
		t.Errorf("Mkdir of a relative path succeeded")
	}

	bare := New(t, WithEmptyNamespace())
	infos, err := newClient(t, bare, "u").ReadDir("/")
	if err != nil || len(infos) != 0 {
		t.Errorf("an empty namespace lists %d entries, %v", len(infos), err)
	}
	if strings.Contains(modeString(&inode{dir: true, perm: 0o1770}), "t") {
		t.Errorf("sticky without others' execute prints %s, want T", modeString(&inode{dir: true, perm: 0o1770}))
	}
}
