import type { Attr as KernelAttr, DirEntry as KernelDirEntry } from '@tsmfs/fuse';
import { type Attr, type NodeType, Status, TsmfsError } from '@tsmfs/protocol';

/** S_IFMT bits of each node type (Linux). */
const TYPE_BITS: Record<NodeType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  fifo: 0o010000,
  socket: 0o140000,
  chardev: 0o020000,
  blockdev: 0o060000,
};

export const S_IFMT = 0o170000;

export function typeBits(type: NodeType): number {
  return TYPE_BITS[type];
}

/** The node type mknod asks for, from the S_IFMT bits of its mode. */
export function mknodType(mode: number): 'file' | 'fifo' | 'socket' | 'chardev' | 'blockdev' {
  switch (mode & S_IFMT) {
    case 0:
    case TYPE_BITS.file:
      return 'file';
    case TYPE_BITS.fifo:
      return 'fifo';
    case TYPE_BITS.socket:
      return 'socket';
    case TYPE_BITS.chardev:
      return 'chardev';
    case TYPE_BITS.blockdev:
      return 'blockdev';
    default:
      throw new TsmfsError(Status.EINVAL, `mknod of type ${(mode & S_IFMT).toString(8)}`);
  }
}

/**
 * The kernel's inode number of a tsmfs inode. FUSE's root is always 1; a session on a
 * subdirectory has another root inode, which is shown as 1 (and the master's inode 1 is
 * above that root, out of reach).
 */
export class InodeMap {
  constructor(readonly root: number) {}

  toMaster(ino: number): number {
    return ino === 1 ? this.root : ino;
  }

  toKernel(inode: number): number {
    return inode === this.root ? 1 : inode;
  }
}

export function kernelAttr(a: Attr, inodes: InodeMap): KernelAttr {
  return {
    ino: inodes.toKernel(a.inode),
    mode: TYPE_BITS[a.type] | a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    size: a.size,
    atime: a.atime,
    mtime: a.mtime,
    ctime: a.ctime,
  };
}

export function kernelDirEntry(name: string, ino: number, type: NodeType, nextOffset: number): KernelDirEntry {
  return { name, ino, mode: TYPE_BITS[type], nextOffset };
}
