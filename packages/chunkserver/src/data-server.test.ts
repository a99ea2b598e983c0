import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type Address,
  BLOCK_SIZE,
  DataFrameType,
  FrameDecoder,
  type GrantMode,
  GrantVerifier,
  PROTOCOL_VERSION,
  REPLY_FLAG,
  Status,
  authenticReceipt,
  creationReceiptClaims,
  dataBlockCrcOk,
  dataCrc,
  decodeDataBlock,
  decodeDataWriteStatus,
  decodeFrame,
  encodeDataBlock,
  encodeDataWriteStatus,
  encodeRequest,
  fail,
  signGrantToken,
} from '@tsmfs/protocol';
import { type Connection, RpcServer, dial } from '@tsmfs/rpc';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CHUNK_HEADER_SIZE, chunkFileName } from './chunk-file.js';
import { chunkFolder } from './chunk-folders.js';
import { DataServer, type DataServerOptions } from './data-server.js';
import { type ChunkHandle, HddManager } from './hdd-manager.js';

const log = pino({ level: 'silent' });
/** The grant token key every test chunkserver was given, as a master would at registration. */
const KEY = randomBytes(32);

function token(chunkId: number, version: number, mode: GrantMode, ttlMs = 60_000): Buffer {
  return signGrantToken(KEY, { chunkId, version, mode, expiresMs: Date.now() + ttlMs });
}

/** A dataWriteInit as a client sends it from a write grant: a token for every copy of the chain. */
function writeInit(chunkId: number, version: number, chain: Address[], ttlMs = 60_000) {
  const write = (): Buffer => token(chunkId, version, 'write', ttlMs);
  return { chunkId, version, token: write(), chain: chain.map((a) => ({ ...a, token: write() })) };
}
const dirs: string[] = [];
const running: { server: DataServer; hdd: HddManager }[] = [];
const conns: Connection[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const { server, hdd } of running.splice(0)) {
    await server.stop();
    await hdd.stop();
  }
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Cs {
  hdd: HddManager;
  server: DataServer;
  addr: Address;
  disk: string;
}

async function chunkserver(name: string, created?: DataServerOptions['created'], csid = 0): Promise<Cs> {
  const disk = await mkdtemp(join(tmpdir(), `tsmfs-csserv-${name}-`));
  dirs.push(disk);
  const hdd = new HddManager({ disks: [{ path: disk, markedForRemoval: false, where: name }], log, leaveSpace: 0, testFreqSeconds: 0 });
  await hdd.start();
  const tokens = new GrantVerifier();
  tokens.set(KEY, 0, '', csid);
  const server = new DataServer({ host: '127.0.0.1', port: 0, hdd, log, name, tokens, created });
  await server.start();
  running.push({ server, hdd });
  return { hdd, server, addr: { host: '127.0.0.1', port: server.port }, disk };
}

async function link(cs: Cs, role: 'client' | 'chunkserver' = 'client'): Promise<Connection> {
  const { conn } = await dial({ host: cs.addr.host, port: cs.addr.port, role, name: 'test', requestTimeoutMs: 10_000 });
  conns.push(conn);
  return conn;
}

interface Piece {
  offset: number;
  data: Buffer;
}

function writePiece(conn: Connection, chunkId: number, version: number, seq: number, p: Piece, crc = dataCrc(p.data)): Promise<number> {
  const body = encodeDataBlock({ chunkId, version, seq, offset: p.offset, crc, data: p.data });
  return conn.requestData(DataFrameType.write, [body]).then((reply) => {
    const status = decodeDataWriteStatus(reply);
    expect(status.seq).toBe(seq);
    return status.status;
  });
}

async function readRange(conn: Connection, chunkId: number, version: number, offset: number, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  let received = 0;
  await conn.requestStream('dataRead', { chunkId, version, offset, length, token: token(chunkId, version, 'read') }, (frame) => {
    const block = decodeDataBlock(frame.body);
    expect(dataBlockCrcOk(block)).toBe(true);
    expect(block.data.length).toBeLessThanOrEqual(BLOCK_SIZE);
    out.set(block.data, block.offset - offset);
    received += block.data.length;
  });
  expect(received).toBe(length);
  return out;
}

