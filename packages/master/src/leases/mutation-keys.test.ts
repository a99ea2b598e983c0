import { ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR, EATTR, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, encodeAclXattr } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import type { Mutation } from '../metadata/mutation.js';
import { masterClock } from '../master.js';
import { leaseKeys } from './mutation-keys.js';

const ROOT = { uid: 0, gid: 0, groups: [0] };

/** A real namespace: the keys of every mutation it commits, worked out before it applies (as Leases sees them). */
function recorded() {
  const ns = new Namespace(createEmptyMetadata(masterClock()), () => undefined, masterClock);
  const seen: { op: Mutation['op']; dirs: number[]; inodes: number[]; all?: boolean }[] = [];
  ns.observe = (m, md) => seen.push({ op: m.op, ...leaseKeys(m, md) });
  return { ns, seen };
}

describe('the leases a change breaks', () => {
  it('an unlink breaks the directory and the victim it names (known only before it is applied)', () => {
    const { ns, seen } = recorded();
    const f = ns.mknod({ cred: ROOT, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    expect(seen.pop()).toEqual({ op: 'create', dirs: [1], inodes: [1] });
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    expect(seen.pop()).toEqual({ op: 'unlink', dirs: [1], inodes: [1, f] });
  });

  it('a rename of a directory breaks both parents, both names\' nodes and the moved directory\'s own entries (its "..")', () => {
    const { ns, seen } = recorded();
    const a = ns.mkdir({ cred: ROOT, parent: 1, name: 'a', mode: 0o755, umask: 0 }).attr.inode;
    const b = ns.mkdir({ cred: ROOT, parent: 1, name: 'b', mode: 0o755, umask: 0 }).attr.inode;
    const d = ns.mkdir({ cred: ROOT, parent: a, name: 'd', mode: 0o755, umask: 0 }).attr.inode;
    ns.rename({ cred: ROOT, parent: a, name: 'd', newParent: b, newName: 'e', flags: 0 });
    expect(seen.pop()).toEqual({ op: 'rename', dirs: [a, b, d], inodes: [a, b, d] });
  });

  it('attribute changes break the node; recursive ones and undelete break every lease', () => {
    const { ns, seen } = recorded();
    const f = ns.mknod({ cred: ROOT, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    ns.setattr({ cred: ROOT, inode: f, mode: 0o600 });
    expect(seen.pop()).toEqual({ op: 'setattr', dirs: [], inodes: [f] });
    ns.setgoal({ cred: ROOT, inode: 1, goal: 3, mode: 'set', recursive: true });
    expect(seen.pop()?.all).toBe(true);
  });

  it("a directory's noentrycache breaks its entries (the kernel may keep them no longer, or now may), not its parent's; other flags only the node", () => {
    const { ns, seen } = recorded();
    const d = ns.mkdir({ cred: ROOT, parent: 1, name: 'd', mode: 0o755, umask: 0 }).attr.inode;
    ns.eattrs.seteattr({ cred: ROOT, inode: d, set: EATTR.noentrycache, clear: 0, recursive: false }, true);
    expect(seen.pop()).toEqual({ op: 'seteattr', dirs: [d], inodes: [d] });
    ns.eattrs.seteattr({ cred: ROOT, inode: d, set: 0, clear: EATTR.noentrycache, recursive: false }, true);
    expect(seen.pop()).toEqual({ op: 'seteattr', dirs: [d], inodes: [d] });
    ns.eattrs.seteattr({ cred: ROOT, inode: d, set: EATTR.noattrcache, clear: 0, recursive: false }, true);
    expect(seen.pop()).toEqual({ op: 'seteattr', dirs: [], inodes: [d] });
  });

  it("a directory's access ACL breaks its entries too (who may search it changed); a file's, or a default ACL, only the node", () => {
    const { ns, seen } = recorded();
    const d = ns.mkdir({ cred: ROOT, parent: 1, name: 'd', mode: 0o755, umask: 0 }).attr.inode;
    const f = ns.mknod({ cred: ROOT, parent: d, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const acl = encodeAclXattr([
      { tag: ACL_USER_OBJ, perm: 7 },
      { tag: ACL_USER, perm: 0, id: 1000 },
      { tag: ACL_GROUP_OBJ, perm: 5 },
      { tag: ACL_MASK, perm: 5 },
      { tag: ACL_OTHER, perm: 5 },
    ]);
    ns.setxattr({ cred: ROOT, inode: d, name: ACL_ACCESS_XATTR, value: acl, flags: 0 });
    expect(seen.pop()).toEqual({ op: 'acl', dirs: [d], inodes: [d] });
    ns.setxattr({ cred: ROOT, inode: d, name: ACL_DEFAULT_XATTR, value: acl, flags: 0 });
    expect(seen.pop()).toEqual({ op: 'acl', dirs: [], inodes: [d] });
    ns.setxattr({ cred: ROOT, inode: f, name: ACL_ACCESS_XATTR, value: acl, flags: 0 });
    expect(seen.pop()).toEqual({ op: 'acl', dirs: [], inodes: [f] });
  });
});
