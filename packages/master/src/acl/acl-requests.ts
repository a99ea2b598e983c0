import { type Acl, ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR, type Cred, type Reply, type Timespec, aclMode, decodeAclXattr, encodeAclXattr, fail } from '@tsmfs/protocol';
import { type Metadata, TYPE_CODE } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { refuseXattrChange } from '../metadata/eattr.js';
import { S_ISGID, inGroup, isOwnerOrRoot, isRoot } from '../metadata/permissions.js';
import { accessAcl, extendedPart } from './posix-acl.js';

/**
 * The two ACL xattrs (system.posix_acl_access, system.posix_acl_default) as the namespace's
 * getxattr/setxattr/removexattr/listxattr serve them: in the kernel's xattr form, decided
 * as Linux's vfs_set_acl/set_posix_acl and ext4 decide.
 */
export class AclRequests {
  constructor(
    private readonly md: Metadata,
    private readonly commit: (m: Mutation) => unknown,
    private readonly clock: () => Timespec,
  ) {}

  /** Anyone may read a node's ACLs (Linux checks no permission for system.posix_acl_*). */
  get(inode: number, name: string): Uint8Array {
    const md = this.md;
    if (name === ACL_ACCESS_XATTR) {
      const ext = md.acls.access(inode);
      if (ext) return encodeAclXattr(accessAcl(md.mode[inode]!, ext));
    } else {
      const dflt = md.acls.default(inode);
      if (dflt) return encodeAclXattr(dflt);
    }
    throw fail('ENODATA');
  }

  /**
   * setfacl: the value is decoded and checked first (as the kernel does when it copies it
   * in), then immutable/append-only (EPERM), symlinks (EOPNOTSUPP), a default ACL on a
   * non-directory (EACCES; removing one succeeds), the owner or root (EPERM). An access ACL
   * sets the mode's owner, group (mask) and other classes and is kept only where the mode
   * cannot say it; setgid goes when the caller is neither root nor in the file's group
   * (posix_acl_update_mode). A value that is only a header removes the ACL.
   */
  set(cred: Cred, inode: number, name: string, value: Uint8Array | null): Reply<'setxattr'> {
    this.change(cred, inode, name, value === null ? null : decodeAclXattr(value));
    return {};
  }

  private change(cred: Cred, inode: number, name: string, acl: Acl | null): void {
    const md = this.md;
    refuseXattrChange(md, inode);
    if (md.type[inode] === TYPE_CODE.symlink) throw fail('ENOTSUP', 'ACLs on a symlink');
    const ts = this.clock();
    if (name === ACL_DEFAULT_XATTR) {
      if (!md.isDir(inode)) {
        if (acl) throw fail('EACCES', 'a default ACL is for directories');
        return;
      }
      if (!isOwnerOrRoot(md, inode, cred)) throw fail('EPERM', 'only the owner sets ACLs');
      if (acl === null && md.acls.default(inode) === undefined) return;
      this.commit({ op: 'acl', ts, inode, kind: 'default', acl });
      return;
    }
    if (!isOwnerOrRoot(md, inode, cred)) throw fail('EPERM', 'only the owner sets ACLs');
    if (acl === null) {
      // ext4 keeps the mode (its group class is the old mask) and succeeds with no ACL too.
      if (md.acls.access(inode) !== undefined) this.commit({ op: 'acl', ts, inode, kind: 'access', acl: null, mode: md.mode[inode]! });
      return;
    }
    let mode = (md.mode[inode]! & ~0o777) | aclMode(acl).mode;
    if (!isRoot(cred) && !inGroup(cred, md.gid[inode]!)) mode &= ~S_ISGID;
    this.commit({ op: 'acl', ts, inode, kind: 'access', acl: extendedPart(acl), mode });
  }

  /** The ACL names listxattr shows for `inode` (ext4 lists those present). */
  names(inode: number): string[] {
    const acls = this.md.acls.byInode.get(inode);
    if (!acls) return [];
    return [...(acls.access ? [ACL_ACCESS_XATTR] : []), ...(acls.default ? [ACL_DEFAULT_XATTR] : [])];
  }
}
