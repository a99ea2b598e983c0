/**
 * CHANGELOG_SAVE_MODE with real processes: what a master SIGKILL loses in each mode
 * (docs/master.md, "Save modes"), and a client's fsync/fsyncdir through a real mount
 * making metadata durable even in mode 0.
 */
import { closeSync, fsyncSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount } from './fixture/cluster.js';

/** Long enough that the background save never runs within a test. */
const NEVER_MS = 60_000;

async function modeCluster(mode: number, intervalMs: number): Promise<Cluster> {
  return Cluster.create({ master: { config: { CHANGELOG_SAVE_MODE: mode, CHANGELOG_SAVE_INTERVAL_MS: intervalMs } } });
}

/** Which of `names` exist in the root after a SIGKILL of the master and a restart. */
async function survivorsOfKill(cluster: Cluster, names: string[]): Promise<string[]> {
  await cluster.master.kill('SIGKILL');
  await cluster.master.start();
  const s = await cluster.session();
  const present = new Set((await s.readdir(s.root)).map((e) => e.name));
  s.close();
  return names.filter((n) => present.has(n));
}

async function createAll(cluster: Cluster, names: string[]): Promise<void> {
  const s = await cluster.session();
  for (const n of names) await s.create(s.root, n);
  s.close();
}

describe('CHANGELOG_SAVE_MODE: a master SIGKILL', () => {
  for (const mode of [1, 2]) {
    it(`mode ${mode}: loses no acknowledged create, with no background save to help`, async () => {
      const cluster = await modeCluster(mode, NEVER_MS);
      const names = Array.from({ length: 20 }, (_, i) => `f${i}`);
      await createAll(cluster, names);
      expect(await survivorsOfKill(cluster, names)).toEqual(names);
    });
  }

  it('mode 0: acknowledged creates are on disk once the save interval has passed', async () => {
    const intervalMs = 200;
    const cluster = await modeCluster(0, intervalMs);
    const names = ['a', 'b', 'c'];
    await createAll(cluster, names);
    await new Promise((r) => setTimeout(r, intervalMs + 1500));
    expect(await survivorsOfKill(cluster, names)).toEqual(names);
  });

  it('mode 0: what the interval has not saved yet is lost (the documented window is real)', async () => {
    const cluster = await modeCluster(0, NEVER_MS);
    await createAll(cluster, ['unsaved']);
    expect(await survivorsOfKill(cluster, ['unsaved'])).toEqual([]);
  });

  it('the deprecated CHANGELOG_FSYNC = 0 is mode 1, with a warning', async () => {
    const cluster = await Cluster.create({ master: { config: { CHANGELOG_FSYNC: 0, CHANGELOG_SAVE_MODE: 0, CHANGELOG_SAVE_INTERVAL_MS: NEVER_MS } } });
    const warning = cluster.master.logs().find((l) => l.level === 40 && JSON.stringify(l).includes('CHANGELOG_FSYNC is deprecated'));
    expect(warning, cluster.master.process!.output()).toBeDefined();
    await createAll(cluster, ['kept']);
    expect(await survivorsOfKill(cluster, ['kept'])).toEqual(['kept']);
  });
});

describe('fsync and fsyncdir through the mount make metadata durable in mode 0', () => {
  it('create + fsyncdir, create + fsync survive a SIGKILL right after; a create with neither does not', async () => {
    const cluster = await modeCluster(0, NEVER_MS);
    const mount = await cluster.mount();
    writeFileSync(join(mount.path, 'synced-by-dir'), '');
    const dir = openSync(mount.path, 'r');
    try {
      fsyncSync(dir); // FUSE_FSYNCDIR
    } finally {
      closeSync(dir);
    }
    const fd = openSync(join(mount.path, 'synced-by-file'), 'w');
    try {
      fsyncSync(fd); // FUSE_FSYNC
    } finally {
      closeSync(fd);
    }
    writeFileSync(join(mount.path, 'not-synced'), '');
    expect(await survivorsOfKill(cluster, ['synced-by-dir', 'synced-by-file', 'not-synced'])).toEqual(['synced-by-dir', 'synced-by-file']);
  });
});
