import { EATTR } from '@tsmfs/protocol';
import type { Mutation } from '../metadata/mutation.js';

/** What leases a change touches: directories whose entries move, nodes whose attributes do. */
export interface LeaseKeys {
  dirs: number[];
  inodes: number[];
  /** Changes whose reach is not worth working out (recursive, restores): every lease. */
  all?: boolean;
}

/** The parts of the metadata this needs, read before the change is applied. */
export interface NameView {
  lookup(dir: number, name: string): number | undefined;
  isDir(inode: number): boolean;
}

/**
 * The leases change `m` breaks, worked out before it is applied (an unlink's victim
 * is known by its name only until then). A directory's attributes move with its entries
 * (mtime, ctime, nlink), a node's with its links (nlink, ctime).
 */
export function leaseKeys(m: Mutation, md: NameView): LeaseKeys {
  switch (m.op) {
    case 'create':
      return { dirs: [m.parent], inodes: [m.parent] };
    case 'link':
      return { dirs: [m.parent], inodes: [m.parent, m.inode] };
    case 'unlink':
    case 'rmdir': {
      const victim = md.lookup(m.parent, m.name);
      return victim === undefined
        ? { dirs: [m.parent], inodes: [m.parent] }
        : { dirs: m.op === 'rmdir' ? [m.parent, victim] : [m.parent], inodes: [m.parent, victim] };
    }
    case 'rename': {
      const dirs = [m.parent, m.newParent];
      const inodes = [m.parent, m.newParent];
      for (const inode of [md.lookup(m.parent, m.name), md.lookup(m.newParent, m.newName)]) {
        if (inode === undefined) continue;
        inodes.push(inode);
        // A directory that moves gets another '..'.
        if (md.isDir(inode)) dirs.push(inode);
      }
      return { dirs, inodes };
    }
    case 'setattr':
    case 'setxattr':
    case 'removexattr':
    case 'length':
    case 'chunkAlloc':
    case 'chunkErase':
    case 'appendChunks':
    case 'purge':
    case 'sustain':
      return { dirs: [], inodes: [m.inode] };
    case 'acl':
      // A directory's access ACL decides who may search it: a mount whose kernel does not
      // check ACLs asks the master for every name there again (docs/mount.md).
      return m.kind === 'access' && md.isDir(m.inode) ? { dirs: [m.inode], inodes: [m.inode] } : { dirs: [], inodes: [m.inode] };
    case 'seteattr':
      // A directory's noentrycache decides whether the kernel may keep the names in it
      // (MooseFS's meaning): they go too, and come back with the flag's new value.
      if (m.recursive) return { dirs: [], inodes: [], all: true };
      return (m.set | m.clear) & EATTR.noentrycache && md.isDir(m.inode) ? { dirs: [m.inode], inodes: [m.inode] } : { dirs: [], inodes: [m.inode] };
    case 'archive':
      // clrarchive moves the ctime of every file of the tree.
      return m.on ? { dirs: [], inodes: [] } : { dirs: [], inodes: [], all: true };
    case 'setgoal':
    case 'settrashtime':
    case 'setsclass':
      return m.recursive ? { dirs: [], inodes: [], all: true } : { dirs: [], inodes: [m.inode] };
    case 'snapshot':
      return m.overwrite ? { dirs: [], inodes: [], all: true } : { dirs: [m.parent], inodes: [m.parent] };
    case 'undelete':
      // Back under its old path, whichever directories that takes.
      return { dirs: [], inodes: [], all: true };
    case 'chunkVersion':
    case 'chunksDeleted':
    case 'session':
    case 'sessionEnd':
    case 'lock':
    case 'quota':
    case 'sclass':
      return { dirs: [], inodes: [] };
  }
}
