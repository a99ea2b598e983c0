import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Connection, dial } from '@tsmfs/rpc';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Changelog, DUMP_FILE, changelogFile, decodeEntry, encodeEntry, frameDump, rotateChangelogFiles } from '@tsmfs/metastore';
import type { Mutation } from '../metadata/mutation.js';
import { ChangelogFeed } from './changelog-feed.js';
import { MetaloggerLink } from './metalogger-link.js';

const log = pino({ level: 'silent' });
const ts = { sec: 1_700_000_000, nsec: 5 };
const purge = (inode: number): Mutation => ({ op: 'purge', ts, inode });
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'tsmfs-mllink-'));
const versionsOf = (lines: string): number[] =>
  lines
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => decodeEntry(l).version);

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(startVersion = 0, preserveSeconds = 600): Promise<{ dir: string; changelog: Changelog; conn: Connection }> {
  const dir = tempDir();
  const changelog = new Changelog({ dir, backLogs: 5, saveMode: 1, startVersion: () => startVersion, log });
  await changelog.start();
  const link = new MetaloggerLink({ host: '127.0.0.1', port: 0, dir, changelog, preserveSeconds, epoch: () => 1, log });
  await link.start();
  const { conn } = await dial({ host: '127.0.0.1', port: link.port, role: 'metalogger', name: 'test', requestTimeoutMs: 10_000 });
  cleanup.push(
    () => changelog.stop(),
    () => link.stop(),
    () => conn.close(),
  );
  return { dir, changelog, conn };
}

async function appendDurably(changelog: Changelog, n: number): Promise<void> {
  let v = 0;
  for (let i = 0; i < n; i++) v = changelog.append(purge(i));
  await changelog.durable(v);
}

describe('metalogger link', () => {
  it('refuses mlAck from a metalogger: only a shadow master is a synchronous standby', async () => {
    const { conn } = await setup();
    await expect(conn.request('mlAck', { member: '127.0.0.1:9421', version: 1 })).rejects.toMatchObject({ code: 'EPERM' });
  });

  it('streams durable entries in order, in batches bounded by maxBytes, with no gap', async () => {
    const { changelog, conn } = await setup();
    await appendDurably(changelog, 500);
    const seen: number[] = [];
    let after = 0;
    while (after < 500) {
      const r = await conn.request('mlFetch', { after, maxBytes: 4096, waitMs: 0 });
      expect(r.mode).toBe('entries');
      expect(r.lines.length).toBeLessThanOrEqual(4096);
      seen.push(...versionsOf(r.lines));
      after = r.last;
    }
    expect(seen).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  });

  it('holds a fetch until entries become durable (long poll), and answers empty after waitMs', async () => {
    const { changelog, conn } = await setup();
    const t0 = Date.now();
    const empty = await conn.request('mlFetch', { after: 0, maxBytes: 1 << 20, waitMs: 150 });
    expect(empty).toMatchObject({ mode: 'entries', lines: '', durable: 0 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    const pending = conn.request('mlFetch', { after: 0, maxBytes: 1 << 20, waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    await appendDurably(changelog, 3);
    const r = await pending;
    expect(versionsOf(r.lines)).toEqual([1, 2, 3]);
    expect(r.durable).toBe(3);
  });

  it('serves catching-up followers from the changelog files once the memory window has expired', async () => {
    const { dir, changelog, conn } = await setup(0, 0);
    await appendDurably(changelog, 100);
    await changelog.rotate();
    await appendDurably(changelog, 50);
    const seen: number[] = [];
    let after = 0;
    while (after < 150) {
      const r = await conn.request('mlFetch', { after, maxBytes: 2000, waitMs: 0 });
      expect(r.mode).toBe('entries');
      seen.push(...versionsOf(r.lines));
      after = r.last;
    }
    expect(seen).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(readFileSync(join(dir, changelogFile(1)), 'utf8').split('\n').length).toBe(101);
  });

  it('tells a follower to download a dump when its version is no longer kept, or is ahead', async () => {
    const { dir, changelog, conn } = await setup(1000, 0);
    await appendDurably(changelog, 10);
    expect(await conn.request('mlFetch', { after: 1000, maxBytes: 1 << 20, waitMs: 0 })).toMatchObject({ mode: 'entries', first: 1001, last: 1010 });
    const old = await conn.request('mlFetch', { after: 500, maxBytes: 1 << 20, waitMs: 0 });
    expect(old.mode).toBe('dump');
    expect(old.reason).toMatch(/version 501 is no longer kept/);
    const ahead = await conn.request('mlFetch', { after: 2000, maxBytes: 1 << 20, waitMs: 0 });
    expect(ahead.mode).toBe('dump');
    expect(ahead.reason).toMatch(/ahead of this master/);
    await rotateChangelogFiles(dir, 5);
  });

  it('serves the newest dump in pieces with its sha256, pinned while a newer one replaces it', async () => {
    const { dir, conn } = await setup();
    const dump = frameDump(2, 42, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    writeFileSync(join(dir, DUMP_FILE), dump);
    const info = await conn.request('mlDumpOpen', {});
    expect(info.version).toBe(42);
    expect(info.size).toBe(dump.length);
    expect(Buffer.from(info.sha256).toString('hex')).toBe(createHash('sha256').update(dump).digest('hex'));
    writeFileSync(join(dir, 'other'), 'x');
    const pieces: Buffer[] = [];
    for (let off = 0; off < info.size; ) {
      const { data } = await conn.request('mlDumpRead', { handle: info.handle, offset: off, length: 1 << 20 });
      pieces.push(Buffer.from(data));
      off += data.length;
    }
    expect(Buffer.concat(pieces).equals(dump)).toBe(true);
    await conn.request('mlDumpClose', { handle: info.handle });
    await expect(conn.request('mlDumpRead', { handle: info.handle, offset: 0, length: 10 })).rejects.toThrow(/not open/);
  });
});

describe('changelog feed', () => {
  it('drops lines older than the preserve window from memory and reads them from files', () => {
    const dir = tempDir();
    let now = 0;
    let durable = 0;
    const feed = new ChangelogFeed({ dir, durable: () => durable, preserveMs: 1000, now: () => now });
    let text = '';
    for (let v = 1; v <= 20; v++) text += encodeEntry(v, purge(v));
    writeFileSync(join(dir, changelogFile(0)), text);
    feed.add(1, text.split(/(?<=\n)/).slice(0, 10));
    durable = 10;
    now = 5000;
    feed.add(11, text.split(/(?<=\n)/).slice(10));
    durable = 20;
    expect(feed.oldestInMemory).toBe(11);
    const r = feed.read(0, 1 << 20);
    expect(r.kind === 'entries' && versionsOf(r.lines)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const m = feed.read(12, 1 << 20);
    expect(m.kind === 'entries' && [m.first, m.last]).toEqual([13, 20]);
    expect(feed.read(20, 100)).toEqual({ kind: 'none' });
  });

  it('never serves a line past the durable version, nor a torn tail', () => {
    const dir = tempDir();
    const feed = new ChangelogFeed({ dir, durable: () => 5, preserveMs: 0 });
    let text = '';
    for (let v = 1; v <= 8; v++) text += encodeEntry(v, purge(v));
    writeFileSync(join(dir, changelogFile(0)), text + '9|abc');
    const r = feed.read(0, 1 << 20);
    expect(r.kind === 'entries' && versionsOf(r.lines)).toEqual([1, 2, 3, 4, 5]);
  });
});
