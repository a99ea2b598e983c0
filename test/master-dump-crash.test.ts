/**
 * A dump must never be newer than the durable changelog. A master killed right after a
 * dump at version V was renamed into place, while its changelog (CHANGELOG_SAVE_MODE 0)
 * still held only older versions, restarted at V and appended V+1 right after the old
 * tail: every later start then failed with "versions ... are missing", and so did a
 * metalogger or tsmfs-metarestore crossing the hole. The dump now waits for the
 * changelog to be fsynced up to V before it is renamed.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DUMP_FILE, dumpVersion } from '@tsmfs/metastore';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';

/** Long enough that the background save never runs within the test. */
const NEVER_MS = 60_000;
/** Changelog backlog left unsaved before the dump: large, so that writing it out takes a while. */
const BACKLOG_OPS = 300;
const XATTR_VALUE = 60_000;

/**
 * Sends SIGUSR2 (dump now) and SIGKILLs the master the moment a new metadata.tsmfs is in
 * place: polled synchronously, so nothing else of this process runs in between.
 */
function killRightAfterDump(pid: number, dumpPath: string, timeoutMs: number): void {
  const before = statSync(dumpPath).ino;
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ino: number | undefined;
    try {
      ino = statSync(dumpPath).ino;
    } catch {
      // between unlink and rename on some filesystems: look again
    }
    if (ino !== undefined && ino !== before) break;
    if (Date.now() > deadline) throw new Error(`no new ${DUMP_FILE} within ${timeoutMs} ms of SIGUSR2`);
  }
  process.kill(pid, 'SIGKILL');
}

describe('a master SIGKILLed right after a metadata dump (CHANGELOG_SAVE_MODE 0)', () => {
  it('finds every version up to the dump in its changelog and starts again, twice', async () => {
    const cluster = await Cluster.create({ master: { config: { CHANGELOG_SAVE_MODE: 0, CHANGELOG_SAVE_INTERVAL_MS: NEVER_MS } } });
    const master = cluster.master;
    const s = await cluster.session();
    const file = await s.create(s.root, 'kept');
    await s.metaSync(); // changelog.0 now holds entries: the hole would be after them
    const value = (i: number): Uint8Array => new Uint8Array(XATTR_VALUE).fill(i % 251);
    for (let i = 0; i < BACKLOG_OPS; i++) await s.setxattr(file.inode, 'user.big', value(i));
    s.close();

    const dumpPath = join(master.dataPath, DUMP_FILE);
    const killed = master.process!;
    killRightAfterDump(killed.pid, dumpPath, 60_000);
    await killed.exited;

    const dumped = dumpVersion(readFileSync(dumpPath));
    expect(dumped).toBeGreaterThan(BACKLOG_OPS);
    // The invariant itself: the files hold every version the dump covers.
    expect(master.changelogVersion()).toBeGreaterThanOrEqual(dumped);

    // Continue past the dump, make it durable, crash again: start-up replays across V.
    await master.start();
    const s2 = await cluster.session();
    await s2.create(s2.root, 'after');
    await s2.metaSync();
    s2.close();
    await master.kill('SIGKILL');
    await master.start();

    const s3 = await cluster.session();
    const names = (await s3.readdir(s3.root)).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['kept', 'after']));
    const kept = await s3.lookup(s3.root, 'kept');
    expect(Buffer.from(await s3.getxattr(kept.inode, 'user.big')).equals(Buffer.from(value(BACKLOG_OPS - 1)))).toBe(true);
    s3.close();
  });
});
