/**
 * Metalogger and metarestore end to end (issue 5): a real master, a real tsmfs-metalogger
 * and the tsmfs-metarestore command, through the client library.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalState, decodeDump } from '@tsmfs/master';
import { describe, expect, it } from 'vitest';
import {
  Cluster,
  Master,
  type Metalogger,
  freePorts,
  makeTempDir,
  openSession,
  runMetarestore,
} from './fixture/cluster.js';
import { Workload } from './fixture/namespace-workload.js';

const SEED = Number(process.env.TSMFS_TEST_SEED ?? Date.now() % 1_000_000);

function stateOf(file: string): unknown {
  return canonicalState(decodeDump(readFileSync(file)));
}

/** Every version once, in order, from the first to `last`. */
function expectNoGapNoDuplicate(versions: number[], last: number): void {
  expect(versions.length).toBeGreaterThan(0);
  const first = versions[0]!;
  const problems: string[] = [];
  for (let i = 1; i < versions.length; i++) {
    if (versions[i] !== versions[i - 1]! + 1) problems.push(`${versions[i - 1]} then ${versions[i]}`);
  }
  expect(problems, 'gaps or duplicates in the metalogger changelog').toEqual([]);
  expect(versions[versions.length - 1]).toBe(last);
  expect(first).toBeLessThanOrEqual(last);
}

/** Stops the metalogger and the master cleanly, restores the metalogger's folder, compares with the master's shutdown dump. */
async function expectRestoreEqualsMaster(cluster: Cluster, ml: Metalogger): Promise<number> {
  const version = cluster.master.changelogVersion();
  await ml.waitForVersion(version);
  await ml.stop();
  await cluster.master.stop(); // SIGTERM: the master dumps its state at exactly `version`
  const r = await runMetarestore(['-a', '-d', ml.dataPath]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`restored version ${version} `);
  expect(stateOf(join(ml.dataPath, 'metadata.tsmfs'))).toEqual(stateOf(join(cluster.master.dataPath, 'metadata.tsmfs')));
  return version;
}

/** A few operations the namespace workload does not do: xattrs, chmod, symlinks, truncate, trash. */
async function variedOps(session: Awaited<ReturnType<Cluster['session']>>): Promise<void> {
  const d = await session.mkdir(session.root, 'varied', 0o750);
  for (let i = 0; i < 20; i++) {
    const f = await session.create(d.inode, `f${i}`, 0o644);
    await session.setxattr(f.inode, 'user.k', Buffer.from([i, 0, 255]));
    await session.setattr(f.inode, { mode: 0o600, size: i * 1000 });
    await session.symlink(d.inode, `l${i}`, `f${i}`);
    if (i % 3 === 0) await session.unlink(d.inode, `f${i}`);
  }
}

