import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Address, BLOCK_SIZE, type ChunkRef, type DataAddress, GrantVerifier, type MessageName, Status, signGrantToken } from '@tsmfs/protocol';
import { type Connection, RpcServer, notLeader } from '@tsmfs/rpc';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CHUNK_HEADER_SIZE, chunkFileName } from './chunk-file.js';
import { DataServer } from './data-server.js';
import { chunkFolder } from './chunk-folders.js';
import { HddManager } from './hdd-manager.js';
import { MasterLink } from './master-link.js';
import { replicateChunk } from './replication.js';

const log = pino({ level: 'silent' });
/** The grant token key of the test chunkservers' data servers. */
const KEY = randomBytes(32);

/** A replication source as the master names it: with its read token for the chunk. */
function source(addr: Address, chunkId: number, version: number): DataAddress {
  return { ...addr, token: signGrantToken(KEY, { chunkId, version, mode: 'read', expiresMs: Date.now() + 60_000 }) };
}
const dirs: string[] = [];
const services: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop();
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function node(name: string): Promise<{ hdd: HddManager; data: DataServer; addr: Address; disk: string }> {
  const disk = await mkdtemp(join(tmpdir(), `tsmfs-ml-${name}-`));
  dirs.push(disk);
  const hdd = new HddManager({ disks: [{ path: disk, markedForRemoval: false, where: name }], log, leaveSpace: 0, testFreqSeconds: 0 });
  await hdd.start();
  services.push(hdd);
  const tokens = new GrantVerifier();
  tokens.set(KEY, 0);
  const data = new DataServer({ host: '127.0.0.1', port: 0, hdd, log, name, tokens });
  await data.start();
  services.push(data);
  return { hdd, data, addr: { host: '127.0.0.1', port: data.port }, disk };
}

