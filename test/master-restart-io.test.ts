/**
 * File I/O across a master killed and restarted (issue 4, "Master outage"), without FUSE:
 * master, chunkservers and the client library only, so that a failure here is theirs.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, O_RDWR } from '@tsmfs/client';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';

const MiB = 1024 * 1024;

/** Writes `data` in 1 MiB pieces, 8 in flight, as a FUSE mount would; calls `at` once past `atOffset`. */
async function writeAll(f: FileHandle, data: Buffer, atOffset: number, at: () => void): Promise<void> {
  let next = 0;
  let fired = false;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < data.length) {
        const o = next;
        next += MiB;
        if (!fired && o >= atOffset) {
          fired = true;
          at();
        }
        await f.write(o, data.subarray(o, Math.min(data.length, o + MiB)));
      }
    }),
  );
}

async function readAll(f: FileHandle, length: number): Promise<Buffer> {
  const parts: Promise<Buffer>[] = [];
  for (let o = 0; o < length; o += 8 * MiB) parts.push(f.read(o, Math.min(8 * MiB, length - o)));
  return Buffer.concat(await Promise.all(parts));
}

describe('file I/O across a master restart', () => {
  for (const goal of [1, 2]) {
    it(`a 150 MB write with goal ${goal} survives SIGKILL and restart of the master and reads back identical`, { timeout: 90_000 }, async () => {
      // The default REPLICATIONS_DELAY_INIT, as in production: nothing is deleted while
      // the chunkservers report to the new master.
      const c = await Cluster.create();
      await c.addChunkservers(2);
      const s = await c.session({ reconnectTimeoutMs: 60_000 });
      const attr = await s.create(s.root, 'big', 0o644);
      if (goal !== 1) await s.setgoal(attr.inode, goal);
      const f = await s.openFile(attr.inode, O_RDWR);
      const data = randomBytes(150_000_000);
      let outage: Promise<void> | undefined;
      await writeAll(f, data, 70 * MiB, () => {
        outage = (async () => {
          await c.master.kill('SIGKILL');
          await new Promise((r) => setTimeout(r, 1500));
          await c.master.start();
        })();
      });
      await f.fsync();
      await outage;
      expect((await s.getattr(f.inode)).size).toBe(data.length);
      expect((await readAll(f, data.length)).equals(data)).toBe(true);
      await f.close();
    });
  }
});
