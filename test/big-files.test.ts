/**
 * Issue 10, item 1 on a real mount: a write past the largest file is EFBIG ("File too
 * large") and the master lives on; a file written at 100 TiB holds one chunk and reads
 * back; a truncate to 100 TiB costs nothing. Plus the xattr and symlink limits over the
 * wire, answered with an errno instead of a closed link.
 */
import { join } from 'node:path';
import { TsmfsError, statusName } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';

/** docs/mount.md: the largest file is 2^52 bytes (4 PiB); written as a number so this file also runs against older builds. */
const MAX_FILE_SIZE = 2 ** 52;
const TIB_100 = 100 * 2 ** 40;
const MIB = 2 ** 20;

async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof TsmfsError) return statusName(err.status);
    throw err;
  }
}

describe('files near and past the largest size, through the mount', () => {
  it('dd past the maximum: File too large, the master alive; a write at 100 TiB is one chunk and reads back', async () => {
    const c = await Cluster.create();
    await c.addChunkservers(1);
    const m = await c.mount();
    const s = await c.session();
    const big = join(m.path, 'big');

    // dd truncates to the seek offset (= the maximum: allowed), then writes past it.
    const past = await sh(`dd if=/dev/zero of=${big} bs=1M seek=${MAX_FILE_SIZE / MIB} count=1`);
    expect(past.code).not.toBe(0);
    expect(past.stderr).toContain('File too large');
    // Further out the truncate itself is refused; with notrunc the write is.
    const truncPast = await sh(`dd if=/dev/zero of=${big}2 bs=1M seek=${2 * (MAX_FILE_SIZE / MIB)} count=1`);
    expect(truncPast.stderr).toContain('File too large');
    const writePast = await sh(`dd if=/dev/zero of=${big}3 bs=1M seek=${2 ** 40} count=1 conv=notrunc`);
    expect(writePast.stderr).toContain('File too large');
    expect((await sh(`truncate -s 5P ${big}3`)).stderr).toContain('File too large');
    expect(c.master.process!.running).toBe(true);
    expect((await s.getattr(1)).type).toBe('dir');

    const local = makeTempDir();
    await shOk(`head -c ${MIB} /dev/urandom > ${local}/piece`);
    const sparse = join(m.path, 'sparse');
    await shOk(`dd if=${local}/piece of=${sparse} bs=1M seek=${TIB_100 / MIB} conv=notrunc status=none`);
    expect(await shOk(`stat -c %s ${sparse}`)).toBe(`${TIB_100 + MIB}\n`);
    const info = await s.fileinfo((await s.resolve('/sparse')).inode);
    expect(info.chunks.map((ch) => ch.index)).toEqual([TIB_100 / (64 * MIB)]);
    await shOk(`dd if=${sparse} of=${local}/back bs=1M skip=${TIB_100 / MIB} count=1 status=none && cmp ${local}/piece ${local}/back`);
    // A hole far before the data reads as zeros.
    expect(await shOk(`dd if=${sparse} bs=1M skip=${TIB_100 / MIB / 2} count=1 status=none | tr -d '\\0' | wc -c`)).toBe('0\n');

    await shOk(`truncate -s 100T ${join(m.path, 'long')}`);
    expect(await shOk(`stat -c %s ${join(m.path, 'long')}`)).toBe(`${TIB_100}\n`);
    expect((await s.fileinfo((await s.resolve('/long')).inode)).chunks).toEqual([]);
    expect(c.master.process!.running).toBe(true);
  });

  it('over the wire: an xattr value or name over the limit and a symlink target with NUL get an errno, the link stays', async () => {
    const c = await Cluster.create();
    const s = await c.session();
    const f = await s.mknod(1, 'f', 'file', 0o644);
    expect(await errnoOf(s.setxattr(f.inode, 'user.big', new Uint8Array(65_537)))).toBe('E2BIG');
    expect(await errnoOf(s.setxattr(f.inode, 'user.' + 'n'.repeat(300), new Uint8Array(1)))).toBe('ERANGE');
    expect(await errnoOf(s.getxattr(f.inode, 'user.' + 'n'.repeat(300)))).toBe('ERANGE');
    expect(await errnoOf(s.setxattr(f.inode, 'user.max', new Uint8Array(65_536)))).toBe('ok');
    expect(await errnoOf(s.symlink(1, 'l', 'a\0b'))).toBe('EINVAL');
    expect(await errnoOf(s.symlink(1, 'l', ''))).toBe('ENOENT');
    expect(await errnoOf(s.lookup(1, 'l'))).toBe('ENOENT');
    expect(c.master.process!.running).toBe(true);
  });
});
