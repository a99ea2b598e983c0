import { CHUNK_SIZE } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import { ChunkManager } from './chunk-manager.js';
import type { Chunkserver } from './chunkserver-registry.js';
import type { RepLimitList } from './replication-limits.js';
import { ChunkLoop, chunkClasses } from './replication.js';
import { parseTopology } from './topology.js';

const root = { uid: 0, gid: 0, groups: [0] };

/** A command the loop sent to a chunkserver, held until the test answers it. */
interface Sent {
  csid: number;
  name: string;
  body: { chunkId: number; version: number };
  answer: () => void;
}

/**
 * A chunkserver link as the registry and the loop see one: open, from loopback; the
 * commands sent on it are recorded and answered by the test (the chunk loop's bookkeeping
 * of slots in flight is what is under test, not the chunkserver).
 */
function recordingLink(sent: Sent[], csid: () => number): Connection {
  return {
    closed: false,
    socket: { remoteAddress: '127.0.0.1' },
    request: (name: string, body: Sent['body']) => new Promise<object>((resolve) => sent.push({ csid: csid(), name, body, answer: () => resolve({}) })),
  } as unknown as Connection;
}

/**
 * `topology`: mfstopology.cfg lines; server i is then at 127.0.0.(i+1) (else all at 127.0.0.1).
 * `labels[i]`: server i's LABELS (none when absent). `rep`: CHUNKS_WRITE_REP_LIMIT and
 * CHUNKS_READ_REP_LIMIT (default 10 for every kind).
 */
