/**
 * tsmfs-mount with the rest of the cluster (issue 4): two mounts of one file system,
 * trash and the meta mount, a master killed and restarted under a running copy, a master
 * restarted with files open on a mount (issue 13 item 10).
 */
import { open, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';
import { readFrom0 } from './fixture/session-files.js';

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

  it('a lone master restarted (SIGTERM, then SIGKILL) with files open on a mount: same session, open files (one unlinked) keep reading and writing; a dead mount\'s unlinked open file goes SESSION_SUSTAIN_TIME after the restart', { timeout: 90_000 }, async () => {
    const SUSTAIN_S = 6;
    const c = await Cluster.create({ master: { config: { SESSION_SUSTAIN_TIME: SUSTAIN_S } } });
    await c.addChunkservers(1);
    const m = await c.mount({ options: ['mfstimeout=60'] });
    const dead = await c.mount();
    const sessionOf = async (mnt: Mount) => /session_id: (\d+)/.exec(await readFile(`${mnt.path}/.stats`, 'utf8'))![1]!;
    const id = await sessionOf(m);
    const s = await c.session();
    // No trash: an unlinked file still open is sustained (as MooseFS's trashtime 0).
    await s.settrashtime(s.root, 0);

    // On the live mount: a named file and an unlinked (sustained) one, both open.
    await writeFile(`${m.path}/kept`, 'kept-0\n');
    const kept = await open(`${m.path}/kept`, 'r+');
    const gone = await open(`${m.path}/gone`, 'w+');
    await gone.write('gone-0\n', 0);
    await gone.sync();
    const goneInode = (await gone.stat()).ino;
    await unlink(`${m.path}/gone`);
    // On the other mount, killed with it open: its session is kept for the mount to come back.
    const orphan = await open(`${dead.path}/orphan`, 'w+');
    await orphan.write('x', 0);
    await orphan.sync();
    const orphanInode = (await orphan.stat()).ino;
    await unlink(`${dead.path}/orphan`);
    const meta = await c.session({ meta: true });
    const sustained = async () => (await meta.sustainedList()).map((e) => e.inode);
    // Killed right before the restart: its session must outlive the master it was on.
    process.kill(dead.pid, 'SIGKILL');
    await dead.waitExit();
    let kAt = 7;
    let gAt = 7;
    let restartedAt = 0;
    for (const how of ['SIGTERM', 'SIGKILL'] as const) {
      if (how === 'SIGTERM') await c.master.stop();
      else await c.master.kill('SIGKILL');
      // Before the new process exists: the sustain time counts from after this.
      restartedAt = Date.now();
      await c.master.start();
      // Through the descriptors opened before the restart: written, synced, read back.
      const k = Buffer.from(`kept-${how}\n`);
      const g = Buffer.from(`gone-${how}\n`);
      await kept.write(k, 0, k.length, kAt);
      await gone.write(g, 0, g.length, gAt);
      kAt += k.length;
      gAt += g.length;
      await Promise.all([kept.sync(), gone.sync()]);
      expect(await sessionOf(m)).toBe(id);
      expect(c.master.logs().some((l) => l.msg === 'client session registered' && String(l.session) === id && l.reattached === true)).toBe(true);
      expect(await sustained()).toEqual(expect.arrayContaining([goneInode, orphanInode]));
    }
    const keptText = 'kept-0\nkept-SIGTERM\nkept-SIGKILL\n';
    const goneText = 'gone-0\ngone-SIGTERM\ngone-SIGKILL\n';
    const buf = Buffer.alloc(100);
    expect(buf.toString('utf8', 0, (await gone.read(buf, 0, 100, 0)).bytesRead)).toBe(goneText);
    // What reached the cluster, read by another client.
    const keptInode = (await s.resolve('/kept')).inode;
    expect((await readFrom0(s, keptInode, 100)).toString()).toBe(keptText);

    // Nobody comes back for the dead mount's session: it ends SESSION_SUSTAIN_TIME after
    // the restart, give or take the sweep's period (sessions.ts: here SESSION_SUSTAIN_TIME),
    // and its file with it; the live mount's unlinked file stays.
    await until('the dead mount\'s sustained file released', async () => !(await sustained()).includes(orphanInode), 4 * SUSTAIN_S * 1000);
    expect(Date.now() - restartedAt).toBeGreaterThanOrEqual(SUSTAIN_S * 1000);
    expect(await sustained()).toContain(goneInode);
    expect(await sessionOf(m)).toBe(id);
    expect(buf.toString('utf8', 0, (await gone.read(buf, 0, 100, 0)).bytesRead)).toBe(goneText);
    // Its last close purges it.
    await gone.close();
    await until('the unlinked file purged at its last close', async () => !(await sustained()).includes(goneInode), 10_000);
    await kept.close();
    await orphan.close().catch(() => {});
  });
});