function randomPieces(total: number, start: number): Piece[] {
  const pieces: Piece[] = [];
  for (let at = start; at < start + total; ) {
    const len = Math.min(1 + Math.floor(Math.random() * BLOCK_SIZE), start + total - at);
    const data = Buffer.alloc(len);
    for (let i = 0; i < len; i++) data[i] = Math.floor(Math.random() * 256);
    pieces.push({ offset: at, data });
    at += len;
  }
  return pieces;
}

describe('data server', () => {
  it('serves a chunk only against the master\'s token for that chunk, version and mode, before it expires', async () => {
    const a = await chunkserver('tok-a');
    const b = await chunkserver('tok-b');
    await a.hdd.create(61, 2);
    await b.hdd.create(61, 2);
    const conn = await link(a);
    const read = (t: Buffer | undefined) => conn.requestStream('dataRead', { chunkId: 61, version: 2, offset: 0, length: 10, token: t }, () => undefined);
    const forged = signGrantToken(randomBytes(32), { chunkId: 61, version: 2, mode: 'read', expiresMs: Date.now() + 60_000 });
    await expect(read(undefined)).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    await expect(read(forged)).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    await expect(read(token(61, 1, 'read'))).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    await expect(read(token(62, 2, 'read'))).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    await expect(read(token(61, 2, 'read', -1000))).rejects.toMatchObject({ status: Status.EKEYEXPIRED });
    await expect(conn.request('dataChunkInfo', { chunkId: 61, version: 2 })).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    await read(token(61, 2, 'read'));

    // A read token does not open a write; the pieces sent behind the refused init find no write.
    const init = { chunkId: 61, version: 2, token: token(61, 2, 'read'), chain: [] };
    await expect(conn.request('dataWriteInit', init)).rejects.toMatchObject({ status: Status.EKEYREJECTED });
    expect(await writePiece(conn, 61, 2, 0, { offset: 0, data: Buffer.from('intruder') })).toBe(Status.EBADF);
    // Nor does a good token for the head carry a chain link whose own token is a read token.
    const chained = { ...writeInit(61, 2, []), chain: [{ ...b.addr, token: token(61, 2, 'read') }] };
    await expect(conn.request('dataWriteInit', chained)).rejects.toMatchObject({ status: Status.EKEYREJECTED, message: expect.stringContaining(`${b.addr.port}`) });
    expect((await readRange(await link(b), 61, 2, 0, 8)).equals(Buffer.alloc(8))).toBe(true);
  });

  it('writes a chunk down a chain of two chunkservers; both copies read back identical', async () => {
    const a = await chunkserver('a');
    const b = await chunkserver('b');
    await a.hdd.create(42, 3);
    await b.hdd.create(42, 3);

    const model = Buffer.alloc(6 * BLOCK_SIZE);
    const pieces = [...randomPieces(5 * BLOCK_SIZE, 1000), { offset: 70_000, data: Buffer.alloc(100, 0xee) }];
    const conn = await link(a);
    await conn.request('dataWriteInit', writeInit(42, 3, [b.addr]));
    const statuses = await Promise.all(pieces.map((p, seq) => writePiece(conn, 42, 3, seq, p)));
    expect(statuses.every((s) => s === Status.OK)).toBe(true);
    await conn.request('dataWriteEnd', { chunkId: 42, version: 3 });
    for (const p of pieces) p.data.copy(model, p.offset);
    const length = 1000 + 5 * BLOCK_SIZE;

    for (const cs of [a, b]) {
      const reader = await link(cs);
      expect(await reader.request('dataChunkInfo', { chunkId: 42, version: 3, token: token(42, 3, 'read') })).toEqual({ length });
      expect((await readRange(reader, 42, 3, 0, length)).equals(model.subarray(0, length))).toBe(true);
      // Unaligned reads, and past the end of the data: zeros.
      expect((await readRange(reader, 42, 3, 65_000, 3000)).equals(model.subarray(65_000, 68_000))).toBe(true);
      expect((await readRange(reader, 42, 3, length - 10, BLOCK_SIZE)).equals(Buffer.concat([model.subarray(length - 10, length), Buffer.alloc(BLOCK_SIZE - 10)]))).toBe(true);
    }
  });

  it('dataSyncAll syncs every copy a write ended on since, on each link of the chain; a copy synced, deleted or moved on since is passed over', async () => {
    const a = await chunkserver('sa');
    const b = await chunkserver('sb');
    const conn = await link(a);
    for (const id of [71, 72, 73, 74]) {
      await a.hdd.create(id, 1);
      await b.hdd.create(id, 1);
      await conn.request('dataWriteInit', writeInit(id, 1, [b.addr]));
      expect(await writePiece(conn, id, 1, 0, { offset: 0, data: Buffer.alloc(100, id) })).toBe(Status.OK);
      await conn.request('dataWriteEnd', { chunkId: id, version: 1 });
    }
    expect([a.server.written.size, b.server.written.size]).toEqual([4, 4]);
    await conn.request('dataSync', { chunkId: 73, version: 1 });
    await a.hdd.delete(72, 1);
    await a.hdd.setVersion(74, 1, 2);
    expect(await conn.request('dataSyncAll', {})).toEqual({ chunks: 1 });
    expect(await (await link(b)).request('dataSyncAll', {})).toEqual({ chunks: 4 });
    expect([a.server.written.size, b.server.written.size]).toEqual([0, 0]);
    expect(await conn.request('dataSyncAll', {})).toEqual({ chunks: 0 });
    // A write after the sync is the next one's.
    await conn.request('dataWriteInit', writeInit(71, 1, []));
    expect(await writePiece(conn, 71, 1, 0, { offset: 100, data: Buffer.alloc(10, 1) })).toBe(Status.OK);
    await conn.request('dataWriteEnd', { chunkId: 71, version: 1 });
    expect(await conn.request('dataSyncAll', {})).toEqual({ chunks: 1 });
  });

  it('takes hundreds of pieces in flight at once (flow control, no deadlock) down a chain of three', async () => {
    const [a, b, c] = [await chunkserver('a'), await chunkserver('b'), await chunkserver('c')];
    for (const cs of [a, b, c]) await cs.hdd.create(77, 1);
    const blocks = 400;
    const data = Buffer.alloc(blocks * BLOCK_SIZE);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
    const conn = await link(a);
    await conn.request('dataWriteInit', writeInit(77, 1, [b.addr, c.addr]));
    const statuses = await Promise.all(
      Array.from({ length: blocks }, (_, i) => writePiece(conn, 77, 1, i, { offset: i * BLOCK_SIZE, data: data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE) })),
    );
    expect(statuses.every((st) => st === Status.OK)).toBe(true);
    await conn.request('dataWriteEnd', { chunkId: 77, version: 1 });
    for (const cs of [a, b, c]) expect((await readRange(await link(cs), 77, 1, 0, data.length)).equals(data)).toBe(true);
  });

  it('refuses the chain when its next link cannot be reached, and stays usable', async () => {
    const a = await chunkserver('a');
    const b = await chunkserver('b');
    await a.hdd.create(7, 1);
    const deadPort = b.addr.port;
    await b.server.stop();
    const conn = await link(a);
    await expect(conn.request('dataWriteInit', writeInit(7, 1, [{ host: '127.0.0.1', port: deadPort }]))).rejects.toMatchObject({
      status: Status.ECONNREFUSED,
      message: expect.stringMatching(/next chunkserver of the chain 127.0.0.1:/),
    });
    await conn.request('dataWriteInit', writeInit(7, 1, []));
    expect(await writePiece(conn, 7, 1, 0, { offset: 0, data: Buffer.from('ok') })).toBe(Status.OK);
    await conn.request('dataWriteEnd', { chunkId: 7, version: 1 });
  });

  it('opens the chain in one pass: a failure at either end of it reaches the client, and the chain still opens after', async () => {
    const [a, b, c] = [await chunkserver('a'), await chunkserver('b'), await chunkserver('c')];
    await a.hdd.create(9, 2);
    await b.hdd.create(9, 2);
    const conn = await link(a);
    // The last link lacks the chunk while the head opens its own copy fine.
    await expect(conn.request('dataWriteInit', writeInit(9, 2, [b.addr, c.addr]))).rejects.toMatchObject({
      message: expect.stringMatching(/next chunkserver of the chain/),
    });
    // The head lacks it while the rest of the chain opens fine.
    await expect(conn.request('dataWriteInit', writeInit(10, 1, [b.addr]))).rejects.toMatchObject({ message: expect.stringMatching(/10/) });
    await c.hdd.create(9, 2);
    await conn.request('dataWriteInit', writeInit(9, 2, [b.addr, c.addr]));
    const data = Buffer.alloc(3000, 0x5a);
    expect(await writePiece(conn, 9, 2, 0, { offset: 0, data })).toBe(Status.OK);
    await conn.request('dataWriteEnd', { chunkId: 9, version: 2 });
    for (const cs of [a, b, c]) expect((await readRange(await link(cs), 9, 2, 0, data.length)).equals(data)).toBe(true);
  });

  it('takes pieces and the end right behind the init, before the chain is open; a failed init fails the pieces behind it', async () => {
    const [a, b, c] = [await chunkserver('a'), await chunkserver('b'), await chunkserver('c')];
    for (const cs of [a, b]) await cs.hdd.create(11, 4);
    const conn = await link(a);
    const pieces = randomPieces(3 * BLOCK_SIZE, 0);
    // The last link lacks the chunk: the init and every piece behind it fail.
    const failed = conn.request('dataWriteInit', writeInit(11, 4, [b.addr, c.addr]));
    const refused = await Promise.all(pieces.map((p, seq) => writePiece(conn, 11, 4, seq, p)));
    await expect(failed).rejects.toMatchObject({ message: expect.stringMatching(/next chunkserver of the chain/) });
    expect(refused.every((st) => st !== Status.OK)).toBe(true);
    await c.hdd.create(11, 4);
    const init = conn.request('dataWriteInit', writeInit(11, 4, [b.addr, c.addr]));
    const statuses = await Promise.all(pieces.map((p, seq) => writePiece(conn, 11, 4, seq, p)));
    await init;
    expect(statuses.every((st) => st === Status.OK)).toBe(true);
    await conn.request('dataWriteEnd', { chunkId: 11, version: 4 });
    const model = Buffer.concat(pieces.map((p) => p.data));
    for (const cs of [a, b, c]) expect((await readRange(await link(cs), 11, 4, 0, model.length)).equals(model)).toBe(true);
  });

  it('forwards the end right behind the pieces, before the next link has answered the init', async () => {
    // The next link, scripted: it answers the init only once the end has reached it too
    // (a chain that forwarded the end only after the init's answer would never end).
    const seen: string[] = [];
    let endSeen: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (endSeen = resolve));
    const next = new RpcServer({
      host: '127.0.0.1',
      port: 0,
      role: 'chunkserver',
      accept: ['chunkserver'],
      epoch: () => 0,
      onConnection: (conn: Connection) => {
        conn.serve(async (name) => {
          seen.push(name);
          if (name === 'dataWriteEnd') endSeen();
          if (name === 'dataWriteInit') await ended;
          return {};
        });
        conn.onDataFrame((frame, c) => {
          seen.push('piece');
          const block = decodeDataBlock(frame.body);
          c.sendData(DataFrameType.write | REPLY_FLAG, frame.requestId, [encodeDataWriteStatus({ chunkId: block.chunkId, seq: block.seq, status: Status.OK })]);
        });
      },
    });
    await next.start();
    try {
      const a = await chunkserver('a');
      await a.hdd.create(31, 1);
      const conn = await link(a);
      const piece = { offset: 0, data: randomBytes(4096) };
      const init = conn.request('dataWriteInit', writeInit(31, 1, [{ host: '127.0.0.1', port: next.port }]));
      const acked = writePiece(conn, 31, 1, 0, piece);
      const end = conn.request('dataWriteEnd', { chunkId: 31, version: 1 });
      await Promise.all([init, end]);
      expect(await acked).toBe(Status.OK);
      expect(seen).toEqual(['dataWriteInit', 'piece', 'dataWriteEnd']);
      expect((await readRange(conn, 31, 1, 0, 4096)).equals(piece.data)).toBe(true);
    } finally {
      await next.stop();
    }
  });

  it("a created copy is reported off the write's path; the end answers with every copy's creation receipt, signed with its key and id", async () => {
    // The master link's side: queued reports (sent later, in batches: master-link.ts).
    const reported: number[] = [];
    const created = (c: { chunkId: number }): void => void reported.push(c.chunkId);
    const [a, b] = [await chunkserver('a', created, 7), await chunkserver('b', created, 9)];
    const create = (): Buffer => token(21, 1, 'create');
    const conn = await link(a);
    const piece = { offset: 0, data: randomBytes(4096) };
    await conn.request('dataWriteInit', { chunkId: 21, version: 1, token: create(), chain: [{ ...b.addr, token: create() }], create: true });
    expect(await writePiece(conn, 21, 1, 0, piece)).toBe(Status.OK);
    const { created: receipts = [] } = await conn.request('dataWriteEnd', { chunkId: 21, version: 1 });
    expect(reported).toEqual([21, 21]);
    // One receipt per copy of the chain, each naming its server; only the key it was given opens it.
    expect(receipts.map((r) => creationReceiptClaims(r))).toEqual([
      { chunkId: 21, version: 1, csid: 7 },
      { chunkId: 21, version: 1, csid: 9 },
    ]);
    for (const r of receipts) {
      expect(authenticReceipt(KEY, r)).toBe(true);
      expect(authenticReceipt(randomBytes(32), r)).toBe(false);
    }
    // A receipt whose claims were changed (another server's id) is no longer authentic.
    const forged = Buffer.from(receipts[0]!);
    forged.writeUInt32BE(9, 13);
    expect(creationReceiptClaims(forged)).toEqual({ chunkId: 21, version: 1, csid: 9 });
    expect(authenticReceipt(KEY, forged)).toBe(false);
    expect((await readRange(await link(b), 21, 1, 0, piece.data.length)).equals(piece.data)).toBe(true);
    // A write that created nothing answers with no receipt.
    await conn.request('dataWriteInit', { chunkId: 21, version: 1, token: token(21, 1, 'write'), chain: [] });
    expect(await writePiece(conn, 21, 1, 1, { offset: 4096, data: piece.data })).toBe(Status.OK);
    expect(await conn.request('dataWriteEnd', { chunkId: 21, version: 1 })).toEqual({});
  });

  it('answers bad pieces with a status: wrong version, bad CRC, no write open; refuses unknown chunks', async () => {
    const a = await chunkserver('a');
    await a.hdd.create(9, 2);
    const conn = await link(a);
    await expect(conn.request('dataWriteInit', writeInit(9, 1, []))).rejects.toMatchObject({ status: Status.ESTALE });
    await expect(conn.request('dataWriteInit', writeInit(10, 1, []))).rejects.toMatchObject({ status: Status.ENOENT });
    expect(await writePiece(conn, 9, 2, 0, { offset: 0, data: Buffer.from('no write open') })).toBe(Status.EBADF);
    await conn.request('dataWriteInit', writeInit(9, 2, []));
    expect(await writePiece(conn, 9, 1, 1, { offset: 0, data: Buffer.from('old version') })).toBe(Status.ESTALE);
    expect(await writePiece(conn, 9, 2, 2, { offset: 0, data: Buffer.from('bad crc') }, 12345)).toBe(Status.EIO);
    expect(await writePiece(conn, 9, 2, 3, { offset: 0, data: Buffer.from('good') })).toBe(Status.OK);
    await conn.request('dataWriteEnd', { chunkId: 9, version: 2 });
    expect((await readRange(conn, 9, 2, 0, 4)).toString()).toBe('good');
    await expect(readRange(conn, 9, 1, 0, 4)).rejects.toMatchObject({ status: Status.ESTALE });
    await expect(conn.request('getattr', { inode: 1 })).rejects.toMatchObject({ status: Status.ENOSYS });
  });

  it('a damaged block ends a read with EIO; the rest of the chunk still reads', async () => {
    const a = await chunkserver('a');
    await a.hdd.create(5, 1);
    const conn = await link(a);
    await conn.request('dataWriteInit', writeInit(5, 1, []));
    expect(await writePiece(conn, 5, 1, 0, { offset: 0, data: Buffer.alloc(BLOCK_SIZE, 1) })).toBe(0);
    expect(await writePiece(conn, 5, 1, 1, { offset: BLOCK_SIZE, data: Buffer.alloc(BLOCK_SIZE, 2) })).toBe(0);
    await conn.request('dataWriteEnd', { chunkId: 5, version: 1 });
    const fh = await open(join(a.disk, chunkFolder(5), chunkFileName(5, 1)), 'r+');
    await fh.write(Buffer.from([9]), 0, 1, CHUNK_HEADER_SIZE + BLOCK_SIZE + 100);
    await fh.close();
    const damaged: number[] = [];
    a.hdd.on('chunkDamaged', (c) => damaged.push(c.chunkId));
    await expect(readRange(conn, 5, 1, 0, 2 * BLOCK_SIZE)).rejects.toMatchObject({ status: Status.EIO, message: expect.stringMatching(/block 1: CRC mismatch/) });
    expect(damaged).toEqual([5]);
    expect((await readRange(conn, 5, 1, 0, BLOCK_SIZE)).equals(Buffer.alloc(BLOCK_SIZE, 1))).toBe(true);
  });

  // 100,000 whole chained writes take minutes on a loaded two-core machine (a write is six
  // request/reply pairs), so whole writes through a chain of three run first, then the same
  // pooled links go round the pool's own reuse path (takeIdle, then keepIdle as writeEnd
  // calls it) 100,000 times, and a whole write must still work on them after.
  it('keeps listeners and memory flat over 100,000 reuses of the pooled links of a chain of three', async () => {
    const [a, b, c] = [await chunkserver('a'), await chunkserver('b'), await chunkserver('c')];
    const writers = 8; // as many as a peer's idle pool keeps, so every link is reused
    const chunkIds = Array.from({ length: writers }, (_, i) => 100 + i);
    // Signed once: the tokens outlast the run, and 300,000 signatures are not what is measured.
    const inits = chunkIds.map((id) => writeInit(id, 1, [b.addr, c.addr], 3_600_000));
    for (const cs of [a, b, c]) for (const id of chunkIds) await cs.hdd.create(id, 1);
    // Each chunk stays open on every server so that a write's acquire counts a reference
    // instead of opening the file: the writes then cost round trips, not open(2).
    const held: ChunkHandle[] = [];
    for (const cs of [a, b, c]) for (const id of chunkIds) held.push(await cs.hdd.acquire(id, 1));
    const clients = await Promise.all(chunkIds.map(() => link(a)));
    const writeAll = (rounds: number): Promise<unknown> =>
      Promise.all(
        clients.map(async (conn, w) => {
          for (let i = 0; i < rounds; i++) {
            await conn.request('dataWriteInit', inits[w]!);
            expect(await writePiece(conn, chunkIds[w]!, 1, i, { offset: 0, data: Buffer.from([i & 0xff]) })).toBe(Status.OK);
            await conn.request('dataWriteEnd', { chunkId: chunkIds[w]!, version: 1 });
          }
        }),
      );
    const pools = (): [string, Connection[]][] => [a, b].flatMap((cs) => [...cs.server['idleNext'].entries()]);
    const pooled = (): Connection[] => pools().flatMap(([, pool]) => pool);
    const closeListeners = (): number[] => pooled().map((conn) => conn.listenerCount('close'));
    // One round takes every idle link of both pools, then returns them all, as writes do.
    const reusePools = (reuses: number): void => {
      const owners = pools().map(([where, pool]) => ({ where, server: (where === `${b.addr.host}:${b.addr.port}` ? a : b).server, size: pool.length }));
      for (let done = 0; done < reuses; ) {
        for (const { where, server, size } of owners) {
          const taken = Array.from({ length: size }, () => server['takeIdle'](where)!);
          for (const conn of taken) server['keepIdle'](conn, where);
          done += size;
        }
      }
    };
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void (w.name === 'MaxListenersExceededWarning' && warnings.push(w));
    process.on('warning', onWarning);
    try {
      await writeAll(5);
      const links = pooled();
      const listeners = closeListeners();
      expect(links.length).toBe(2 * writers); // a→b and b→c
      await writeAll(20);
      expect(closeListeners()).toEqual(listeners);
      const heap = heapAfterGc();
      reusePools(100_000);
      const grown = heapAfterGc() - heap;
      // The same links, each with the listeners it had before, and nothing piled up in the heap:
      // a listener per reuse left 25 MiB behind here (6,275 on each link); 4 MiB allows for noise.
      expect(new Set(pooled())).toEqual(new Set(links));
      expect(closeListeners()).toEqual(listeners);
      expect(Math.max(...listeners)).toBeLessThanOrEqual(2);
      expect(grown).toBeLessThan(4 * 2 ** 20);
      expect(warnings).toEqual([]);
      // A pooled link that closes still leaves its pool, and writes go on over the others.
      links[0]!.close();
      expect(pooled()).not.toContain(links[0]);
      await writeAll(2);
    } finally {
      process.off('warning', onWarning);
      for (const h of held) await h.release();
    }
  });

  it('garbage, a wrong protocol version and malformed data frames close that link only', async () => {
    const a = await chunkserver('a');
    await a.hdd.create(1, 1);
    const good = await link(a);

    // Garbage before any handshake.
    const garbage = await rawExchange(a.addr, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(garbage.closed).toBe(true);

    // A peer speaking another protocol version hears why, then is disconnected.
    const hello = encodeRequest('handshake', 1, { role: 'client', version: PROTOCOL_VERSION + 1, name: 'future' });
    const refused = await rawExchange(a.addr, hello);
    expect(refused.closed).toBe(true);
    const reply = decodeFrame(new FrameDecoder(1 << 20).push(refused.bytes)[0]!);
    expect(reply).toMatchObject({ kind: 'reply', name: 'handshake', status: Status.EPROTO, message: expect.stringMatching(/protocol version/) });

    // A data frame instead of a handshake.
    const early = await rawExchange(a.addr, Buffer.concat([encodeFrameRaw(DataFrameType.write, 1, Buffer.alloc(40))]));
    expect(early.closed).toBe(true);

    // After the handshake: a data frame too short for its header, and a data frame type not served.
    for (const [type, body] of [
      [DataFrameType.write, Buffer.alloc(5)],
      [DataFrameType.read, encodeDataBlock({ chunkId: 1, version: 1, seq: 0, offset: 0, crc: 0, data: Buffer.alloc(0) })],
      [DataFrameType.write + 7, Buffer.alloc(0)],
    ] as const) {
      const bad = await link(a);
      const closed = new Promise<Error | undefined>((r) => bad.once('close', r));
      bad.sendData(type, 1, [body]);
      await closed; // the server hung up on this link
    }

    // A frame longer than any link accepts.
    const huge = await link(a);
    const closedHuge = new Promise<Error | undefined>((r) => huge.once('close', r));
    huge.write(encodeFrameHeaderOnly(DataFrameType.write, 0x7fff_ffff, 1));
    await closedHuge;

    // The server is unharmed.
    await good.request('dataWriteInit', writeInit(1, 1, []));
    expect(await writePiece(good, 1, 1, 0, { offset: 3, data: Buffer.from('alive') })).toBe(Status.OK);
    await good.request('dataWriteEnd', { chunkId: 1, version: 1 });
    expect((await readRange(await link(a), 1, 1, 3, 5)).toString()).toBe('alive');
  });
});

/** The heap in use after a full collection: what stays allocated, not what waits for the collector. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function encodeFrameHeaderOnly(type: number, length: number, requestId: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(type >>> 0, 0);
  h.writeUInt32BE(length >>> 0, 4);
  h.writeUInt32BE(requestId, 8);
  return h;
}

function encodeFrameRaw(type: number, requestId: number, body: Buffer): Buffer {
  return Buffer.concat([encodeFrameHeaderOnly(type, body.length, requestId), body]);
}

/** Sends bytes on a fresh socket; collects what comes back until the server closes it (or 2 s pass). */
function rawExchange(addr: Address, bytes: Buffer): Promise<{ closed: boolean; bytes: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(addr.port, addr.host, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, bytes: Buffer.concat(chunks) });
    }, 2000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, bytes: Buffer.concat(chunks) });
    });
  });
}