function setup(servers: number, global: number, acceptablePercentageDifference?: number, topology?: string, labels: string[][] = [], rep?: { write: RepLimitList; read: RepLimitList }) {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  /** The loop's error lines, parsed. */
  const errors: Record<string, unknown>[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line) as Record<string, unknown>) });
  const racks = topology === undefined ? undefined : parseTopology(topology, 'mfstopology.cfg');
  const chunks = new ChunkManager({
    md: () => ns.md,
    epoch: () => 1,
    leaseTimeoutMs: 1000,
    limits: { writesPerServer: rep?.write ?? [10, 10, 10, 10], readsPerServer: rep?.read ?? [10, 10, 10, 10], global, deletesPerServer: 10 },
    log,
    ...(racks ? { topology: () => racks } : {}),
  });
  const sent: Sent[] = [];
  const cs: Chunkserver[] = [];
  for (let i = 0; i < servers; i++) {
    const c = chunks.register({ host: racks ? `127.0.0.${i + 1}` : '127.0.0.1', port: i + 1, labels: labels[i] ?? [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, recordingLink(sent, () => c.csid));
    cs.push(c);
  }
  const loop = new ChunkLoop({ chunks, periodMs: 3_600_000, delayInitMs: 0, serverTimeoutMs: 3_600_000, chunksDeleted: (ids) => ns.chunksDeleted(ids), bumpVersion: (id, v) => ns.repairChunkVersion(id, v), acceptablePercentageDifference, log });
  /** A one-chunk file of goal `goal` whose chunk has copies on servers `on` (indexes into cs). */
  const file = (name: string, goal: number, on: number[]): number => {
    const inode = ns.mknod({ cred: root, parent: 1, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const g = ns.writeChunk({ cred: root, inode, index: 0 });
    ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: CHUNK_SIZE, ok: true });
    ns.md.goal[inode] = goal;
    for (const i of on) chunks.copies.set(g.chunkId, cs[i]!.csid, g.version);
    return g.chunkId;
  };
  const inodeOf = (name: string) => ns.lookup({ cred: root, parent: 1, name }).attr.inode;
  const reported = () => {
    for (const c of cs) chunks.report(c, [], true);
  };
  return { ns, chunks, loop, sent, cs, file, reported, inodeOf, errors };
}

const replications = (sent: Sent[]) => sent.filter((s) => s.name === 'chunkReplicate');

describe('chunk loop: replication in order of danger', () => {
  it('with one slot, chunks down to their last copy go before those merely under goal, whatever their ids', async () => {
    const { loop, sent, file, reported, chunks } = setup(4, 1);
    // Lower ids first: the merely-under-goal chunks (2 of 3), then the endangered ones (1 of 3).
    const under = [file('u1', 3, [0, 1]), file('u2', 3, [1, 2]), file('u3', 3, [2, 3])];
    const endangered = [file('e1', 3, [0]), file('e2', 3, [3]), file('e3', 2, [1])];
    const lost = file('l1', 2, []);
    reported();
    const order: number[] = [];
    for (let pass = 0; pass < 20; pass++) {
      loop.pass();
      const now = replications(sent);
      expect(now.length).toBeLessThanOrEqual(1);
      for (const s of now) {
        order.push(s.body.chunkId);
        sent.splice(sent.indexOf(s), 1);
        s.answer();
      }
      await new Promise((r) => setImmediate(r));
      if (pass === 0) {
        expect(loop.stats.lost).toBe(1);
        expect(loop.stats.endangered).toBe(3);
        expect(loop.stats.underGoal).toBe(6);
      }
    }
    // Then the rest to goal: each 2-of-3 chunk once more (e1 and e2 included), nothing after.
    expect(order.slice(0, 3).sort()).toEqual([...endangered].sort());
    expect(order.slice(3).sort()).toEqual([...under, endangered[0]!, endangered[1]!].sort());
    expect(order).not.toContain(lost);
    expect(loop.stats.underGoal).toBe(0);
    expect(chunks.validServers(endangered[2]!)).toHaveLength(2);
  });

  it('over-goal copies are trimmed only after every replication the slots allow was started', () => {
    const { loop, sent, file, reported } = setup(4, 10);
    const over = file('o', 1, [0, 1, 2]);
    const e = file('e', 2, [3]);
    reported();
    loop.pass();
    const names = sent.map((s) => `${s.name}:${s.body.chunkId}`);
    expect(names.indexOf(`chunkReplicate:${e}`)).toBeGreaterThanOrEqual(0);
    expect(names.filter((n) => n === `chunkDelete:${over}`)).toHaveLength(2);
    expect(names.indexOf(`chunkReplicate:${e}`)).toBeLessThan(names.indexOf(`chunkDelete:${over}`));
  });
});

describe('chunk loop: replication limits per kind (CHUNKS_WRITE_REP_LIMIT = 2,1,1,4, CHUNKS_READ_REP_LIMIT = 10,5,2,5)', () => {
  const MOOSEFS = { write: [2, 1, 1, 4], read: [10, 5, 2, 5] } as const;

  it('an endangered chunk still gets a slot on servers whose under-goal slots are all taken', () => {
    const { loop, sent, file, reported, cs } = setup(3, 50, undefined, undefined, [], MOOSEFS);
    // Goal 3 with two copies: each can only go to the server without one; two per server
    // (a single limit of 2, tsmfs's before, filled every server and the endangered chunk waited).
    const under = [file('u1', 3, [0, 1]), file('u2', 3, [0, 1]), file('u3', 3, [1, 2]), file('u4', 3, [1, 2]), file('u5', 3, [0, 2]), file('u6', 3, [0, 2])];
    reported();
    loop.pass();
    // One under-goal replication per destination (its limit, 1), whatever is waiting.
    const first = replications(sent);
    expect(first.map((r) => r.csid).sort()).toEqual(cs.map((c) => c.csid).sort());
    expect(first.every((r) => under.includes(r.body.chunkId))).toBe(true);
    // Then a chunk down to one copy, while those are in flight (not answered).
    const endangered = file('e', 2, [0]);
    reported();
    loop.pass();
    const second = replications(sent).slice(first.length);
    expect(second.map((r) => r.body.chunkId)).toEqual([endangered]);
    expect(loop.stats.started).toEqual({ endangered: 1, underGoal: 3, wrongLabels: 0, rebalance: 0 });
    // Two in flight into that server now: its endangered limit (2) is reached, as in MooseFS.
    const more = file('e2', 2, [second[0]!.csid === cs[1]!.csid ? 0 : 1]);
    reported();
    loop.pass();
    const third = replications(sent).slice(first.length + second.length);
    expect(third.map((r) => r.body.chunkId)).toEqual([more]);
    expect(third[0]!.csid).not.toBe(second[0]!.csid);
  });

  it('rebalancing uses its own limits (1 near, 4 far) and never takes the slot of an endangered copy', () => {
    const { loop, sent, file, reported, cs } = setup(2, 50, 1, undefined, [], MOOSEFS);
    for (let i = 0; i < 10; i++) file(`f${i}`, 1, [0]);
    reported();
    const use = (c: Chunkserver, pct: number) => {
      c.usedSpace = (pct / 100) * c.totalSpace;
    };
    // 1.4 points apart: near (within 1.5 × ACCEPTABLE_PERCENTAGE_DIFFERENCE): its limit, 1.
    use(cs[0]!, 11.4);
    use(cs[1]!, 10);
    loop.pass();
    expect(replications(sent)).toHaveLength(1);
    // Far apart: the fourth limit, 4 in flight into the emptier server (the one above counts).
    use(cs[0]!, 80);
    loop.pass();
    expect(replications(sent).map((r) => r.csid)).toEqual(new Array(4).fill(cs[1]!.csid));
    loop.pass();
    expect(replications(sent)).toHaveLength(4);
    // A chunk down to its last copy, which only that server can take: it goes now, not after the rebalancing.
    const endangered = file('e', 2, [0]);
    reported();
    loop.pass();
    expect(replications(sent).slice(4).map((r) => [r.body.chunkId, r.csid])).toEqual([[endangered, cs[1]!.csid]]);
    expect(loop.stats.started).toEqual({ endangered: 1, underGoal: 0, wrongLabels: 0, rebalance: 4 });
  });

  it('copies on the wrong labels are held to the under-goal limit (1 per destination)', () => {
    // Server 0 unlabelled, 1 and 2 labelled A.
    const { ns, loop, sent, file, reported, inodeOf, cs } = setup(3, 50, undefined, undefined, [[], ['A'], ['A']], MOOSEFS);
    const admin = { admin: true, minGoal: 1, maxGoal: 9 };
    ns.sclasses.create(admin, { cred: root, name: 'a', adminOnly: false, mode: 'default', create: '', keep: 'A', archive: '', archiveDelay: 0 });
    const misplaced = ['m1', 'm2', 'm3'].map((name) => file(name, 1, [0]));
    for (const name of ['m1', 'm2', 'm3']) ns.sclasses.setsclass(admin, { cred: root, inode: inodeOf(name), name: 'a', recursive: false });
    reported();
    loop.pass();
    expect(loop.stats.misplaced).toBe(3);
    const reps = replications(sent);
    expect(reps.map((r) => r.csid).sort()).toEqual([cs[1]!.csid, cs[2]!.csid].sort());
    expect(reps.every((r) => misplaced.includes(r.body.chunkId))).toBe(true);
    expect(loop.stats.started).toEqual({ endangered: 0, underGoal: 0, wrongLabels: 2, rebalance: 0 });
  });
});

describe('chunk loop: reload (SIGHUP, as MooseFS\'s chunk_reload)', () => {
  it('takes a new REPLICATIONS_DELAY_INIT, ACCEPTABLE_PERCENTAGE_DIFFERENCE and CHUNKS_LOOP_MIN_TIME', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const { loop, sent, file, cs, reported } = setup(2, 10, 5);
    try {
      file('a', 1, [0]);
      file('b', 1, [0]);
      reported();
      // 2 points apart.
      cs[0]!.usedSpace = 0.12 * cs[0]!.totalSpace;
      cs[1]!.usedSpace = 0.1 * cs[1]!.totalSpace;
      loop.reconfigure({ ...loop.settings(), delayInitMs: 3_600_000 });
      await loop.start();
      loop.pass();
      expect(sent).toEqual([]);
      // Within ACCEPTABLE_PERCENTAGE_DIFFERENCE (5) once the delay is gone: still nothing.
      loop.reconfigure({ ...loop.settings(), delayInitMs: 0 });
      loop.pass();
      expect(sent).toEqual([]);
      // 1 point, and a pass every second instead of every hour: the timer's pass moves both chunks.
      loop.reconfigure({ ...loop.settings(), acceptablePercentageDifference: 1, periodMs: 1000 });
      expect(loop.settings()).toEqual({ periodMs: 1000, delayInitMs: 0, acceptablePercentageDifference: 1 });
      const passes = loop.stats.passes;
      vi.advanceTimersByTime(1000);
      expect(loop.stats.passes).toBe(passes + 1);
      expect(replications(sent).map((r) => r.csid)).toEqual([cs[1]!.csid, cs[1]!.csid]);
    } finally {
      await loop.stop();
      vi.useRealTimers();
    }
  });
});

