/**
 * The HA group's election on a real etcd (docs/ha.md): masters on one etcd elect exactly
 * one leader; a killed leader is replaced by a follower at a higher epoch; a leader
 * stopped past its lease accepts no change when it resumes; a leader that loses etcd
 * holds changes and goes on when etcd is back. What followers replay is
 * test/ha-shadow.test.ts's subject.
 */
import { type Connection, dial, isNotLeader, leaderHint } from '@tsmfs/rpc';
import { describe, expect, it } from 'vitest';
import { Chunkserver, type Master, freePorts, openSession } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, metrics, status } from './fixture/ha-group.js';
import { until } from './fixture/poll.js';

const ROOT = { uid: 0, gid: 0, groups: [0] };

/** A client link registered on `m` by hand: no redirect, no re-send, what the master answers is what we see. */
async function rawSession(m: Master): Promise<Connection> {
  const { conn } = await dial({ host: '127.0.0.1', port: m.ports.matocl, role: 'client', name: 'ha-test' });
  await conn.request('register', { subdir: '/', meta: false, readonly: false, hostname: 'ha-test', mountpoint: '/ha' });
  return conn;
}

function mkdir(conn: Connection, name: string) {
  return conn.request('mkdir', { cred: ROOT, parent: 1, name, mode: 0o755, umask: 0 });
}

