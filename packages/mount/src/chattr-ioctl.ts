import { EATTR, fail } from '@tsmfs/protocol';

/**
 * chattr/lsattr through the mount: the kernel turns FS_IOC_GETFLAGS / FS_IOC_SETFLAGS into
 * FUSE ioctls (after checking, for a change of +i or +a, the caller's ownership and
 * CAP_LINUX_IMMUTABLE), and reads the old attributes first with FS_IOC_FSGETXATTR; xfs_io
 * uses FS_IOC_FSGETXATTR / FSSETXATTR. Linux's immutable and append-only flags are tsmfs's
 * immutable and appendonly extra attributes; no other flag exists here.
 */

/** Linux's FS_IMMUTABLE_FL, FS_APPEND_FL (linux/fs.h) and their FS_XFLAG_* twins. */
const FLAGS = { immutable: 0x10, append: 0x20 };
const XFLAGS = { immutable: 0x8, append: 0x10 };

/** The ioctls by type and number (the low 16 bits; the size bits differ between 32 and 64 bits). */
const IOC_TYPE_NR = 0xffff;
const GETFLAGS = 0x6601;
const SETFLAGS = 0x6602;
const FSGETXATTR = 0x581f;
const FSSETXATTR = 0x5820;
/** struct fsxattr: xflags, extsize, nextents, projid, cowextsize (u32 each), 8 bytes of padding. */
const FSXATTR_SIZE = 28;

export type FlagsIoctl = { op: 'get'; answer: (eattr: number, size: number) => Buffer } | { op: 'set'; set: number; clear: number };

/** What an ioctl asks; ENOTTY for any other ioctl (as a file system without it answers). */
export function flagsIoctl(cmd: number, input: Buffer): FlagsIoctl {
  switch (cmd & IOC_TYPE_NR) {
    case GETFLAGS:
      return { op: 'get', answer: (eattr, size) => word(toBits(eattr, FLAGS), Math.min(size, 8)) };
    case FSGETXATTR:
      return { op: 'get', answer: (eattr, size) => word(toBits(eattr, XFLAGS), Math.min(size, FSXATTR_SIZE)) };
    case SETFLAGS:
      return change(input, FLAGS);
    case FSSETXATTR:
      return change(input, XFLAGS);
    default:
      throw fail('ENOTTY', `ioctl ${cmd.toString(16)}`);
  }
}

function toBits(eattr: number, bits: typeof FLAGS): number {
  return (eattr & EATTR.immutable ? bits.immutable : 0) | (eattr & EATTR.appendonly ? bits.append : 0);
}

/** `size` bytes (the kernel's out size), the flags in the first 4. */
function word(flags: number, size: number): Buffer {
  const out = Buffer.alloc(Math.max(0, size));
  if (out.length >= 4) out.writeUInt32LE(flags, 0);
  return out;
}

function change(input: Buffer, bits: typeof FLAGS): FlagsIoctl {
  if (input.length < 4) throw fail('EINVAL', 'no flags given');
  const flags = input.readUInt32LE(0);
  const known = bits.immutable | bits.append;
  // ext4 refuses a flag it does not have the same way (the kernel answers EOPNOTSUPP).
  if (flags & ~known) throw fail('ENOTSUP', `flags ${(flags & ~known).toString(16)} are not supported`);
  const wanted = (flags & bits.immutable ? EATTR.immutable : 0) | (flags & bits.append ? EATTR.appendonly : 0);
  return { op: 'set', set: wanted, clear: (EATTR.immutable | EATTR.appendonly) & ~wanted };
}