describe('chunk loop: toDelete', () => {
  it('a freed chunk leaves toDelete once its copies are deleted, not before, and not while a server has not reported', async () => {
    const { ns, loop, sent, file, reported, inodeOf, cs, chunks } = setup(3, 10);
    const kept = file('kept', 1, [0]);
    const freed = file('freed', 2, [0, 1]);
    const never = file('never', 1, []);
    reported();
    ns.eraseChunk(inodeOf('freed'), 0);
    ns.eraseChunk(inodeOf('never'), 0);
    expect(ns.md.chunks.toDelete).toEqual([freed, never]);
    loop.pass();
    // The chunk no server holds goes at once; the other waits for its deletions.
    expect(ns.md.chunks.toDelete).toEqual([freed]);
    const deletes = sent.filter((s) => s.name === 'chunkDelete');
    expect(deletes.map((d) => [d.csid, d.body.chunkId]).sort()).toEqual([[cs[0]!.csid, freed], [cs[1]!.csid, freed]]);
    loop.pass();
    expect(ns.md.chunks.toDelete).toEqual([freed]);
    deletes[0]!.answer();
    await new Promise((r) => setImmediate(r));
    loop.pass();
    expect(ns.md.chunks.toDelete).toEqual([freed]);
    deletes[1]!.answer();
    await new Promise((r) => setImmediate(r));
    // A server registered but not yet reported in full: its copies are not known yet.
    const late = chunks.register({ host: '127.0.0.1', port: 99, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, recordingLink(sent, () => late.csid));
    loop.pass();
    expect(ns.md.chunks.toDelete).toEqual([freed]);
    chunks.report(late, [], true);
    loop.pass();
    expect(ns.md.chunks.toDelete).toEqual([]);
    expect(ns.md.chunks.has(kept)).toBe(true);
  });
});

describe('chunk loop: disks marked for removal', () => {
  it('copies on a marked disk count for nothing toward the goal; the disk counts down to ready; the copies stay', async () => {
    const { loop, sent, file, cs, chunks } = setup(3, 10);
    const disk = '/mnt/hd1';
    cs[0]!.disks = [{ path: disk, markedForRemoval: true, totalSpace: 1e12, usedSpace: 0, chunkCount: 3 }];
    const a = file('a', 1, []);
    const b = file('b', 2, [1]);
    const ok = file('ok', 1, [2]);
    const version = chunks.md.chunks.version[a]!;
    chunks.report(cs[0]!, [a, b, ok].map((chunkId) => ({ chunkId, version })), false, disk);
    for (const c of cs) chunks.report(c, [], true);
    expect(chunks.validServers(a).map((c) => c.csid)).toEqual([cs[0]!.csid]);
    expect(loop.removal.left(cs[0]!.csid, disk)).toBeUndefined();
    loop.pass();
    // a: its only copy is marked (endangered); b: one copy elsewhere of goal 2; ok: at goal elsewhere.
    expect(loop.removal.left(cs[0]!.csid, disk)).toBe(2);
    expect(loop.stats.endangered).toBe(1);
    const reps = replications(sent);
    expect(reps.map((r) => r.body.chunkId).sort()).toEqual([a, b].sort());
    expect(reps.every((r) => r.csid !== cs[0]!.csid)).toBe(true);
    for (const r of reps) r.answer();
    await new Promise((r) => setImmediate(r));
    loop.pass();
    expect(loop.removal.left(cs[0]!.csid, disk)).toBe(0);
    expect(loop.stats.underGoal).toBe(0);
    expect(loop.stats.overGoal).toBe(0);
    // Nothing deletes the marked copies: the administrator takes the disk away.
    expect(sent.filter((x) => x.name === 'chunkDelete')).toEqual([]);
    expect(chunks.copies.get(ok, cs[0]!.csid)?.markedDisk).toBe(disk);
  });
});

describe('chunk loop: lost chunks', () => {
  it('are logged in one line per pass, and each chunk only once, however many are lost at once', () => {
    const { loop, file, reported, errors } = setup(2, 10);
    const ids = [file('a', 2, []), file('b', 2, []), file('c', 1, [])];
    reported();
    loop.pass();
    loop.pass();
    expect(errors.map((e) => [e.msg, e.chunks])).toEqual([['chunk lost: no valid copy on any connected chunkserver', 3]]);
    expect((errors[0]!.first as { chunk: number }[]).map((c) => c.chunk)).toEqual(ids);
  });
});

describe('chunk loop: chunks an interrupted grant left without a valid copy', () => {
  it('are moved to a new version from their newest copies without waiting for a writer', async () => {
    const { ns, loop, sent, file, cs, chunks, inodeOf } = setup(3, 10);
    const id = file('f', 2, []);
    // A grant logged v2 and v3 that never reached the servers (a master killed in between).
    ns.writeChunk({ cred: root, inode: inodeOf('f'), index: 0 });
    ns.writeChunk({ cred: root, inode: inodeOf('f'), index: 0 });
    expect(ns.md.chunks.version[id]).toBe(3);
    chunks.report(cs[0]!, [{ chunkId: id, version: 1 }], true);
    chunks.report(cs[1]!, [{ chunkId: id, version: 2 }], true);
    chunks.report(cs[2]!, [], true);
    expect(chunks.validServers(id)).toEqual([]);
    loop.pass();
    // Above every version logged so far; only the newest copies (v2) move.
    expect(ns.md.chunks.version[id]).toBe(4);
    expect(chunks.changes.has(id)).toBe(true);
    const moves = sent.filter((s) => s.name === 'chunkSetVersion');
    expect(moves.map((m) => [m.csid, m.body])).toEqual([[cs[1]!.csid, { chunkId: id, version: 2, newVersion: 4, epoch: 1 }]]);
    loop.pass();
    expect(sent.filter((s) => s.name === 'chunkSetVersion')).toHaveLength(1);
    moves[0]!.answer();
    await new Promise((r) => setImmediate(r));
    expect(chunks.validServers(id).map((c) => c.csid)).toEqual([cs[1]!.csid]);
    expect(chunks.changes.has(id)).toBe(false);
    // Then as any chunk: the stale v1 copy goes, a second copy is made.
    sent.length = 0;
    loop.pass();
    expect(loop.stats.lost).toBe(0);
    expect(sent.map((s) => [s.name, s.csid])).toEqual([['chunkDelete', cs[0]!.csid], ['chunkReplicate', expect.any(Number)]]);
  });

  it('not when this master saw a valid copy at a higher version (that one took a write the others missed)', () => {
    const { ns, loop, sent, file, cs, chunks, inodeOf } = setup(2, 10);
    const id = file('f', 1, [0, 1]);
    chunks.report(cs[0]!, [], true);
    chunks.report(cs[1]!, [], true);
    ns.writeChunk({ cred: root, inode: inodeOf('f'), index: 0 });
    chunks.copies.set(id, cs[0]!.csid, 2);
    chunks.syncLocations(id, 1);
    chunks.lost(cs[0]!, [{ chunkId: id, version: 2 }]);
    loop.pass();
    expect(loop.stats.lost).toBe(1);
    expect(ns.md.chunks.version[id]).toBe(2);
    expect(sent.filter((s) => s.name === 'chunkSetVersion')).toEqual([]);
  });
});

describe('chunk loop: rebalancing (ACCEPTABLE_PERCENTAGE_DIFFERENCE)', () => {
  it('moves chunks at goal from the fullest server to the emptiest: a copy there, then the one on the fullest goes', async () => {
    const { loop, sent, file, cs, chunks, reported } = setup(2, 3, 1);
    const ids = [file('a', 1, [0]), file('b', 1, [0]), file('c', 1, [0]), file('d', 1, [0])];
    reported();
    const use = (c: Chunkserver, pct: number) => {
      c.totalSpace = 1e12;
      c.usedSpace = pct * 1e10;
    };
    use(cs[0]!, 1.5);
    use(cs[1]!, 1);
    // 0.5 points apart: within the acceptable difference, nothing moves.
    loop.pass();
    expect(sent).toEqual([]);
    use(cs[0]!, 80);
    use(cs[1]!, 10);
    loop.pass();
    // Three slots (CHUNKS_GLOBAL_REP_LIMIT 3): three chunks copied to the emptier server.
    const reps = replications(sent);
    expect(reps.map((r) => r.csid)).toEqual([cs[1]!.csid, cs[1]!.csid, cs[1]!.csid]);
    expect(loop.stats.rebalanced).toBe(3);
    for (const r of reps) r.answer();
    await new Promise((r) => setImmediate(r));
    sent.length = 0;
    loop.pass();
    // Now over goal: the copies on the fuller server go; the fourth chunk is copied.
    const deletes = sent.filter((s) => s.name === 'chunkDelete');
    expect(deletes.map((d) => d.csid)).toEqual([cs[0]!.csid, cs[0]!.csid, cs[0]!.csid]);
    expect(deletes.map((d) => d.body.chunkId).sort()).toEqual(reps.map((r) => r.body.chunkId).sort());
    expect(replications(sent).map((r) => r.body.chunkId)).toEqual(ids.filter((id) => !reps.some((r) => r.body.chunkId === id)));
    for (const id of reps.map((r) => r.body.chunkId)) expect(chunks.validServers(id).map((c) => c.csid)).toEqual([cs[1]!.csid]);
  });

  it('never leaves a chunk on fewer racks (topology): only chunks whose copies share a rack move, and the trim keeps one per rack', async () => {
    // Servers 0 and 1 in rack a, 2 and 3 in rack b.
    const { loop, sent, file, cs, chunks, reported } = setup(4, 10, 1, '127.0.0.1-127.0.0.2 a\n127.0.0.3-127.0.0.4 b\n');
    const spread = file('spread', 2, [0, 2]);
    const together = file('together', 2, [0, 1]);
    reported();
    for (const [i, pct] of [80, 50, 50, 10].entries()) {
      cs[i]!.totalSpace = 1e12;
      cs[i]!.usedSpace = pct * 1e10;
    }
    loop.pass();
    // From server 0 (fullest) to server 3 (emptiest): `spread` would end on rack b only.
    const reps = replications(sent);
    expect(reps.map((r) => [r.body.chunkId, r.csid])).toEqual([[together, cs[3]!.csid]]);
    reps[0]!.answer();
    await new Promise((r) => setImmediate(r));
    sent.length = 0;
    // Over goal now. Server 3 has become the fullest: by usage its copy would go, but it is
    // rack b's only one; the next fullest's goes instead, and one copy per rack stays.
    cs[3]!.usedSpace = 95 * 1e10;
    loop.pass();
    expect(sent.filter((s) => s.name === 'chunkDelete').map((d) => [d.body.chunkId, d.csid])).toEqual([[together, cs[0]!.csid]]);
    expect(chunks.validServers(together).map((c) => c.csid).sort()).toEqual([cs[1]!.csid, cs[3]!.csid]);
    expect(chunks.validServers(spread).map((c) => c.csid)).toEqual([cs[0]!.csid, cs[2]!.csid]);
  });

  it('not when one move would only swap which server is fuller (small disks)', () => {
    const { loop, sent, file, cs, reported } = setup(2, 10, 1);
    file('a', 1, [0]);
    reported();
    for (const c of cs) c.totalSpace = 2 ** 30;
    // One 64 MiB chunk is 6.25 points of each 1 GiB disk: 10% against 5% would become 3.75% against 11.25%.
    cs[0]!.usedSpace = 0.1 * 2 ** 30;
    cs[1]!.usedSpace = 0.05 * 2 ** 30;
    loop.pass();
    expect(sent).toEqual([]);
    cs[0]!.usedSpace = 0.3 * 2 ** 30;
    loop.pass();
    expect(replications(sent)).toHaveLength(1);
  });

  it('waits while any chunk is under goal', () => {
    const { loop, sent, file, cs, reported } = setup(3, 10, 1);
    file('a', 1, [0]);
    const under = file('u', 2, [2]);
    reported();
    cs[0]!.usedSpace = 0.8 * cs[0]!.totalSpace;
    loop.pass();
    expect(replications(sent).map((r) => r.body.chunkId)).toEqual([under]);
    expect(loop.stats.rebalanced).toBe(0);
  });
});


describe('chunk loop: storage classes', () => {
  /** Answers every command sent so far (replications register their copy, deletions drop it). */
  const answerAll = async (sent: Sent[]) => {
    for (const s of sent.splice(0)) s.answer();
    await new Promise((r) => setImmediate(r));
  };
  const ADMIN = { admin: true, minGoal: 1, maxGoal: 9 };

  it('copies on servers of the wrong labels are moved: a copy on a matching server first, then the misplaced one deleted', async () => {
    // Servers 0 and 1 unlabelled, 2 has A, 3 has B and C.
    const { ns, loop, sent, file, cs, chunks, reported, inodeOf } = setup(4, 10, undefined, undefined, [[], [], ['a'], ['B', 'C']]);
    const id = file('f', 2, [0, 1]);
    reported();
    loop.pass();
    expect(sent).toEqual([]);
    ns.sclasses.create(ADMIN, { cred: root, name: 'ab', adminOnly: false, mode: 'default', create: '', keep: 'A,B', archive: '', archiveDelay: 0 });
    ns.sclasses.setsclass(ADMIN, { cred: root, inode: inodeOf('f'), name: 'ab', recursive: false });
    const holders = () => chunks.validServers(id).map((c) => cs.indexOf(c)).sort();
    for (let pass = 0; pass < 10 && holders().join() !== '2,3'; pass++) {
      loop.pass();
      // Never fewer copies than the goal: a misplaced copy goes only once a matching one is there.
      expect(holders().length).toBeGreaterThanOrEqual(2);
      if (pass === 0) expect(loop.stats.misplaced).toBe(1);
      await answerAll(sent);
    }
    expect(holders()).toEqual([2, 3]);
    loop.pass();
    expect(sent).toEqual([]);
    expect(loop.stats.misplaced + loop.stats.underGoal + loop.stats.overGoal).toBe(0);
  });

  it("an archived file's chunks go to the archive labels; clrarchive brings them back", async () => {
    const { ns, loop, sent, file, cs, chunks, reported, inodeOf } = setup(3, 10, undefined, undefined, [['A'], ['B'], []]);
    ns.sclasses.create(ADMIN, { cred: root, name: 'arch', adminOnly: false, mode: 'default', create: '', keep: 'A', archive: 'B', archiveDelay: 30 });
    const id = file('f', 1, [0]);
    const inode = inodeOf('f');
    ns.sclasses.setsclass(ADMIN, { cred: root, inode, name: 'arch', recursive: false });
    reported();
    const holders = () => chunks.validServers(id).map((c) => cs.indexOf(c)).sort();
    const settle = async () => {
      for (let pass = 0; pass < 6; pass++) {
        loop.pass();
        await answerAll(sent);
      }
    };
    // Changed just now (the test clock is in 2023, but setsclass moved the ctime): kept on A.
    ns.md.ctimeS[inode] = Date.now() / 1000;
    await settle();
    expect(holders()).toEqual([0]);
    expect(ns.sclasses.archive({ cred: root, inode, on: true })).toEqual({ changed: 1, notChanged: 0, denied: 0 });
    await settle();
    expect(holders()).toEqual([1]);
    expect(ns.sclasses.archive({ cred: root, inode, on: false })).toEqual({ changed: 1, notChanged: 0, denied: 0 });
    ns.md.ctimeS[inode] = Date.now() / 1000;
    await settle();
    expect(holders()).toEqual([0]);
    // Unchanged for longer than the delay: archived without setarchive.
    ns.md.ctimeS[inode] = Date.now() / 1000 - 31 * 86_400;
    await settle();
    expect(holders()).toEqual([1]);
  });

  it('a chunk an archived file shares with a file that is not (a snapshot) is not archived', () => {
    const { ns, file, inodeOf } = setup(1, 10);
    const id = file('f', 1, [0]);
    const other = file('g', 1, [0]);
    ns.snapshot({ cred: root, inode: inodeOf('f'), parent: 1, name: 'snap', overwrite: false });
    ns.sclasses.archive({ cred: root, inode: inodeOf('f'), on: true });
    ns.sclasses.archive({ cred: root, inode: inodeOf('g'), on: true });
    const now = Math.floor(Date.now() / 1000);
    expect([...chunkClasses(ns.md, now).archived]).toEqual([other]);
    ns.sclasses.archive({ cred: root, inode: inodeOf('snap'), on: true });
    expect([...chunkClasses(ns.md, now).archived].sort()).toEqual([id, other].sort());
  });

  it('under goal with no matching server: default mode copies anywhere, strict mode waits', async () => {
    const { ns, loop, sent, file, reported, inodeOf } = setup(3, 10, undefined, undefined, [['A'], [], []]);
    for (const [name, mode] of [['d', 'default'], ['s', 'strict']] as const) {
      ns.sclasses.create(ADMIN, { cred: root, name, adminOnly: false, mode, create: '', keep: 'A,Z', archive: '', archiveDelay: 0 });
    }
    file('fd', 1, [0]);
    const strict = file('fs', 1, [0]);
    ns.sclasses.setsclass(ADMIN, { cred: root, inode: inodeOf('fd'), name: 'd', recursive: false });
    ns.sclasses.setsclass(ADMIN, { cred: root, inode: inodeOf('fs'), name: 's', recursive: false });
    reported();
    loop.pass();
    const reps = replications(sent);
    expect(reps).toHaveLength(1);
    expect(reps[0]!.body.chunkId).not.toBe(strict);
    await answerAll(sent);
    // At goal by count, still misplaced (no Z server): nothing more to do for either.
    loop.pass();
    expect(replications(sent)).toEqual([]);
    expect(loop.stats.misplaced).toBe(1);
    expect(loop.stats.underGoal).toBe(1);
  });
});
