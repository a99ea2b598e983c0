/**
 * Synchronous standbys (HA_SYNC_STANDBYS, docs/ha.md): the leader answers a change only
 * once the members of the synchronous set (recorded in etcd) hold it, and only they may
 * take over; a standby that drops out is removed from the set in etcd before the leader
 * answers anything more, and added back once it has caught up. Real etcd, real masters.
 *
 * TSMFS_HA_SYNC_TEST_N=0 runs the first test asynchronously, to watch it lose changes.
 */
import { dial, isNotLeader } from '@tsmfs/rpc';
import { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { type Master, openSession } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, type GroupStatus, metrics, status } from './fixture/ha-group.js';
import { until } from './fixture/poll.js';

type Session = Awaited<ReturnType<typeof openSession>>;

const N = Number(process.env.TSMFS_HA_SYNC_TEST_N ?? 1);
const ROUNDS = 5;

const clients: Etcd3[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** The synchronous set as etcd holds it. */
async function syncKey(etcd: Etcd, group: HaGroup): Promise<{ leader: string; epoch: number; members: string[] } | undefined> {
  const client = new Etcd3({ hosts: etcd.endpoint });
  clients.push(client);
  const v = await client.get(`/tsmfs/${group.clusterName}/sync`).string();
  return v === null ? undefined : JSON.parse(v);
}

const addr = (m: Master): string => `${m.address.host}:${m.address.port}`;

async function setIs(leader: Master, members: Master[], timeoutMs = 30_000): Promise<GroupStatus> {
  const want = members.map(addr).sort();
  return until(
    `synchronous set [${want.join(', ')}] on ${leader.name}`,
    async () => {
      const s = await status(leader).catch(() => undefined);
      return s?.sync && JSON.stringify(s.sync.set) === JSON.stringify(want) ? s : undefined;
    },
    timeoutMs,
    50,
  );
}

/** The leader's status once its synchronous set has `n` members (with an empty one, only it may take over). */
function fullSet(leader: Master, n: number): Promise<GroupStatus> {
  return until(`${n} members in ${leader.name}'s synchronous set`, async () => {
    const s = await status(leader);
    return s.sync?.set.length === n ? s : undefined;
  });
}

/** Every acknowledged name is in the root directory, every acknowledged size on its file. */
async function expectAcked(session: Session, acked: Map<string, number | undefined>, round: string): Promise<void> {
  const present = new Map((await session.readdir(session.root)).map((e) => [e.name, e.inode]));
  const missing = [...acked.keys()].filter((n) => !present.has(n));
  expect(missing, `${round}: acknowledged changes missing on the new leader`).toEqual([]);
  for (const [name, size] of acked) {
    if (size === undefined) continue;
    expect((await session.getattr(present.get(name)!)).size, `${round}: size of ${name}`).toBe(size);
  }
}

describe('synchronous standbys', () => {
  it(`HA_SYNC_STANDBYS = ${N}: a leader SIGKILLed right after a burst of acknowledged changes; the new leader has every one (${ROUNDS} rounds)`, async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3, { HA_SYNC_STANDBYS: N });
    await group.leader();
    const session = await openSession({ masters: group.addresses, hostname: 'sync', mountpoint: '/sync', reconnectTimeoutMs: 60_000 });
    const acked = new Map<string, number | undefined>();
    for (let round = 0; round < ROUNDS; round++) {
      const { leader } = await group.leader();
      const others = group.masters.filter((m) => m !== leader);
      let before: GroupStatus | undefined;
      if (N > 0) {
        before = await fullSet(leader, N);
        const key = await syncKey(etcd, group);
        expect(key).toEqual({ leader: addr(leader), epoch: before.epoch, members: before.sync!.set });
      }
      // A burst pipelined on the link: mkdirs, and files created then given a size.
      const mkdirs = Array.from({ length: 30 }, (_, i) => `r${round}-d${i}`);
      const files = Array.from({ length: 10 }, (_, i) => ({ name: `r${round}-f${i}`, size: 1000 * (round + 1) + i }));
      await Promise.all([
        ...mkdirs.map(async (name) => {
          await session.mkdir(session.root, name);
          acked.set(name, undefined);
        }),
        ...files.map(async ({ name, size }) => {
          const attr = await session.create(session.root, name, 0o644);
          acked.set(name, 0);
          await session.setattr(attr.inode, { size });
          acked.set(name, size);
        }),
      ]);
      if (before && round === 0) {
        // Every follower acks on this leader; a change was answered once the set's member held it.
        const s = await status(leader);
        expect(s.sync!.followers.map((f) => f.member).sort()).toEqual(others.map(addr).sort());
        expect(s.sync!.followers.every((f) => f.connected)).toBe(true);
        const member = s.sync!.followers.find((f) => f.member === s.sync!.set[0])!;
        expect(member.acked).toBe(s.metadataVersion);
        expect(await metrics(leader)).toMatch(new RegExp(`^tsmfs_master_sync_set_size ${N}$`, 'm'));
      }
      await leader.kill('SIGKILL');
      const next = await group.leader(others);
      if (before) expect(before.sync!.set, 'only a member of the set takes over').toContain(addr(next.leader));
      await expectAcked(session, acked, `round ${round + 1}`);
      await leader.start();
    }
    session.close();
  });

  it('a standby killed under load (or stopped past HA_SYNC_TIMEOUT_MS) is dropped from the set in etcd while the leader keeps serving; it catches up and is added back', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 2, { HA_SYNC_STANDBYS: 1, HA_SYNC_TIMEOUT_MS: 1000 });
    const { leader } = await group.leader();
    const standby = group.masters.find((m) => m !== leader)!;
    await setIs(leader, [standby]);
    expect((await syncKey(etcd, group))?.members).toEqual([addr(standby)]);
    const session = await openSession({ masters: group.addresses, hostname: 'sync', mountpoint: '/sync', reconnectTimeoutMs: 60_000 });
    const acked = new Map<string, number | undefined>();
    let stop = false;
    let made = 0;
    const load = (async () => {
      while (!stop) {
        const name = `m${made}`;
        await session.mkdir(session.root, name);
        acked.set(name, undefined);
        made++;
      }
    })();
    const more = async (n: number): Promise<void> => {
      const from = made;
      await until(`${n} more mkdirs acknowledged`, async () => (made >= from + n ? true : undefined), 60_000, 10);
    };
    await more(30);

    // Killed: its link closes, the leader writes the empty set and goes on.
    await standby.kill('SIGKILL');
    await setIs(leader, []);
    expect((await syncKey(etcd, group))?.members).toEqual([]);
    await more(30);
    await standby.start();
    await setIs(leader, [standby]);
    expect((await syncKey(etcd, group))?.members).toEqual([addr(standby)]);
    await more(30);
    expect(leader.logs().some((l) => l.msg === 'standby leaves the synchronous set' && l.why === 'link closed')).toBe(true);

    // Stopped: its link stays open but no ack comes; after HA_SYNC_TIMEOUT_MS it is dropped.
    standby.process!.child.kill('SIGSTOP');
    await setIs(leader, []);
    await more(30);
    standby.process!.child.kill('SIGCONT');
    await setIs(leader, [standby]);
    await more(30);
    expect(leader.logs().some((l) => l.msg === 'standby leaves the synchronous set' && String(l.why).startsWith('no ack within HA_SYNC_TIMEOUT_MS'))).toBe(true);
    const s = await status(leader);
    expect(s.sync!.followers).toEqual([expect.objectContaining({ member: addr(standby), state: 'in', connected: true })]);
    expect(s.sync!.followers[0]!.acked).toBeGreaterThan(150);

    // And the standby, back in the set, takes over with everything acknowledged.
    stop = true;
    await load;
    await leader.kill('SIGKILL');
    await group.leader([standby]);
    await expectAcked(session, acked, 'after the standby took over');
    session.close();
  });

  it('a follower that is not in the synchronous set does not take over; a member does when it comes back', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3, { HA_SYNC_STANDBYS: 1 });
    const { leader } = await group.leader();
    const s = await fullSet(leader, 1);
    const member = group.masters.find((m) => addr(m) === s.sync!.set[0])!;
    const outsider = group.masters.find((m) => m !== leader && m !== member)!;
    const session = await openSession({ masters: group.addresses, hostname: 'sync', mountpoint: '/sync', reconnectTimeoutMs: 60_000 });
    for (let i = 0; i < 20; i++) await session.mkdir(session.root, `x${i}`);
    await Promise.all([leader.kill('SIGKILL'), member.kill('SIGKILL')]);
    // Three lease TTLs: the leader's key is long gone, and the outsider still follows nobody.
    await until('the outsider says it does not campaign', async () => (outsider.logs().some((l) => l.msg?.includes('not in the synchronous set')) ? true : undefined), 20_000);
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      expect((await status(outsider)).role).toBe('follower');
      await new Promise((r) => setTimeout(r, 200));
    }
    await member.start();
    await group.leader([member, outsider]);
    const present = new Set((await session.readdir(session.root)).map((e) => e.name));
    expect(Array.from({ length: 20 }, (_, i) => `x${i}`).filter((n) => !present.has(n))).toEqual([]);
    session.close();
  });

  it('with etcd down a standby cannot be dropped: a change it did not confirm is never answered; the leader steps down, and leads again with a smaller set when etcd is back', async () => {
    const etcd = await Etcd.start();
    // TTL 6: changes are admitted until 4 s after the last confirmed keepalive.
    const group = await HaGroup.create(etcd, 2, { HA_SYNC_STANDBYS: 1, HA_LEASE_TTL: 6, HA_SYNC_TIMEOUT_MS: 500 });
    const { leader, status: s0 } = await group.leader();
    const standby = group.masters.find((m) => m !== leader)!;
    await setIs(leader, [standby]);
    // A link of our own: no re-send, no redirect; what the master answers is what we see.
    const { conn } = await dial({ host: leader.address.host, port: leader.address.port, role: 'client', name: 'sync-test' });
    await conn.request('register', { subdir: '/', meta: false, readonly: false, hostname: 'sync', mountpoint: '/sync' });
    const mkdir = (name: string) => conn.request('mkdir', { cred: { uid: 0, gid: 0, groups: [0] }, parent: 1, name, mode: 0o755, umask: 0 });
    await mkdir('before');

    await etcd.kill('SIGKILL');
    await standby.kill('SIGKILL');
    const answer = await mkdir('unconfirmed').then(
      () => 'answered',
      (e: unknown) => e as Error,
    );
    // Not answered at all (the link closed when the leader stepped down): never OK, never a refusal.
    expect(answer).not.toBe('answered');
    expect(isNotLeader(answer)).toBe(false);
    expect(conn.closed).toBe(true);
    expect(leader.logs().some((l) => l.msg === 'cannot write the synchronous set to etcd: changes wait')).toBe(true);
    expect((await status(leader)).role).toBe('follower');

    await etcd.start();
    const back = await until('the leader leads again', async () => {
      const s = await status(leader);
      return s.role === 'leader' && s.mutable && s.sync?.set.length === 0 ? s : undefined;
    });
    expect(back.epoch).toBe(s0.epoch);
    expect((await syncKey(etcd, group))?.members).toEqual([]);
    const session = await openSession({ masters: [leader.address], hostname: 'sync', mountpoint: '/sync' });
    await session.mkdir(session.root, 'after');
    session.close();
  });
});
