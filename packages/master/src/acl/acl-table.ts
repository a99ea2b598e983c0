import { type Acl, type NodeType, type Timespec, aclMode } from '@tsmfs/protocol';
import { type ExtendedAcl, extendedPart } from './posix-acl.js';

/** A node's ACLs: the access ACL's extended part (posix-acl.ts) and a directory's default ACL. */
export interface NodeAcls {
  access?: ExtendedAcl;
  default?: Acl;
}

/**
 * The changelog entry of setting or removing one ACL (null removes). An access ACL comes
 * with the mode it leaves (the ACL's owner, mask and other classes, setgid perhaps
 * dropped); the master decided everything, apply only stores.
 */
export type AclMutation = { op: 'acl'; ts: Timespec; inode: number; kind: 'access'; acl: ExtendedAcl | null; mode: number } | { op: 'acl'; ts: Timespec; inode: number; kind: 'default'; acl: Acl | null };

/**
 * Inode → its ACLs: rare (most nodes have none), so a Map beside the inode columns, as
 * xattrs are. Dumped as JSON (format 7); changed only by apply.
 */
export class AclTable {
  readonly byInode = new Map<number, NodeAcls>();

  get size(): number {
    return this.byInode.size;
  }

  access(inode: number): ExtendedAcl | undefined {
    return this.byInode.get(inode)?.access;
  }

  default(inode: number): Acl | undefined {
    return this.byInode.get(inode)?.default;
  }

  has(inode: number): boolean {
    return this.byInode.has(inode);
  }

  delete(inode: number): void {
    this.byInode.delete(inode);
  }

  private set(inode: number, kind: keyof NodeAcls, value: ExtendedAcl | Acl | null): void {
    const acls = { ...this.byInode.get(inode) } as NodeAcls;
    if (value === null) delete acls[kind];
    else (acls as Record<string, unknown>)[kind] = value;
    if (acls.access || acls.default) this.byInode.set(inode, acls);
    else this.byInode.delete(inode);
  }

  /** Applies an 'acl' entry (the mode and ctime are the caller's: apply.ts). */
  apply(m: AclMutation): void {
    this.set(m.inode, m.kind, m.acl);
  }

  /**
   * A new node in `parent` (posix_acl_create): with a default ACL there, a node other than a
   * symlink gets the access ACL it makes (the create mode was masked by it already), a
   * directory the default ACL itself.
   */
  inherit(parent: number, inode: number, type: NodeType): void {
    const dflt = this.default(parent);
    if (!dflt || type === 'symlink') return;
    const ext = extendedPart(dflt);
    if (ext) this.set(inode, 'access', ext);
    if (type === 'dir') this.set(inode, 'default', dflt.map((e) => ({ ...e })));
  }

  /** A snapshot's copy carries its source's ACLs. */
  copy(src: number, dst: number): void {
    const acls = this.byInode.get(src);
    if (acls) this.byInode.set(dst, structuredClone(acls));
  }

  toJSON(): [number, NodeAcls][] {
    return [...this.byInode];
  }

  static fromJSON(rows: [number, NodeAcls][]): AclTable {
    const table = new AclTable();
    for (const [inode, acls] of rows) table.byInode.set(inode, acls);
    return table;
  }
}

/**
 * The mode of a new node in `dir` (posix_acl_create_masq): with a default ACL there, each
 * class keeps what both the requested mode and the ACL give it (owner, the mask or else the
 * owning group, other) and the umask is not applied; without one, the umask applies.
 * Symlinks take neither.
 */
export function createPermBits(table: AclTable, dir: number, type: NodeType, mode: number, umask: number): number {
  if (type === 'symlink') return mode;
  const dflt = table.default(dir);
  return dflt ? (mode & ~0o777) | (mode & aclMode(dflt).mode) : mode & ~umask;
}
