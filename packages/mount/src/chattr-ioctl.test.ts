import { EATTR, TsmfsError } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { flagsIoctl } from './chattr-ioctl.js';

const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
const FS_IOC32_SETFLAGS = 0x40046602;
const FS_IOC_FSGETXATTR = 0x801c581f;
const FS_IOC_FSSETXATTR = 0x401c5820;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const errno = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return (err as TsmfsError).code;
  }
};

describe('chattr/lsattr ioctls', () => {
  it('reads +i/+a as FS_*_FL and FS_XFLAG_*, in the size the kernel asks', () => {
    const get = flagsIoctl(FS_IOC_GETFLAGS, Buffer.alloc(0));
    if (get.op !== 'get') throw new Error('not a get');
    expect(get.answer(EATTR.immutable | EATTR.noowner, 4)).toEqual(u32(0x10));
    expect(get.answer(EATTR.appendonly, 8)).toEqual(Buffer.concat([u32(0x20), Buffer.alloc(4)]));
    const xget = flagsIoctl(FS_IOC_FSGETXATTR, Buffer.alloc(0));
    if (xget.op !== 'get') throw new Error('not a get');
    const x = xget.answer(EATTR.immutable | EATTR.appendonly, 28);
    expect(x.length).toBe(28);
    expect(x.readUInt32LE(0)).toBe(0x8 | 0x10);
  });

  it('sets exactly the flags asked (the others of the pair cleared); refuses flags tsmfs has not and other ioctls', () => {
    expect(flagsIoctl(FS_IOC_SETFLAGS, u32(0x10))).toEqual({ op: 'set', set: EATTR.immutable, clear: EATTR.appendonly });
    expect(flagsIoctl(FS_IOC32_SETFLAGS, u32(0))).toEqual({ op: 'set', set: 0, clear: EATTR.immutable | EATTR.appendonly });
    expect(flagsIoctl(FS_IOC_FSSETXATTR, Buffer.concat([u32(0x10), Buffer.alloc(24)]))).toEqual({ op: 'set', set: EATTR.appendonly, clear: EATTR.immutable });
    expect(errno(() => flagsIoctl(FS_IOC_SETFLAGS, u32(0x40)))).toBe('ENOTSUP');
    expect(errno(() => flagsIoctl(FS_IOC_SETFLAGS, Buffer.alloc(0)))).toBe('EINVAL');
    expect(errno(() => flagsIoctl(0x5401, Buffer.alloc(0)))).toBe('ENOTTY');
  });
});