describe('HA election on etcd', () => {
  it('elects exactly one leader; a SIGKILLed leader is replaced at a higher epoch; clients follow the leader', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3);
    const first = await group.leader();
    const followers = group.masters.filter((m) => m !== first.leader);
    expect(first.status.epoch).toBeGreaterThan(1);
    expect(first.status.mutable).toBe(true);
    for (const f of followers) {
      const s = await status(f);
      expect(s).toMatchObject({ role: 'follower', epoch: first.status.epoch, mutable: false });
      expect(s.leader?.client).toBe(`127.0.0.1:${first.leader.ports.matocl}`);
    }
    expect(await metrics(first.leader)).toMatch(/^tsmfs_master_role\{role="leader"\} 1$/m);
    expect(await metrics(followers[0]!)).toMatch(/^tsmfs_master_role\{role="follower"\} 1$/m);
    expect(await metrics(followers[0]!)).toMatch(new RegExp(`^tsmfs_master_epoch ${first.status.epoch}$`, 'm'));

    // A follower refuses a session and names the leader's client port.
    const { conn } = await dial({ host: '127.0.0.1', port: followers[0]!.ports.matocl, role: 'client', name: 'ha-test' });
    const refused = await conn.request('register', { subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/m' }).catch((e: unknown) => e);
    expect(isNotLeader(refused)).toBe(true);
    expect(leaderHint(refused)).toEqual(first.leader.address);
    conn.close();

    // A client given the followers first ends up on the leader.
    const session = await openSession({ masters: [...followers.map((f) => f.address), first.leader.address], hostname: 'ha', mountpoint: '/ha' });
    expect(session.info.master).toEqual(first.leader.address);
    await session.mkdir(1, 'before');

    await first.leader.kill('SIGKILL');
    const second = await group.leader(followers);
    expect(second.status.epoch).toBeGreaterThan(first.status.epoch);
    expect(second.status.failovers).toBeGreaterThanOrEqual(1);
    expect(await metrics(second.leader)).toMatch(/^tsmfs_master_failovers_total [1-9]/m);
    // The session follows: its next change is made on the new leader.
    await session.mkdir(1, 'after');
    expect(session.info.master).toEqual(second.leader.address);
    expect((await session.lookup(1, 'after')).type).toBe('dir');

    // The old leader comes back as a follower of the new epoch.
    await first.leader.start();
    const third = await group.leader();
    expect(third.leader).toBe(second.leader);
    expect((await status(first.leader)).role).toBe('follower');

    // A clean stop resigns: the key is deleted and another takes over.
    await second.leader.stop();
    expect(second.leader.logs().some((l) => l.msg === 'resigned the leadership')).toBe(true);
    const fourth = await group.leader();
    expect(fourth.status.epoch).toBeGreaterThan(second.status.epoch);
    session.close();
  });

  it('a leader stopped past its lease accepts no change when it resumes; chunkservers go to the new leader', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 2);
    const old = await group.leader();
    const other = group.masters.find((m) => m !== old.leader)!;
    const [port] = await freePorts(1);
    const cs = new Chunkserver(group.dir, old.leader.ports, port!, 'cs1', {
      config: { MASTER_HOST: group.masters.map((m) => `127.0.0.1:${m.ports.matocs}`).join(',') },
    });
    await cs.start({ waitRegistered: false });
    await until('the chunkserver registered with the leader', async () => (cs.logs().some((l) => l.msg === 'registered with the master' && l.master === `127.0.0.1:${old.leader.ports.matocs}`) ? true : undefined));
    const zombieLink = await rawSession(old.leader);
    await mkdir(zombieLink, 'while-leading');
    const versionBefore = (await status(old.leader)).metadataVersion;

    process.kill(old.leader.process!.pid, 'SIGSTOP');
    let pending: Promise<unknown> | undefined;
    try {
      const next = await group.leader([other], 20_000);
      expect(next.status.epoch).toBeGreaterThan(old.status.epoch);
      // Sent while it is stopped: it reads it when it resumes, past its lease.
      pending = mkdir(zombieLink, 'from-the-zombie').then(
        () => 'accepted',
        (e: unknown) => e,
      );
    } finally {
      process.kill(old.leader.process!.pid, 'SIGCONT');
    }
    const answer = await pending;
    expect(isNotLeader(answer), `the resumed leader's answer: ${String(answer)}`).toBe(true);
    // It stepped down; its metadata did not move; it follows the new leader.
    const after = await until('the old leader follows', async () => {
      const s = await status(old.leader);
      return s.role === 'follower' && s.leader !== null ? s : undefined;
    });
    expect(after.metadataVersion).toBe(versionBefore);
    expect(after.leader!.client).toBe(`127.0.0.1:${other.ports.matocl}`);
    expect(old.leader.logs().some((l) => l.msg === 'no longer the leader: dropping every link')).toBe(true);
    // The chunkserver is registered with the new leader (it registers with every master).
    await until('the chunkserver registered with the new leader', async () => (cs.logs().some((l) => l.msg === 'registered with the master' && l.master === `127.0.0.1:${other.ports.matocs}`) ? true : undefined));
  });

  it('etcd down: the leader holds changes, serves reads until a whole TTL has passed, then steps down; it leads again at the same epoch when etcd is back', async () => {
    const etcd = await Etcd.start();
    // TTL 6: changes are held from 4 s after the last confirmed keepalive, reads served until 6 s.
    const group = await HaGroup.create(etcd, 1, { HA_LEASE_TTL: 6 });
    const { leader, status: s0 } = await group.leader();
    expect(s0.leaseTtlMs).toBe(6000);
    const session = await leader.session();
    await session.mkdir(1, 'before');
    const version = (await status(leader)).metadataVersion;

    await etcd.kill('SIGKILL');
    await until('changes held', async () => ((await status(leader)).mutable ? undefined : true), 10_000, 50);
    let settled = false;
    const held = session.mkdir(1, 'during').finally(() => {
      settled = true;
    });
    // Reads are served meanwhile; the change is not made.
    expect((await session.lookup(1, 'before')).type).toBe('dir');
    await expect(session.lookup(1, 'during')).rejects.toMatchObject({ code: 'ENOENT' });
    // A whole TTL without etcd: it steps down (another master could have been elected).
    await until('stepped down', async () => ((await status(leader)).role === 'follower' ? true : undefined), 15_000, 100);
    expect((await status(leader)).metadataVersion).toBe(version);
    expect(settled).toBe(false);

    // etcd is back with our key and lease: leader again, same epoch; the held change is made once.
    await etcd.start();
    const attr = await held;
    expect(attr.type).toBe('dir');
    const s2 = await status(leader);
    expect(s2).toMatchObject({ role: 'leader', epoch: s0.epoch, mutable: true });
    expect(s2.metadataVersion).toBeGreaterThan(version);
    expect(leader.logs().some((l) => l.msg === 'leadership resumed: etcd kept our key and lease')).toBe(true);
    session.close();
  });
});
