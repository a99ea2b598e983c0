/**
 * Locks held survive a takeover (issue 12; docs/master.md, "Locks"): the lock table is
 * client state replicated through the changelog, so the next leader knows every lock;
 * a waiter blocked on the old leader asks the new one again. Real etcd, two real masters,
 * two real mounts.
 */
import { describe, expect, it } from 'vitest';
import { Mount, makeTempDir } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, caughtUp } from './fixture/ha-group.js';
import { lockDrivers } from './fixture/lock-driver.js';

const driver = lockDrivers();

describe('locks across a takeover', () => {
  it('a POSIX lock and a flock held before the leader is killed are still held after; a blocked F_SETLKW is granted by the new leader', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 2);
    const first = await group.leader();
    const [a, b] = await Promise.all([
      Mount.start({ masters: group.addresses, path: makeTempDir('tsmfs-locks-a-') }),
      Mount.start({ masters: group.addresses, path: makeTempDir('tsmfs-locks-b-') }),
    ]);
    const [p, q, r] = await Promise.all([driver(), driver(), driver()]);
    const fp = await p.open(`${a.path}/f`);
    const fq = await q.open(`${b.path}/f`);
    const fr = await r.open(`${b.path}/f`);
    expect(await p.errno(`fcntl ${fp} SETLK WR 0 100`)).toBeUndefined();
    expect(await p.errno(`flock ${fp} EX`)).toBeUndefined();
    const waited = q.send(`fcntl ${fq} SETLKW WR 10 1`);

    await caughtUp(first.leader, group.masters.filter((m) => m !== first.leader));
    await first.leader.kill('SIGKILL');
    await group.leader(group.masters.filter((m) => m !== first.leader));

    // Still held, as seen from the other mount through the new leader.
    expect(await r.errno(`fcntl ${fr} SETLK RD 50 1`)).toBe('EAGAIN');
    expect(await r.send(`fcntl ${fr} GETLK RD 0 0`)).toEqual({ type: 'WR', start: 0, len: 100, pid: p.pid });
    expect(await r.errno(`flock ${fr} SH+NB`)).toBe('EAGAIN');
    // The holder lets go through the new leader: the waiter, re-sent there, gets it.
    expect(await p.errno(`fcntl ${fp} SETLK UN 0 0`)).toBeUndefined();
    expect((await waited).errno).toBeUndefined();
    expect(await r.errno(`fcntl ${fr} SETLK RD 10 1`)).toBe('EAGAIN');
    expect(await r.errno(`fcntl ${fr} SETLK RD 20 1`)).toBeUndefined();
    expect(await p.errno(`flock ${fp} UN`)).toBeUndefined();
    expect(await r.errno(`flock ${fr} SH+NB`)).toBeUndefined();
  });
});
