import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Changelog, type SaveMode } from './changelog.js';
import { decodeEntry } from './changelog-entry.js';
import { changelogFile } from './data-path.js';

const log = pino({ level: 'silent' });
const purge = (inode: number) => ({ op: 'purge', ts: { sec: 1_700_000_000, nsec: 0 }, inode });

/** A changelog in a new temp dir that records every fsync ("synced V") and every durable batch. */
async function started(saveMode: SaveMode, saveIntervalMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-savemode-'));
  const events: string[] = [];
  const cl = new Changelog({ dir, backLogs: 5, saveMode, saveIntervalMs, startVersion: () => 0, log, onSynced: (v) => events.push(`synced ${v}`) });
  cl.onDurable((first, lines) => events.push(`followers ${first}+${lines.length}`));
  await cl.start();
  const onDisk = (): number[] =>
    readFileSync(join(dir, changelogFile(0)), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => decodeEntry(l).version);
  return { cl, events, onDisk };
}

/** Polls (bounded) until `f` holds; the timing itself is not asserted. */
async function until(f: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Long enough that the background timer never fires during a test that must not see it. */
const NEVER = 60_000;

describe('CHANGELOG_SAVE_MODE', () => {
  it('2: saved() only after the fsync of a batch covering the entry', async () => {
    const { cl, events, onDisk } = await started(2, NEVER);
    const v = cl.append(purge(1));
    await cl.saved(v);
    expect(events).toEqual(['synced 1', 'followers 1+1']);
    expect(onDisk()).toEqual([1]);
    await cl.stop();
  });

  it('1: saved() once written, before any fsync; followers wait for the fsync; durable() forces it', async () => {
    const { cl, events, onDisk } = await started(1, NEVER);
    const v = [1, 2, 3].map((i) => cl.append(purge(i)))[2]!;
    await cl.saved(v);
    expect(onDisk(), 'written (in the page cache) before the answer').toEqual([1, 2, 3]);
    expect(events, 'no fsync, and nothing streamed to followers yet').toEqual([]);
    expect(cl.durableUpTo).toBe(0);
    await cl.durable(v);
    expect(events).toEqual(['synced 3', 'followers 1+3']);
    await cl.stop();
  });

  it('1: the background save fsyncs what was written within the interval', async () => {
    const { cl, events } = await started(1, 50);
    await cl.saved(cl.append(purge(1)));
    await until(() => events.includes('synced 1'), 'the background fsync');
    await cl.stop();
  });

  it('0: saved() at once; the entry is written and fsynced by the background save', async () => {
    const { cl, events, onDisk } = await started(0, 50);
    const v = cl.append(purge(1));
    await cl.saved(v);
    expect(onDisk(), 'nothing written before the answer').toEqual([]);
    await until(() => events.includes('synced 1'), 'the background save');
    expect(onDisk()).toEqual([1]);
    expect(events).toEqual(['synced 1', 'followers 1+1']);
    await cl.stop();
  });

  it('0: durable() (a client fsync) writes and fsyncs at once, without waiting for the interval', async () => {
    const { cl, events, onDisk } = await started(0, NEVER);
    cl.append(purge(1));
    const v = cl.append(purge(2));
    await cl.durable(v);
    expect(onDisk()).toEqual([1, 2]);
    expect(events).toEqual(['synced 2', 'followers 1+2']);
    // What comes after is left to the timer again.
    await cl.saved(cl.append(purge(3)));
    await new Promise((r) => setTimeout(r, 100));
    expect(onDisk()).toEqual([1, 2]);
    await cl.stop();
    expect(onDisk(), 'stop() writes and fsyncs everything').toEqual([1, 2, 3]);
  });

  it('0: written() (what a shadow master acks) issues the write at once, without an fsync', async () => {
    const { cl, events, onDisk } = await started(0, NEVER);
    cl.append(purge(1));
    const v = cl.append(purge(2));
    await cl.written(v);
    expect(onDisk()).toEqual([1, 2]);
    expect(events, 'no fsync, nothing for followers').toEqual([]);
    await cl.stop();
  });
});