/** A stand-in master on a real port: records what chunkservers send, lets the test send commands. */
class TestMaster {
  readonly received: { name: MessageName; body: any }[] = [];
  links: Connection[] = [];
  server: RpcServer;
  readonly grantKey = randomBytes(32);
  /** Set: registrations are refused with it (an HA follower's refusal). */
  refuseWith: Error | undefined;
  /** What the registration reply says of this master's role (undefined: a master before HA). */
  leader: boolean | undefined;
  constructor(port = 0, epoch = 4) {
    this.server = new RpcServer({
      host: '127.0.0.1',
      port,
      role: 'master',
      accept: ['chunkserver'],
      epoch: () => epoch,
      onConnection: (conn) => {
        this.links.push(conn);
        conn.serve((name, body) => {
          this.received.push({ name, body });
          if (name === 'chunkserverRegister' && this.refuseWith) throw this.refuseWith;
          if (name !== 'chunkserverRegister') return {};
          return { csid: 17, grantKey: this.grantKey, clock: Date.now() + 3_600_000, ...(this.leader === undefined ? {} : { leader: this.leader }) };
        });
      },
    });
  }
  get port(): number {
    return this.server.port;
  }
  of(name: MessageName): any[] {
    return this.received.filter((r) => r.name === name).map((r) => r.body);
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('replication', () => {
  it('pulls a chunk from the first source that delivers it intact', async () => {
    const a = await node('a');
    const b = await node('b');
    const c = await node('c');
    const data = Buffer.alloc(3 * BLOCK_SIZE + 500);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    for (const src of [a, b]) {
      await src.hdd.create(3, 2);
      const h = await src.hdd.acquire(3, 2);
      await h.write(0, data);
      await h.release();
    }
    // b's copy is damaged: its block 2 fails the CRC.
    const fh = await open(join(b.disk, chunkFolder(3), chunkFileName(3, 2)), 'r+');
    await fh.write(Buffer.from([1]), 0, 1, CHUNK_HEADER_SIZE + 2 * BLOCK_SIZE + 9);
    await fh.close();

    const dead = { host: '127.0.0.1', port: 1 };
    await replicateChunk({ hdd: c.hdd, log, name: 'c' }, 3, 2, [dead, source(b.addr, 3, 2), source(a.addr, 3, 2)]);
    // Without the master's token, or with one for another version, no source serves it.
    await expect(replicateChunk({ hdd: c.hdd, log, name: 'c' }, 3, 2, [a.addr])).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    const h = await c.hdd.acquire(3, 2);
    expect(h.length).toBe(data.length);
    expect((await h.read(0, data.length)).equals(data)).toBe(true);
    await h.release();

    // With only bad sources, nothing partial is left behind.
    await expect(replicateChunk({ hdd: c.hdd, log, name: 'c' }, 4, 1, [dead, source(b.addr, 4, 1)])).rejects.toBeTruthy();
    await expect(replicateChunk({ hdd: c.hdd, log, name: 'c' }, 3, 2, [source(a.addr, 3, 2)])).rejects.toMatchObject({ status: Status.EEXIST });
    await c.hdd.delete(3, 2);
    await expect(replicateChunk({ hdd: c.hdd, log, name: 'c' }, 3, 2, [source(b.addr, 3, 2)])).rejects.toMatchObject({ status: Status.EIO });
    expect(c.hdd.chunkList()).toEqual([]);
  });
});

describe('master link', () => {
  it('registers, reports its chunks, heartbeats, obeys commands and reconnects after the master restarts', async () => {
    const cs = await node('cs');
    await cs.hdd.create(1, 1);
    await cs.hdd.create(2, 1);
    const master = new TestMaster();
    await master.server.start();
    services.push(master.server);
    const tokens = new GrantVerifier();
    const link = new MasterLink({
      tokens,
      masters: [{ host: '127.0.0.1', port: master.port }],
      hdd: cs.hdd,
      log,
      name: 'cs',
      labels: ['A'],
      dataAddress: () => cs.addr,
      replicate: (id, v, sources) => replicateChunk({ hdd: cs.hdd, log, name: 'cs' }, id, v, sources),
      heartbeatMs: 50,
      reconnectMinMs: 20,
      reconnectMaxMs: 100,
    });
    await link.start();
    services.push(link);
    await until(() => master.of('chunkserverHeartbeat').length >= 2);
    expect(master.of('chunkserverRegister')[0]).toMatchObject({ host: '127.0.0.1', port: cs.addr.port, labels: ['A'], chunkCount: 2 });
    expect(master.of('chunkReport')).toEqual([{ chunks: expect.arrayContaining([{ chunkId: 1, version: 1 }, { chunkId: 2, version: 1 }]), last: true }]);
    // The key the master gave at registration checks its tokens, against the master's clock (an hour ahead here).
    const claims = { chunkId: 1, version: 1, mode: 'read' as const };
    tokens.check(signGrantToken(master.grantKey, { ...claims, expiresMs: Date.now() + 3_660_000 }), claims);
    expect(() => tokens.check(signGrantToken(master.grantKey, { ...claims, expiresMs: Date.now() + 1_800_000 }), claims)).toThrow(expect.objectContaining({ status: Status.EKEYEXPIRED }));
    expect(() => tokens.check(signGrantToken(KEY, { ...claims, expiresMs: Date.now() + 3_660_000 }), claims)).toThrow(expect.objectContaining({ status: Status.EKEYREJECTED }));

    const conn = master.links[0]!;
    await conn.request('chunkCreate', { epoch: 4, chunkId: 9, version: 1 });
    await conn.request('chunkSetVersion', { epoch: 4, chunkId: 9, version: 1, newVersion: 2 });
    await conn.request('chunkDuplicate', { epoch: 4, chunkId: 9, version: 2, newChunkId: 10, newVersion: 1 });
    await conn.request('chunkTruncate', { epoch: 4, chunkId: 10, version: 1, newVersion: 2, length: 1000 });
    await conn.request('chunkDelete', { epoch: 4, chunkId: 1, version: 1 });
    await expect(conn.request('chunkDelete', { epoch: 3, chunkId: 2, version: 1 })).rejects.toMatchObject({ status: Status.ESTALE });
    await expect(conn.request('chunkCreate', { epoch: 4, chunkId: 2, version: 5 })).rejects.toMatchObject({ status: Status.EEXIST });
    const sorted = (l: ChunkRef[]): ChunkRef[] => [...l].sort((x, y) => x.chunkId - y.chunkId);
    expect(sorted(cs.hdd.chunkList())).toEqual([{ chunkId: 2, version: 1 }, { chunkId: 9, version: 2 }, { chunkId: 10, version: 2 }]);

    // A damaged copy is reported as soon as a read finds it.
    const h = await cs.hdd.acquire(10, 2);
    const fh = await open(join(cs.disk, chunkFolder(10), chunkFileName(10, 2)), 'r+');
    await fh.write(Buffer.from([1]), 0, 1, CHUNK_HEADER_SIZE + 3);
    await fh.close();
    await expect(h.read(0, 10)).rejects.toMatchObject({ status: Status.EIO });
    await h.release();
    await until(() => master.of('chunksDamaged').length === 1);
    expect(master.of('chunksDamaged')[0]).toEqual({ chunks: [{ chunkId: 10, version: 2 }] });

    // The master goes away and comes back on the same port: the chunkserver registers again as csid 17.
    const port = master.port;
    await master.server.stop();
    await until(() => !link.connected);
    const again = new TestMaster(port);
    await again.server.start();
    services.push(again.server);
    await until(() => again.of('chunkReport').length === 1, 10_000);
    expect(again.of('chunkserverRegister')[0]).toMatchObject({ csid: 17, chunkCount: 3 });
  });
});

describe('HA fencing (docs/ha.md)', () => {
  async function started(master: TestMaster): Promise<TestMaster> {
    await master.server.start();
    services.push(master.server);
    return master;
  }

  function linkOptions(cs: Awaited<ReturnType<typeof node>>): ConstructorParameters<typeof MasterLink>[0] {
    return {
      tokens: new GrantVerifier(),
      masters: [],
      hdd: cs.hdd,
      log,
      name: 'cs',
      labels: [],
      dataAddress: () => cs.addr,
      replicate: async () => undefined,
      heartbeatMs: 50,
      reconnectMinMs: 20,
      reconnectMaxMs: 100,
    };
  }

  function linkTo(cs: Awaited<ReturnType<typeof node>>, masters: Address[]): MasterLink {
    return new MasterLink({ ...linkOptions(cs), masters });
  }

  it('goes to the leader a follower names and refuses an older epoch\'s commands', async () => {
    const cs = await node('cs');
    await cs.hdd.create(1, 1);
    const leader = await started(new TestMaster(0, 9));
    const follower = await started(new TestMaster(0, 9));
    follower.refuseWith = notLeader('this master is a follower', `127.0.0.1:${leader.port}`);
    // The leader is not even in the list: the follower's word is enough.
    const link = linkTo(cs, [{ host: '127.0.0.1', port: follower.port }]);
    await link.start();
    services.push(link);
    await until(() => leader.of('chunkReport').length === 1);
    // The refusing master keeps its own link, which tries again (a master of an older version refuses followers' registrations).
    expect(follower.of('chunkserverRegister').length).toBeGreaterThanOrEqual(1);

    // A command from a deposed leader (epoch 4 < 9) is refused and not carried out; the current epoch's is.
    const conn = leader.links[0]!;
    await expect(conn.request('chunkDelete', { epoch: 4, chunkId: 1, version: 1 })).rejects.toMatchObject({ status: Status.ESTALE });
    expect(cs.hdd.chunkList()).toEqual([{ chunkId: 1, version: 1 }]);
    await conn.request('chunkDelete', { epoch: 9, chunkId: 1, version: 1 });
    expect(cs.hdd.chunkList()).toEqual([]);

    // The leader goes away and the follower (epoch 9 too) names it again when it is back.
    const port = leader.port;
    await leader.server.stop();
    await until(() => !link.connected);
    const again = await started(new TestMaster(port, 9));
    await until(() => again.of('chunkReport').length === 1, 10_000);
    expect(follower.of('chunkserverRegister').length).toBeGreaterThanOrEqual(2);
  });

  it('refuses to register with a master whose handshake epoch is older than one it has seen', async () => {
    const cs = await node('cs');
    const leader = await started(new TestMaster(0, 9));
    // A port for the deposed master, which comes up only once the leader is known.
    const probe = new TestMaster(0, 4);
    await probe.server.start();
    const zombiePort = probe.port;
    await probe.server.stop();
    const link = linkTo(cs, [{ host: '127.0.0.1', port: leader.port }, { host: '127.0.0.1', port: zombiePort }]);
    await link.start();
    services.push(link);
    await until(() => leader.of('chunkReport').length === 1);
    const zombie = await started(new TestMaster(zombiePort, 4));
    await until(() => zombie.links.length >= 2, 10_000);
    expect(zombie.of('chunkserverRegister')).toEqual([]);
    // The leader goes away: still not registered with the deposed one.
    await leader.server.stop();
    await until(() => zombie.links.length >= 4, 10_000);
    expect(zombie.of('chunkserverRegister')).toEqual([]);
    expect(link.connected).toBe(false);
  });

  it('reports the copies writes created to every master in one batch, and to the followers when the leader is gone', async () => {
    const cs = await node('cs');
    const leader = await started(new TestMaster(0, 9));
    leader.leader = true;
    const follower = await started(new TestMaster(0, 9));
    follower.leader = false;
    const link = new MasterLink({ ...linkOptions(cs), tokens: new GrantVerifier(), masters: [{ host: '127.0.0.1', port: leader.port }, { host: '127.0.0.1', port: follower.port }] });
    await link.start();
    services.push(link);
    await until(() => leader.of('chunkReport').length === 1 && follower.of('chunkReport').length === 1 && link.leading);
    // Copies created close together: one report each master, off the writes' path, each
    // copy as it is when the report leaves (one moved on to version 4 meanwhile, one deleted).
    for (const id of [5, 6, 8]) await cs.hdd.create(id, 3);
    for (const id of [5, 6, 8]) link.created({ chunkId: id, version: 3 });
    await cs.hdd.setVersion(6, 3, 4);
    await cs.hdd.delete(8, 3);
    await until(() => leader.of('chunksNew').length === 1 && follower.of('chunksNew').length === 1);
    for (const m of [leader, follower]) expect(m.of('chunksNew')).toEqual([{ chunks: [{ chunkId: 5, version: 3 }, { chunkId: 6, version: 4 }] }]);
    // The leader dies between granting a create and the copy's report: the follower that
    // takes over must hear of the copy, or it knows of no copy of an allocated chunk (the
    // client's end of the write waits there for the report: chunk-requests.ts).
    await leader.server.stop();
    await until(() => !link.leading);
    await cs.hdd.create(7, 3);
    link.created({ chunkId: 7, version: 3 });
    await until(() => follower.of('chunksNew').length === 2);
    expect(follower.of('chunksNew')[1]).toEqual({ chunks: [{ chunkId: 7, version: 3 }] });
  });

  it('keeps a link to every master: reports go to all, commands are obeyed from the leader only, a new leader takes over with masterLeads', async () => {
    const cs = await node('cs');
    await cs.hdd.create(1, 1);
    await cs.hdd.create(2, 1);
    const leader = await started(new TestMaster(0, 9));
    leader.leader = true;
    const follower = await started(new TestMaster(0, 9));
    follower.leader = false;
    const tokens = new GrantVerifier();
    const link = new MasterLink({ ...linkOptions(cs), tokens, masters: [{ host: '127.0.0.1', port: leader.port }, { host: '127.0.0.1', port: follower.port }] });
    await link.start();
    services.push(link);
    await until(() => leader.of('chunkReport').length === 1 && follower.of('chunkReport').length === 1 && link.leading);
    expect(follower.of('chunkReport')[0].chunks).toHaveLength(2);

    // Both masters' keys open tokens: the follower's grants are good the moment it leads.
    const claims = { chunkId: 1, version: 1, mode: 'read' as const };
    for (const m of [leader, follower]) tokens.check(signGrantToken(m.grantKey, { ...claims, expiresMs: Date.now() + 3_660_000 }), claims);

    // The follower commands nothing, even at the leader's epoch.
    const toFollower = follower.links[0]!;
    await expect(toFollower.request('chunkDelete', { epoch: 9, chunkId: 1, version: 1 })).rejects.toMatchObject({ status: Status.EPERM });
    expect(cs.hdd.chunkList()).toHaveLength(2);

    // The leader's commands are obeyed and what they did reaches the follower.
    const toLeader = leader.links[0]!;
    await toLeader.request('chunkSetVersion', { epoch: 9, chunkId: 1, version: 1, newVersion: 2 });
    await toLeader.request('chunkDelete', { epoch: 9, chunkId: 2, version: 1 });
    await toLeader.request('chunkCreate', { epoch: 9, chunkId: 3, version: 1 });
    await until(() => follower.of('chunksChanged').length === 3);
    expect(follower.of('chunksChanged')).toEqual([
      { chunks: [{ chunkId: 1, version: 2 }], gone: [] },
      { chunks: [], gone: [{ chunkId: 2, version: 1 }] },
      { chunks: [{ chunkId: 3, version: 1 }], gone: [] },
    ]);
    expect(leader.of('chunksChanged')).toEqual([]);

    // A copy a write created goes to both.
    await cs.hdd.create(4, 1);
    link.created({ chunkId: 4, version: 1 });
    await until(() => follower.of('chunksNew').length === 1 && leader.of('chunksNew').length === 1);
    expect(leader.of('chunksNew')).toEqual([{ chunks: [{ chunkId: 4, version: 1 }] }]);

    // A damaged copy is reported to both.
    await cs.hdd.create(5, 1);
    const h = await cs.hdd.acquire(5, 1);
    await h.write(0, Buffer.alloc(BLOCK_SIZE, 7));
    await h.release();
    const fh = await open(join(cs.disk, chunkFolder(5), chunkFileName(5, 1)), 'r+');
    await fh.write(Buffer.from([1]), 0, 1, CHUNK_HEADER_SIZE + 3);
    await fh.close();
    const r = await cs.hdd.acquire(5, 1);
    await expect(r.read(0, 10)).rejects.toMatchObject({ status: Status.EIO });
    await r.release();
    await until(() => leader.of('chunksDamaged').length === 1 && follower.of('chunksDamaged').length === 1);

    // Takeover: the follower, elected at epoch 12, says so; from then on the old leader's commands are refused.
    await toFollower.request('masterLeads', { epoch: 12 });
    await expect(toLeader.request('chunkDelete', { epoch: 9, chunkId: 1, version: 2 })).rejects.toMatchObject({ status: Status.ESTALE });
    await toFollower.request('chunkDelete', { epoch: 12, chunkId: 1, version: 2 });
    expect(cs.hdd.chunkList().map((c) => c.chunkId).sort()).toEqual([3, 4, 5]);
    await until(() => leader.of('chunksChanged').length === 1);
    expect(leader.of('chunksChanged')[0]).toEqual({ chunks: [], gone: [{ chunkId: 1, version: 2 }] });
  });
});
