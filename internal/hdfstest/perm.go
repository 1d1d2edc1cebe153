package hdfstest

import (
	"slices"
	"strings"
)

// HDFS permission checks, after Hadoop's FSPermissionChecker: POSIX-like
// modes on owner, group and others, a sticky bit on directories, and a
// superuser (the NameNode's user, or a member of the supergroup) that
// passes every check. Each call checks what its FSDir*Op checks.

// FsAction bits.
const (
	actExecute = 1
	actWrite   = 2
	actRead    = 4
	actAll     = actRead | actWrite | actExecute
)

// actionNames are the names of FsAction values, indexed by their bits.
var actionNames = [8]string{"NONE", "EXECUTE", "WRITE", "WRITE_EXECUTE", "READ", "READ_EXECUTE", "READ_WRITE", "ALL"}

// permChecker checks one caller's access, as FSPermissionChecker.
type permChecker struct {
	user   string
	groups []string
	super  bool
	off    bool // permissions are disabled
}

// checkerLocked returns the permission checker of user.
func (c *Cluster) checkerLocked(user string) *permChecker {
	groups := c.groups[user]
	return &permChecker{
		user:   user,
		groups: groups,
		super:  user == c.cfg.superuser || slices.Contains(groups, c.cfg.supergroup),
		off:    c.cfg.noPermissions,
	}
}

// skip reports whether the caller passes every check.
func (k *permChecker) skip() bool { return k.off || k.super }

// modeString returns the mode of n as HDFS prints it: "drwxr-xr-x", with
// the sticky bit as t (or T when others may not execute) in the last
// place.
func modeString(n *inode) string {
	var b strings.Builder
	if n.dir {
		b.WriteByte('d')
	} else {
		b.WriteByte('-')
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if n.perm&(1<<(8-i)) != 0 {
			b.WriteByte(rwx[i])
		} else {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if n.perm&0o1000 != 0 {
		if n.perm&1 != 0 {
			s = s[:9] + "t"
		} else {
			s = s[:9] + "T"
		}
	}
	return s
}

// describe returns `"p":owner:group:mode`, how HDFS names an inode in
// permission errors.
func describe(n *inode, p string) string {
	return `"` + p + `":` + n.owner + ":" + n.group + ":" + modeString(n)
}

// joinPath returns the absolute path of the first elements of parts.
func joinPath(parts []string) string { return "/" + strings.Join(parts, "/") }

// allows reports whether the caller may do access on n: the owner's bits
// for its owner, else the group's for a member of its group, else the
// others' (FSPermissionChecker.hasPermission without ACLs).
func (k *permChecker) allows(n *inode, access uint32) bool {
	var bits uint32
	switch {
	case n.owner == k.user:
		bits = n.perm >> 6 & 7
	case slices.Contains(k.groups, n.group):
		bits = n.perm >> 3 & 7
	default:
		bits = n.perm & 7
	}
	return bits&access == access
}

// checkInode fails with an AccessControlException when the caller may
// not do access on n, found at p. A missing inode passes.
func (k *permChecker) checkInode(n *inode, p string, access uint32) *remoteError {
	if k.skip() || n == nil || k.allows(n, access) {
		return nil
	}
	return javaErr(exAccessControl, "Permission denied: user=%s, access=%s, inode=%s",
		k.user, actionNames[access], describe(n, p))
}

// pathAccess is what one call needs, as the arguments of
// FSPermissionChecker.checkPermission; EXECUTE on every existing
// ancestor (traverse) is always needed.
type pathAccess struct {
	owner    bool   // the caller must own the inode
	ancestor uint32 // on the deepest existing ancestor of the last element
	parent   uint32 // on the parent; with WRITE the parent's sticky bit applies
	self     uint32 // on the inode itself
	sub      uint32 // on every directory of the subtree under the inode
	// ignoreEmpty skips empty directories in the subtree check.
	ignoreEmpty bool
}

// resolveLocked returns the inodes of "/" and of each element of parts,
// nil for those that do not exist (and for everything under a file).
func (c *Cluster) resolveLocked(parts []string) []*inode {
	nodes := make([]*inode, len(parts)+1)
	nodes[0] = c.root
	for i, e := range parts {
		n := nodes[i]
		if n == nil || !n.dir {
			break
		}
		nodes[i+1] = n.children[e]
	}
	return nodes
}

// checkPathLocked checks the caller's access to the path of parts. An
// ancestor that is a file ends the checks: the path does not exist, and
// the call reports that.
func (c *Cluster) checkPathLocked(k *permChecker, parts []string, a pathAccess) *remoteError {
	if k.skip() {
		return nil
	}
	nodes := c.resolveLocked(parts)
	last := len(nodes) - 1
	ai := last - 1
	for ai >= 0 && nodes[ai] == nil {
		ai--
	}
	for i := 0; i <= ai; i++ {
		if !nodes[i].dir {
			return nil
		}
		if err := k.checkInode(nodes[i], joinPath(parts[:i]), actExecute); err != nil {
			return err
		}
	}
	if a.parent&actWrite != 0 && last > 0 && nodes[last] != nil {
		if err := k.checkSticky(nodes[last-1], nodes[last], parts); err != nil {
			return err
		}
	}
	if a.ancestor != 0 && last > 0 {
		if err := k.checkInode(nodes[ai], joinPath(parts[:ai]), a.ancestor); err != nil {
			return err
		}
	}
	if a.parent != 0 && last > 0 {
		if err := k.checkInode(nodes[last-1], joinPath(parts[:last-1]), a.parent); err != nil {
			return err
		}
	}
	if a.self != 0 {
		if err := k.checkInode(nodes[last], joinPath(parts), a.self); err != nil {
			return err
		}
	}
	if a.sub != 0 && nodes[last] != nil && nodes[last].dir {
		if err := k.checkSubtree(nodes[last], joinPath(parts), a.sub, a.ignoreEmpty); err != nil {
			return err
		}
	}
	if a.owner && nodes[last] != nil && nodes[last].owner != k.user {
		return javaErr(exAccessControl, "Permission denied. user=%s is not the owner of inode=%s", k.user, joinPath(parts))
	}
	return nil
}

// checkSticky fails when parent has the sticky bit and the caller owns
// neither parent nor its entry n, which may then not be deleted or
// renamed (FSPermissionChecker.checkStickyBit).
func (k *permChecker) checkSticky(parent, n *inode, parts []string) *remoteError {
	if k.skip() || parent.perm&0o1000 == 0 || parent.owner == k.user || n.owner == k.user {
		return nil
	}
	return javaErr(exAccessControl, "Permission denied by sticky bit: user=%s, path=%s, parent=%s",
		k.user, describe(n, joinPath(parts)), describe(parent, joinPath(parts[:len(parts)-1])))
}

// checkSubtree checks access on dir and every directory under it
// (FSPermissionChecker.checkSubAccess), depth first in name order.
func (k *permChecker) checkSubtree(dir *inode, p string, access uint32, ignoreEmpty bool) *remoteError {
	if !(ignoreEmpty && len(dir.children) == 0) {
		if err := k.checkInode(dir, p, access); err != nil {
			return err
		}
	}
	for _, child := range dir.sortedChildren() {
		if child.dir {
			if err := k.checkSubtree(child, strings.TrimSuffix(p, "/")+"/"+child.name, access, ignoreEmpty); err != nil {
				return err
			}
		}
	}
	return nil
}
