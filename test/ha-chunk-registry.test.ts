/**
 * Chunkservers report to every master of the group (issue 12; docs/ha.md, "Chunkservers
 * and followers"): a follower that takes over already knows where every copy is, at its
 * current version, so a read issued the moment the new leader answers gets its bytes —
 * no EIO, no wait for the chunkservers to register again. With a synchronous standby the
 * takeover does not wait for the dead leader's lease either: the standby finds nothing
 * listening on the leader's port and revokes it. Real etcd, three real masters, three
 * real chunkservers, real FUSE mounts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mount, makeTempDir } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, caughtUp, status } from './fixture/ha-group.js';
import { until } from './fixture/poll.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('chunkservers report to every master', () => {
  it('a read right after a SIGKILL takeover gets its bytes from the copies the new leader knew as a follower', async () => {
    const etcd = await Etcd.start();
    // With a synchronous standby: the takeover does not wait out the dead leader's lease either.
    const group = await HaGroup.create(etcd, 3, { HA_SYNC_STANDBYS: 1 });
    const first = await group.leader();
    const css = await group.chunkservers(3);
    // Each chunkserver registers with all three masters.
    await Promise.all(css.flatMap((cs) => group.masters.map((m) => cs.waitRegisteredWith(`${m.host}:${m.ports.matocs}`, 30_000))));
    const writer = await Mount.start({ masters: group.addresses, path: makeTempDir('tsmfs-csall-w-') });
    // The reader mount opens its session now and reads nothing before the kill: its reads
    // after it go to the master (no page cache, no chunk locations cached).
    const reader = await Mount.start({ masters: group.addresses, path: makeTempDir('tsmfs-csall-r-') });

    const files = new Map<string, Buffer>();
    for (let i = 0; i < 4; i++) {
      const data = randomBytes(200_000 + i * 50_000);
      await writeFile(join(writer.path, `f${i}`), data);
      files.set(`f${i}`, data);
    }
    // Changes the leader makes by command after the copies were reported: a rewrite in
    // place (a new version on every copy) and a truncation (chunkTruncate).
    const f0 = files.get('f0')!;
    const patch = randomBytes(4096);
    const h = await open(join(writer.path, 'f0'), 'r+');
    await h.write(patch, 0, patch.length, 1000);
    await h.sync();
    await h.close();
    patch.copy(f0, 1000);
    await truncate(join(writer.path, 'f1'), 77_777);
    files.set('f1', files.get('f1')!.subarray(0, 77_777));
    const followers = group.masters.filter((m) => m !== first.leader);
    await caughtUp(first.leader, followers);
    await until('a full synchronous set', async () => ((await status(first.leader)).sync?.set.length === 1 ? true : undefined), 30_000, 50);
    const registrations = (m: (typeof group.masters)[number]) => m.logs().filter((l) => l.msg === 'chunkserver registered').length;
    const before = new Map(followers.map((m) => [m, registrations(m)]));

    await first.leader.kill('SIGKILL');
    const next = await until(
      'a follower leading and admitting changes',
      async () => {
        for (const m of followers) if ((await status(m).catch(() => undefined))?.mutable) return m;
        return undefined;
      },
      30_000,
      10,
    );
    // At once: every file, byte for byte, through the mount that never read them.
    for (const [name, data] of files) expect(sha(await readFile(join(reader.path, name))), name).toBe(sha(data));
    // No chunkserver registered again with the new leader: it knew them as a follower.
    expect(registrations(next)).toBe(before.get(next));
    // The standby found the leader's port refusing connections and revoked its lease (docs/ha.md).
    expect(followers.some((m) => m.logs().some((l) => l.msg?.startsWith("the leader's port refuses connections")))).toBe(true);
    const lead = next.logs().find((l) => l.msg === 'leading with the chunk locations reported to this master as a follower');
    expect(lead?.chunkservers).toBe(3);

    // The new leader commands: a new file written and read back through the other mount.
    const fresh = randomBytes(123_456);
    await writeFile(join(reader.path, 'after'), fresh);
    expect(sha(await readFile(join(writer.path, 'after')))).toBe(sha(fresh));
    // Only the leader ever commanded: no chunkserver refused a command from a follower.
    for (const cs of css) expect(cs.logs().filter((l) => l.msg === 'command from a master that does not lead refused')).toEqual([]);
    await reader.unmount();
    await writer.unmount();
  });
});
