/**
 * tsmfs-mount with the rest of the cluster (issue 4): two mounts of one file system,
 * trash and the meta mount, a master killed and restarted under a running copy.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';

const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1 };

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await probe())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

describe('tsmfs-mount in a cluster', () => {
  it('two mounts: data written and closed in one reads identical in the other; renames show within the TTL', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(2);
    const [a, b] = await Promise.all([c.mount(), c.mount()]);
    const local = makeTempDir();
    await shOk(`head -c 20000000 /dev/urandom > ${local}/f && cp ${local}/f ${a.path}/f`);
    expect(await shOk(`sha256sum < ${b.path}/f`)).toBe(await shOk(`sha256sum < ${local}/f`));
    // b has looked the name up (its caches hold it); a renames it.
    await shOk(`mv ${a.path}/f ${a.path}/g`);
    const ms = await until('rename seen by the other mount', async () => (await readdir(b.path)).join() === 'g' && (await sh(`test -e ${b.path}/f`)).code !== 0, 3000);
    expect(ms).toBeLessThan(3000);
    expect(await shOk(`sha256sum < ${b.path}/g`)).toBe(await shOk(`sha256sum < ${local}/f`));
    // an overwrite in b is what a reads after it opens the file again
    await shOk(`echo new > ${b.path}/g`);
    await until('new content', async () => (await sh(`cat ${a.path}/g`)).stdout === 'new\n', 3000);
  });

  it('trash: a removed file appears in trash/ of the meta mount as INODE|path, moves back through trash/undel', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(1);
    const m = await c.mount();
    const meta = await c.mount({ meta: true });
    const local = makeTempDir();
    const s = await c.session();
    await shOk(`mkdir -p ${m.path}/d/e ${m.path}/quick && head -c 3000000 /dev/urandom > ${local}/f && cp ${local}/f ${m.path}/d/e/kept`);
    await s.settrashtime((await s.resolve('/d')).inode, 3600, { recursive: true });
    await s.settrashtime((await s.resolve('/quick')).inode, 0);
    const inode = (await s.resolve('/d/e/kept')).inode;
    await shOk(`echo x > ${m.path}/quick/gone && rm ${m.path}/d/e/kept ${m.path}/quick/gone`);
    expect(await shOk(`ls -a ${meta.path}`)).toBe('.\n..\nsustained\ntrash\n');
    const name = `${inode.toString(16).toUpperCase().padStart(8, '0')}|d|e|kept`;
    const trash = await shOk(`ls ${meta.path}/trash`);
    expect(trash).toBe(`${name}\nundel\n`); // quick/gone (trashtime 0) is not there
    expect(await shOk(`stat -c %s '${meta.path}/trash/${name}'`)).toBe('3000000\n');
    await shOk(`mv '${meta.path}/trash/${name}' ${meta.path}/trash/undel/`);
    expect(await shOk(`ls ${meta.path}/trash`)).toBe('undel\n');
    await until('file back', async () => (await sh(`test -e ${m.path}/d/e/kept`)).code === 0, 3000);
    await shOk(`cmp ${local}/f ${m.path}/d/e/kept`);
    // rm in trash/ purges at once
    await shOk(`rm ${m.path}/d/e/kept && rm '${meta.path}/trash/${name}'`);
    expect(await (await c.session({ meta: true })).trashList()).toEqual([]);
  });

  // docs/mount.md, "Master outage"; the same without FUSE: test/master-restart-io.test.ts.
  it('a master killed and restarted under a running copy: the copy finishes, identical', { timeout: 120_000 }, async () => {
    // The default REPLICATIONS_DELAY_INIT: chunkservers get time to report to the new master.
    const c = await Cluster.create();
    await c.addChunkservers(2);
    const m = await c.mount({ options: ['mfstimeout=60'] });
    const local = makeTempDir();
    // One large file: the kill lands while data stream to the chunkservers, and often
    // between the master logging a grant and the chunkservers applying it (docs/master.md,
    // "Interrupted grants").
    await shOk(`mkdir ${local}/src && head -c 150000000 /dev/urandom > ${local}/src/big && echo small > ${local}/src/small`);
    const copy = sh(`cp -r ${local}/src ${m.path}/dst && sync`, { timeoutMs: 100_000 });
    await new Promise((r) => setTimeout(r, 400));
    await c.master.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    await c.master.start();
    const r = await copy;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await shOk(`diff -r ${local}/src ${m.path}/dst`);
    // open files keep working across the new session
    await shOk(`exec 3>>${m.path}/dst/small; echo more >&3; exec 3>&-; test "$(cat ${m.path}/dst/small)" = "$(printf 'small\nmore')"`);
    const stats = await shOk(`cat ${m.path}/.stats`);
    expect(stats).toMatch(/master_reconnects: [1-9]/);
  });
});
