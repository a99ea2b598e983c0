import { DataFrameType, REPLY_FLAG, Status, TsmfsError, dataCrc, encodeDataBlockHeader } from '@tsmfs/protocol';
import { type Connection, RpcServer } from '@tsmfs/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readChunkRange } from './chunk-reader.js';
import { DataLinks } from './data-links.js';

/** A piece the hostile chunkserver sends: its offset in the chunk and its length. */
type Piece = [offset: number, length: number];

/**
 * A chunkserver on loopback that answers every dataRead with the pieces `script` gives
 * for it (bytes: the chunk offset's low byte), correct CRCs and all: a peer that breaks
 * only the order or the coverage of a read's frames.
 */
let script: (offset: number, length: number) => Piece[] = () => [];
const byteAt = (pos: number): number => pos & 0xff;
const server = new RpcServer({
  host: '127.0.0.1',
  port: 0,
  role: 'chunkserver',
  accept: ['client'],
  epoch: () => 0,
  onConnection: (conn: Connection) =>
    conn.serve((name, body, c, requestId) => {
      if (name !== 'dataRead') throw new TsmfsError(Status.EINVAL, name);
      const req = body as { chunkId: number; version: number; offset: number; length: number };
      script(req.offset, req.length).forEach(([off, len], seq) => {
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i++) data[i] = byteAt(off + i);
        const header = encodeDataBlockHeader({ chunkId: req.chunkId, version: req.version, seq, offset: off, length: len, crc: dataCrc(data) });
        c.sendData(DataFrameType.read | REPLY_FLAG, requestId, [header, data]);
      });
      return {};
    }),
});
const links = new DataLinks({ name: 'test', requestTimeoutMs: 5000 });
let grant: Parameters<typeof readChunkRange>[1];

beforeAll(async () => {
  await server.start();
  grant = { chunkId: 7, version: 1, locations: [{ host: '127.0.0.1', port: server.port }] } as typeof grant;
});
afterAll(async () => {
  links.close();
  await server.stop();
});

const expected = (offset: number, length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => byteAt(offset + i)));

describe('readChunkRange against a chunkserver that misorders its frames', () => {
  it('puts together a span sent in order, in one frame or several', async () => {
    script = (offset, length) => [[offset, length]];
    expect((await readChunkRange(links, grant, 100, 5000)).equals(expected(100, 5000))).toBe(true);
    script = (offset, length) => [[offset, 1000], [offset + 1000, length - 1000]];
    expect((await readChunkRange(links, grant, 100, 5000)).equals(expected(100, 5000))).toBe(true);
  });

  // Each adds up to the span's length, so only the order check can tell: taken as a
  // whole, the unwritten part of the buffer (never zeroed) would reach the reader.
  it.each<[string, (offset: number, length: number) => Piece[]]>([
    ['a piece sent twice, a gap elsewhere', (o, l) => [[o, 1000], [o, 1000], [o + 2000, l - 2000]]],
    ['pieces out of order', (o, l) => [[o + 1000, l - 1000], [o, 1000]]],
    ['overlapping pieces', (o, l) => [[o, 1500], [o + 1000, l - 1500]]],
    ['a gap at the start', (o, l) => [[o + 500, 1000], [o + 1500, l - 1500], [o + 1500, 500]]],
  ])('fails with EIO on %s', async (_, pieces) => {
    script = pieces;
    await expect(readChunkRange(links, grant, 100, 5000)).rejects.toMatchObject({ status: Status.EIO });
  });
});
