/**
 * tsmfs-mount end to end: the namespace operations, file I/O, errno values, hidden
 * entries and the command line (issue 4). Everything runs through a real FUSE mount of a
 * real cluster; commands run in child processes.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';

const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1 };

describe('tsmfs-mount', () => {
  it('serves the namespace and file data with st_ino = tsmfs inode', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(2);
    const m = await c.mount();
    const d = m.path;
    await shOk(`
      set -e
      cd ${d}
      mkdir -p a/b/c
      echo hello > a/f
      ln a/f a/g
      ln -s f a/s
      mkfifo a/p
      [ "$(cat a/g)" = hello ]
      [ "$(readlink a/s)" = f ]
      [ "$(stat -c %h a/f)" = 2 ]
      [ "$(stat -c %F a/p)" = fifo ]
      chmod 640 a/f; [ "$(stat -c %a a/f)" = 640 ]
      chown 123:456 a/f; [ "$(stat -c %u:%g a/f)" = 123:456 ]
      touch -d '2001-02-03 04:05:06.123456789' a/f
      [ "$(stat -c %y a/f)" = "2001-02-03 04:05:06.123456789 +0000" ]
      touch -m -d '@4102444800.5' a/g; [ "$(stat -c %Y a/g)" = 4102444800 ]
      mv a/f a/b/renamed; [ ! -e a/f ]; [ "$(cat a/b/renamed)" = hello ]
      truncate -s 100000 a/b/renamed; [ "$(stat -c %s a/b/renamed)" = 100000 ]
      setfattr -n user.k -v v a/g 2>/dev/null || python3 -c 'import os; os.setxattr("a/g", "user.k", b"v")'
      python3 -c 'import os; assert os.getxattr("a/g", "user.k") == b"v"'
      rm a/g a/s a/p; rmdir a/b/c
      ls -a a | sort | tr '\\n' ' '
    `);
    const ls = await shOk(`cd ${d} && ls -A | sort`);
    expect(ls.split('\n').filter(Boolean)).toEqual(['a']);
    // st_ino is the master's inode.
    const s = await c.session();
    const attr = await s.resolve('/a/b/renamed');
    expect((await stat(join(d, 'a/b/renamed'))).ino).toBe(attr.inode);
    // errno values as ext4's
    const errs = await sh(`cd ${d}; rmdir a 2>&1; mkdir a 2>&1; cat nope 2>&1; ln a/b x 2>&1; true`);
    expect(errs.stdout).toMatch(/Directory not empty/);
    expect(errs.stdout).toMatch(/File exists/);
    expect(errs.stdout).toMatch(/No such file or directory/);
    expect(errs.stdout).toMatch(/hard link not allowed for directory|Operation not permitted/);
    await m.unmount();
    expect(await m.waitExit()).toBe(0);
  });

  it('has .masterinfo (lookup in the root only, hidden from readdir) and .stats', async () => {
    const c = await Cluster.create();
    const m = await c.mount();
    await shOk(`mkdir ${m.path}/sub`);
    const info = JSON.parse(readFileSync(join(m.path, '.masterinfo'), 'utf8')) as Record<string, unknown>;
    const raw = readFileSync(join(m.path, '.masterinfo'), 'utf8');
    expect(raw.endsWith('}\n')).toBe(true);
    expect(info).toMatchObject({ masters: [{ host: '127.0.0.1', port: c.master.ports.matocl }], subdir: '/', mountpoint: m.path });
    expect(typeof info.sessionId).toBe('number');
    expect(typeof info.version).toBe('string');
    expect((await stat(join(m.path, '.masterinfo'))).ino).toBe(0x7fffffff);
    expect(await sh(`stat ${m.path}/sub/.masterinfo`).then((r) => r.code)).not.toBe(0);
    expect(await shOk(`ls -A ${m.path}`)).toBe('sub\n');
    expect(readFileSync(join(m.path, '.stats'), 'utf8')).toMatch(/op_mkdir: 1/);
  });

  it('mounts a subdirectory, refuses a wrong password with the master reason, honours -o ro', async () => {
    const c = await Cluster.create({
      master: { exports: ['127.0.0.1 / rw,alldirs,maproot=0', '127.0.0.1 /secret rw,password=pw,maproot=0'] },
    });
    const s = await c.session();
    const secret = await s.mkdir(s.root, 'secret');
    await s.mkdir(secret.inode, 'inner');
    // Daemonized (no -f): errors reach the terminal, exit non-zero.
    const dir = makeTempDir('tsmfs-mnt-');
    const bad = await sh(`node ${BIN.mount} ${dir} -H 127.0.0.1 -P ${c.master.ports.matocl} -S /secret -o password=wrong`);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/wrong password/);
    const good = await sh(`node ${BIN.mount} ${dir} -H 127.0.0.1 -P ${c.master.ports.matocl} -S /secret -o password=pw`);
    expect(good.code).toBe(0);
    try {
      expect(await shOk(`ls ${dir}`)).toBe('inner\n');
      expect(JSON.parse(readFileSync(join(dir, '.masterinfo'), 'utf8')).subdir).toBe('/secret');
    } finally {
      await sh(`fusermount -u ${dir}`);
    }
    const ro = await c.mount({ options: ['ro'] });
    const w = await sh(`touch ${ro.path}/x`);
    expect(w.stderr).toMatch(/Read-only file system/);
    expect(await shOk(`ls ${ro.path}`)).toBe('secret\n');
  });

  it('writes and reads large files (sha256 of dd output), sparse and unaligned', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(3);
    const m = await c.mount();
    const local = makeTempDir();
    await shOk(`head -c 150000000 /dev/urandom > ${local}/big && cp ${local}/big ${m.path}/big1 && dd if=${local}/big of=${m.path}/big2 bs=1M status=none`);
    await shOk(`dd if=/dev/urandom of=${m.path}/sparse bs=4k seek=20000 count=3 status=none && dd if=${m.path}/sparse of=${local}/sparse bs=64k status=none`);
    const sums = await shOk(`sha256sum ${local}/big ${m.path}/big1 ${m.path}/big2 | cut -d' ' -f1 | uniq | wc -l`);
    expect(sums.trim()).toBe('1');
    expect((await stat(join(m.path, 'sparse'))).size).toBe(20003 * 4096);
    expect(await shOk(`cmp ${local}/sparse ${m.path}/sparse && echo same`)).toBe('same\n');
  });

  it('reads of several files at once, from an empty page cache, each get their own bytes (read-ahead windows recycled across files)', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(3);
    const m = await c.mount();
    const local = makeTempDir();
    await shOk(`head -c 90000000 /dev/urandom > ${local}/f1 && head -c 70000001 /dev/urandom > ${local}/f2 && cp ${local}/f1 ${local}/f2 ${m.path}/`);
    await shOk('sync && echo 3 > /proc/sys/vm/drop_caches');
    // Buffered readers (the kernel's read-ahead: 1 MiB requests, several in flight) and
    // O_DIRECT ones with other sizes and starts, side by side; then every sum is compared.
    const readers = [
      `cat ${m.path}/f1 | sha256sum`,
      `cat ${m.path}/f2 | sha256sum`,
      `dd if=${m.path}/f1 iflag=direct bs=1M status=none | sha256sum`,
      `dd if=${m.path}/f2 iflag=direct bs=192k status=none | sha256sum`,
      `dd if=${m.path}/f1 iflag=direct bs=64k skip=300 status=none | sha256sum`,
    ];
    const sums = await Promise.all(readers.map((r) => shOk(r)));
    const want = await Promise.all([
      shOk(`sha256sum < ${local}/f1`),
      shOk(`sha256sum < ${local}/f2`),
      shOk(`sha256sum < ${local}/f1`),
      shOk(`sha256sum < ${local}/f2`),
      shOk(`dd if=${local}/f1 bs=64k skip=300 status=none | sha256sum`),
    ]);
    expect(sums).toEqual(want);
  });
});