describe('metalogger', () => {
  it('stream equality: its dump + changelogs restore to the state of the master', async () => {
    const cluster = await Cluster.create();
    const ml = await cluster.addMetalogger();
    const session = await cluster.session();
    const load = await Workload.create(session, 'load', { workers: 4, seed: SEED });
    await load.runFor(800);
    await variedOps(session);
    session.close();
    const version = await expectRestoreEqualsMaster(cluster, ml);
    expectNoGapNoDuplicate(ml.changelogVersions(), version);
  });

  it('metalogger and master restarted mid-workload: no gap, no duplicate, same state', async () => {
    const cluster = await Cluster.create();
    const { master } = cluster;
    const ml = await cluster.addMetalogger();
    const session = await cluster.session({ reconnectTimeoutMs: 60_000 });
    const load = await Workload.create(session, 'load', { workers: 3, seed: SEED });
    const running = load.run();
    running.catch(() => {});
    const more = (n: number): Promise<unknown> => Promise.race([load.untilAcked(load.acked + n), running]);
    await more(150);
    await ml.kill('SIGKILL'); // metalogger crash
    await more(150);
    await ml.start();
    await more(150);
    master.process!.child.kill('SIGUSR2'); // a dump and a rotation on the master
    await more(100);
    await master.kill('SIGKILL'); // master crash
    await master.start();
    await more(150);
    // The metalogger must have found each new master life before the next one starts;
    // otherwise one reconnect covers two lives and nothing is tested across the second.
    await ml.waitForVersion(master.changelogVersion());
    await master.restart(); // clean restart: shutdown dump, rotation
    await more(100);
    await ml.waitForVersion(master.changelogVersion());
    await ml.stop(); // clean metalogger restart: downloads the newer dump, rotates
    await ml.start();
    await more(150);
    load.stop();
    await running;
    session.close();
    const reconnects = ml.logs().filter((l) => l.msg === 'connected to the master').length;
    expect(reconnects).toBeGreaterThanOrEqual(4);
    const version = await expectRestoreEqualsMaster(cluster, ml);
    expectNoGapNoDuplicate(ml.changelogVersions(), version);
    const files = readdirSync(ml.dataPath).filter((f) => f.startsWith('changelog_ml.'));
    expect(files.length).toBeGreaterThanOrEqual(2); // rotated at each dump download
    expect(readdirSync(ml.dataPath)).toContain('metadata_ml.tsmfs.back.1');
  });

  it('promotion drill: master killed and its DATA_PATH lost; metarestore on the metalogger; clients move to the new master', async () => {
    const cluster = await Cluster.create();
    const old = cluster.master;
    const ml = await cluster.addMetalogger();
    const [matocl, matocs, matoml, http] = await freePorts(4);
    const session = await openSession({
      masters: [old.address, { host: '127.0.0.1', port: matocl! }],
      hostname: 'e2e',
      mountpoint: '/e2e',
      reconnectTimeoutMs: 60_000,
      cred: { uid: 0, gid: 0, groups: [] },
    });
    const dir = (await session.mkdir(session.root, 'drill', 0o755)).inode;

    // Creates, 8 in flight, each ack timed; lag sampled as (master version − metalogger version).
    const acked = new Map<string, number>();
    let stop = false;
    let n = 0;
    const writer = async (): Promise<void> => {
      while (!stop) {
        const name = `f${n++}`;
        await session.create(dir, name, 0o644);
        acked.set(name, performance.now());
      }
    };
    const writers = Promise.all(Array.from({ length: 8 }, writer));
    writers.catch(() => {});
    const behind: number[] = [];
    const t0 = performance.now();
    while (performance.now() - t0 < 2500) {
      behind.push(old.changelogVersion() - ml.lastVersion());
      await new Promise((r) => setTimeout(r, 10));
    }
    // Acks that arrive before the session re-registers come from the old master (some may
    // be in flight while it dies); only those can be lost, and only within the lag.
    let reconnectedAt = Number.POSITIVE_INFINITY;
    session.once('reconnect', () => {
      reconnectedAt = performance.now();
    });
    const killAt = performance.now();
    await old.kill('SIGKILL');
    rmSync(old.dataPath, { recursive: true, force: true }); // the master's machine is gone

    // Promotion: stop the metalogger, restore its folder, start a master there.
    await ml.stop();
    const restored = await runMetarestore(['-a', '-d', ml.dataPath]);
    expect(restored.code, restored.stderr).toBe(0);
    const promoted = new Master(cluster.dir, { matocl: matocl!, matocs: matocs!, matoml: matoml!, http: http! }, { dataPath: ml.dataPath, name: 'promoted' });
    await promoted.start();
    const ackedAtStart = acked.size;
    while (acked.size <= ackedAtStart) await new Promise((r) => setTimeout(r, 5));
    const firstWriteMs = performance.now() - killAt;
    stop = true;
    await writers;

    const present = new Set((await session.readdir(dir)).map((e) => e.name));
    const ackedBeforeKill = new Map([...acked].filter(([, at]) => at < reconnectedAt));
    const lost = [...ackedBeforeKill].filter(([name]) => !present.has(name));
    const lostAgeMs = lost.map(([, at]) => killAt - at);
    const sorted = [...behind].sort((a, b) => a - b);
    const p = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    const lagWindowMs = 250; // generous bound on the metalogger's time lag under this load
    console.log(
      `promotion drill: ${ackedBeforeKill.size} creates acknowledged before the kill, ${lost.length} lost ` +
        `(ages ${lostAgeMs.map((a) => a.toFixed(1)).join(', ') || '-'} ms); metalogger behind p50 ${p(0.5)} p99 ${p(0.99)} max ${sorted[sorted.length - 1]} versions; ` +
        `restore ${restored.ms.toFixed(0)} ms; kill → first acknowledged write on the new master ${firstWriteMs.toFixed(0)} ms; session ${JSON.stringify(session.stats)}`,
    );
    expect(ackedBeforeKill.size).toBeGreaterThan(200);
    // Whatever was acknowledged longer ago than the metalogger's lag is on the new master.
    expect(lostAgeMs.filter((age) => age > lagWindowMs)).toEqual([]);
    // Everything the promoted master acknowledged is there.
    for (const [name, at] of acked) if (at >= reconnectedAt) expect(present.has(name), name).toBe(true);
    expect(session.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(firstWriteMs).toBeLessThan(20_000);
  });
});

describe('tsmfs-metarestore: bad input', () => {
  /** A metalogger folder with a dump and a changelog of a few hundred entries, everything stopped. */
  async function metaloggerFolder(): Promise<{ dir: string; version: number }> {
    const cluster = await Cluster.create();
    const ml = await cluster.addMetalogger();
    const session = await cluster.session();
    const load = await Workload.create(session, 'load', { workers: 2, seed: SEED });
    await load.runFor(200);
    session.close();
    const version = cluster.master.changelogVersion();
    await ml.waitForVersion(version);
    await ml.stop();
    await cluster.stop();
    return { dir: ml.dataPath, version };
  }

  function snapshot(dir: string): Record<string, string> {
    return Object.fromEntries(readdirSync(dir).map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));
  }

  it('refuses an empty folder, a damaged dump and a hole in the changelog, writing nothing', async () => {
    const empty = makeTempDir();
    const r0 = await runMetarestore(['-a', '-d', empty]);
    expect(r0.code).not.toBe(0);
    expect(r0.stderr).toMatch(/no metadata dump in .*looked for metadata\.tsmfs, metadata_ml\.tsmfs/);
    expect(readdirSync(empty)).toEqual([]);

    const { dir, version } = await metaloggerFolder();
    const dump = join(dir, 'metadata_ml.tsmfs');
    const changelog = join(dir, 'changelog_ml.0.tsmfs');

    // A flipped byte in the dump.
    const pristine = readFileSync(dump);
    const fd = openSync(dump, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, Math.floor(pristine.length / 2));
    b[0] = b[0]! ^ 0x10;
    writeSync(fd, b, 0, 1, Math.floor(pristine.length / 2));
    closeSync(fd);
    const before = snapshot(dir);
    const r1 = await runMetarestore(['-a', '-d', dir]);
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toMatch(/metadata dump .*metadata_ml\.tsmfs is damaged \(.*checksum mismatch\): nothing was written/);
    expect(snapshot(dir)).toEqual(before);
    writeFileSync(dump, pristine);

    // Versions 50..59 cut out of the changelog.
    const lines = readFileSync(changelog, 'utf8').split('\n');
    const firstVersion = Number(lines[0]!.split('|')[0]);
    const holed = lines.filter((l) => {
      const v = Number(l.split('|')[0]);
      return !(v >= 50 && v <= 59);
    });
    expect(firstVersion).toBeLessThan(50);
    writeFileSync(changelog, holed.join('\n'));
    const before2 = snapshot(dir);
    const r2 = await runMetarestore(['-a', '-d', dir]);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/versions 50\.\.59 are missing: .*changelog_ml\.0\.tsmfs:\d+ continues with version 60 after version 49/);
    expect(snapshot(dir)).toEqual(before2);
    expect(existsSync(join(dir, 'metadata.tsmfs'))).toBe(false);

    // Explicit form, with the files put right: works and says the version reached.
    writeFileSync(changelog, lines.join('\n'));
    const out = join(makeTempDir(), 'metadata.tsmfs');
    const r3 = await runMetarestore(['-m', dump, '-o', out, changelog]);
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.stdout).toContain(`restored version ${version} `);
    expect(existsSync(out)).toBe(true);

    // Usage errors: exit 2.
    expect((await runMetarestore(['-m', dump])).code).toBe(2);
  });
});
