/**
 * What a chunkserver asks of the kernel for one small read (issue 11, 4 KiB random
 * reads): its block is read on the event loop (no trip to libuv's thread pool and back)
 * while the disk answers from the page cache, and the read's data frame and the reply
 * that ends it leave in one socket write (one wake-up of the reader, not two). Timings
 * are not asserted anywhere; strace shows which thread read the chunk file and how many
 * writes went to the reader's socket, on the built DataServer.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir } from './fixture/cluster.js';

const READS = 40;

/**
 * A DataServer on a chunk of 4 MiB, and READS reads of 4 KiB from it over one link, each
 * checked. Under strace every syscall is slow: a read is never taken for a disk seek here
 * (inlineReadSlowMs), which the unit test of InlineIo covers with a clock of its own.
 */
const SCRIPT = `
import { randomBytes } from 'node:crypto';
import { DataServer, HddManager } from '@tsmfs/chunkserver';
import { GrantVerifier, dataBlockCrcOk, decodeDataBlock, signGrantToken } from '@tsmfs/protocol';
import { dial } from '@tsmfs/rpc';
import { pino } from 'pino';
const log = pino({ level: 'silent' });
const key = randomBytes(32);
const hdd = new HddManager({ disks: [{ path: process.argv[1], markedForRemoval: false, where: 'd' }], log, leaveSpace: 0, testFreqSeconds: 0, inlineReadSlowMs: Infinity });
await hdd.start();
await hdd.create(1, 1);
const h = await hdd.acquire(1, 1);
await h.write(0, Buffer.alloc(4 << 20, 0x5a));
await h.flush();
await h.release();
const tokens = new GrantVerifier();
tokens.set(key, 0);
const server = new DataServer({ host: '127.0.0.1', port: 0, hdd, log, name: 'cs', tokens });
await server.start();
const { conn } = await dial({ host: '127.0.0.1', port: server.port, role: 'client', name: 'reader' });
const token = signGrantToken(key, { chunkId: 1, version: 1, mode: 'read', expiresMs: Date.now() + 60_000 });
console.log('port ' + server.port);
for (let i = 0; i < ${READS}; i++) {
  let got = 0;
  await conn.requestStream('dataRead', { chunkId: 1, version: 1, offset: i * 65536 + 100, length: 4096, token }, (frame) => {
    const b = decodeDataBlock(frame.body);
    if (!dataBlockCrcOk(b) || !b.data.every((x) => x === 0x5a)) throw new Error('a read came back wrong');
    got += b.data.length;
  });
  if (got !== 4096) throw new Error('short read: ' + got);
}
console.log('reads done');
conn.close();
await server.stop();
await hdd.stop();
`;

describe('a 4 KiB read on the chunkserver', () => {
  it('reads its block on the event loop and answers with one socket write', () => {
    const dir = makeTempDir('tsmfs-read-syscalls-');
    const trace = join(dir, 'trace');
    const r = spawnSync('strace', ['-f', '-yy', '-e', 'trace=pread64,write,writev', '-o', trace, process.execPath, '--input-type=module', '-e', SCRIPT, dir], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const port = /port (\d+)/.exec(r.stdout)![1];
    const lines = readFileSync(trace, 'utf8').split('\n');
    // The event loop's thread is the one that printed the port.
    const main = lines.find((l) => /write\(1</.test(l) && l.includes('port '))!.split(' ')[0];
    const start = lines.findIndex((l) => l.includes('port '));
    const end = lines.findIndex((l) => l.includes('reads done'));
    const during = lines.slice(start + 1, end);
    // Each read reads its whole 64 KiB block (to check its CRC) from the chunk file.
    const blockReads = during.filter((l) => /pread64\(\d+<[^>]*\.tsmfs>, .*, 65536, \d+\) = 65536/.test(l));
    expect(blockReads, during.join('\n')).toHaveLength(READS);
    expect(blockReads.filter((l) => l.split(' ')[0] !== main), blockReads.join('\n')).toEqual([]);
    // Writes on the server's end of the link (local port = the server's).
    const served = during.filter((l) => new RegExp(`writev?\\(\\d+<TCP:\\[127\\.0\\.0\\.1:${port}->`).test(l));
    expect(served.length, served.join('\n')).toBe(READS);
  });
});
