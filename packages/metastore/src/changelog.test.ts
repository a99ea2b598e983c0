import { mkdtempSync, readFileSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Changelog } from './changelog.js';
import { decodeEntry, encodeEntry } from './changelog-entry.js';
import { ChangelogError, readChangelogFile, replayChangelogs } from './changelog-reader.js';
import { changelogFile } from './data-path.js';

const log = pino({ level: 'silent' });
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'tsmfs-changelog-'));
const ts = { sec: 1_700_000_000, nsec: 5 };
const purge = (inode: number) => ({ op: 'purge', ts, inode });

function open(dir: string, startVersion = 0, events: string[] = [], backLogs = 50): Changelog {
  return new Changelog({
    dir,
    backLogs,
    saveMode: 2,
    startVersion: () => startVersion,
    log,
    onSynced: (upTo, n) => events.push(`synced ${upTo} (${n})`),
  });
}

function writeEntries(dir: string, n: number, from: number, to: number): void {
  let text = '';
  for (let v = from; v <= to; v++) text += encodeEntry(v, purge(v));
  writeFileSync(join(dir, changelogFile(n)), text);
}

describe('changelog entries', () => {
  it('round-trip any mutation, binary values included', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('setxattr' as const), ts: fc.constant(ts), inode: fc.nat(), name: fc.string(), value: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ op: fc.constant('create' as const), ts: fc.constant(ts), parent: fc.nat(), name: fc.string(), inode: fc.nat(), type: fc.constant('symlink' as const), mode: fc.nat(0o7777), uid: fc.nat(), gid: fc.nat(), rdev: fc.constant(0), target: fc.string() }),
    );
    fc.assert(
      fc.property(fc.nat(), mutation, (version, m) => {
        const line = encodeEntry(version, m);
        expect(line.endsWith('\n')).toBe(true);
        expect(line.slice(0, -1)).not.toContain('\n');
        expect(decodeEntry(line.slice(0, -1))).toEqual({ version, mutation: m });
      }),
    );
  });

  it('write a line without binary values as its plain JSON, and read back names that spell the binary marker', () => {
    const m = { op: 'create', ts, parent: 1, name: 'a', inode: 2, type: 'file', mode: 0o644, uid: 0, gid: 0, rdev: 0 };
    expect(encodeEntry(5, m).split('|').slice(2).join('|')).toBe(`${JSON.stringify(m)}\n`);
    for (const name of ['$b64', '"$b64"', '{"$b64":"AAEC"}']) {
      const tricky = { op: 'setxattr', ts, inode: 3, name, value: new Uint8Array([0, 1, 2]) };
      expect(decodeEntry(encodeEntry(9, tricky).slice(0, -1))).toEqual({ version: 9, mutation: tricky });
      const plain = { ...m, name };
      expect(decodeEntry(encodeEntry(9, plain).slice(0, -1))).toEqual({ version: 9, mutation: plain });
    }
  });

  it('reject any changed byte', () => {
    const line = encodeEntry(7, { op: 'setxattr', ts, inode: 3, name: 'user.a', value: new Uint8Array([1, 2, 3]) }).slice(0, -1);
    fc.assert(
      fc.property(fc.nat(line.length - 1), fc.integer({ min: 32, max: 126 }), (pos, code) => {
        fc.pre(line.charCodeAt(pos) !== code);
        const damaged = line.slice(0, pos) + String.fromCharCode(code) + line.slice(pos + 1);
        expect(() => decodeEntry(damaged)).toThrow();
      }),
    );
  });
});

describe('Changelog group commit', () => {
  it('acknowledges a version only after the fsync of a batch covering it', async () => {
    const dir = tempDir();
    const events: string[] = [];
    const cl = open(dir, 0, events);
    await cl.start();
    const acks: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) {
      const v = cl.append(purge(i));
      expect(v).toBe(i);
      acks.push(cl.durable(v).then(() => void events.push(`ack ${v}`)));
    }
    await Promise.all(acks);
    for (let v = 1; v <= 50; v++) {
      const ack = events.indexOf(`ack ${v}`);
      const covering = events.findIndex((e) => e.startsWith('synced ') && Number(e.split(' ')[1]) >= v);
      expect(covering).toBeGreaterThanOrEqual(0);
      expect(covering).toBeLessThan(ack);
    }
    // 50 appends in one tick are one batch, one fsync.
    expect(events.filter((e) => e.startsWith('synced'))).toEqual(['synced 50 (50)']);
    await cl.stop();
    const lines = readFileSync(join(dir, changelogFile(0)), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => decodeEntry(l).version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('answers durable() at once when closed: before start (state read from disk) and after stop (all fsynced)', async () => {
    const dir = tempDir();
    const cl = open(dir, 40);
    // A master whose start failed after loading version 40 still writes its shutdown dump.
    await cl.durable(40);
    await cl.start();
    cl.append(purge(1));
    await cl.stop();
    expect(cl.durableUpTo).toBe(41);
    await cl.durable(41);
  });

  it('forms the next batch while an fsync runs', async () => {
    const dir = tempDir();
    const events: string[] = [];
    const cl = open(dir, 10, events);
    await cl.start();
    const first = cl.durable(cl.append(purge(1)));
    // Let the first batch's write start, then append while it is in flight.
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4].map((i) => cl.durable(cl.append(purge(i))));
    await Promise.all([first, ...later]);
    expect(events).toEqual(['synced 11 (1)', 'synced 14 (3)']);
    await cl.stop();
  });

  it('stop() writes out what is queued', async () => {
    const dir = tempDir();
    const cl = open(dir);
    await cl.start();
    cl.append(purge(1));
    cl.append(purge(2));
    await cl.stop();
    expect(readChangelogFile(join(dir, changelogFile(0)), false).entries).toHaveLength(2);
    expect(() => cl.append(purge(3))).toThrow(/closed/);
  });

  it('rotates: changelog.N → N+1, keeping BACK_LOGS old files', async () => {
    const dir = tempDir();
    const cl = open(dir, 0, [], 2);
    await cl.start();
    for (let i = 1; i <= 4; i++) {
      await cl.durable(cl.append(purge(i)));
      await cl.rotate();
    }
    await cl.durable(cl.append(purge(5)));
    await cl.stop();
    expect(readdirSync(dir).sort()).toEqual([changelogFile(0), changelogFile(1), changelogFile(2)]);
    const seen: number[] = [];
    replayChangelogs(dir, 2, (e) => seen.push(e.version));
    expect(seen).toEqual([3, 4, 5]);
  });
});

describe('changelog replay', () => {
  it('drops a torn last line with its reason, cuts it off, and appending resumes cleanly', async () => {
    const dir = tempDir();
    writeEntries(dir, 0, 1, 3);
    const whole = encodeEntry(4, purge(4));
    appendFileSync(join(dir, changelogFile(0)), whole.slice(0, whole.length / 2));
    const seen: number[] = [];
    const result = replayChangelogs(dir, 0, (e) => seen.push(e.version));
    expect(seen).toEqual([1, 2, 3]);
    expect(result.tornTail).toMatchObject({ line: 4, reason: expect.stringMatching(/interrupted/) });
    const cl = open(dir, result.lastVersion);
    await cl.start();
    await cl.durable(cl.append(purge(4)));
    await cl.stop();
    expect(readChangelogFile(join(dir, changelogFile(0)), false).entries.map((e) => e.version)).toEqual([1, 2, 3, 4]);
  });

  it('drops a complete last line whose checksum does not match', () => {
    const dir = tempDir();
    writeEntries(dir, 0, 1, 2);
    appendFileSync(join(dir, changelogFile(0)), encodeEntry(3, purge(3)).replace('"purge"', '"purgE"'));
    const seen: number[] = [];
    const result = replayChangelogs(dir, 0, (e) => seen.push(e.version));
    expect(seen).toEqual([1, 2]);
    expect(result.tornTail?.reason).toBe('checksum mismatch');
  });

  it('keeps only the entries above keepAfter, still verifying the ones below (replay after a dump)', () => {
    const dir = tempDir();
    writeEntries(dir, 0, 1, 5);
    const path = join(dir, changelogFile(0));
    const scan = readChangelogFile(path, false, 3);
    expect(scan.entries.map((e) => e.version)).toEqual([4, 5]);
    expect(scan.skipped).toBe(3);
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"inode":2', '"inode":4');
    writeFileSync(path, lines.join('\n'));
    expect(() => readChangelogFile(path, false, 3)).toThrow(`${path}:2: damaged changelog entry (checksum mismatch)`);
  });

  it('refuses a damaged line in the middle, naming file and line', () => {
    const dir = tempDir();
    writeEntries(dir, 0, 1, 5);
    const path = join(dir, changelogFile(0));
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"inode":3', '"inode":4');
    writeFileSync(path, lines.join('\n'));
    expect(() => replayChangelogs(dir, 0, () => {})).toThrow(ChangelogError);
    expect(() => replayChangelogs(dir, 0, () => {})).toThrow(`${path}:3: damaged changelog entry (checksum mismatch)`);
  });

  it('refuses a torn tail in an older (rotated) changelog', () => {
    const dir = tempDir();
    writeEntries(dir, 1, 1, 2);
    appendFileSync(join(dir, changelogFile(1)), '3|dead');
    writeEntries(dir, 0, 3, 4);
    expect(() => replayChangelogs(dir, 0, () => {})).toThrow(/changelog\.1\.tsmfs:3: damaged/);
  });

  it('refuses a gap between files, naming the missing versions', () => {
    const dir = tempDir();
    writeEntries(dir, 1, 1, 3);
    writeEntries(dir, 0, 6, 7);
    expect(() => replayChangelogs(dir, 0, () => {})).toThrow(/versions 4\.\.5 are missing/);
  });

  it('tolerates a gap in the file numbering (a crash between rotation renames)', () => {
    const dir = tempDir();
    writeEntries(dir, 3, 1, 4);
    writeEntries(dir, 1, 5, 6);
    const seen: number[] = [];
    replayChangelogs(dir, 0, (e) => seen.push(e.version));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses a gap after the dump version', () => {
    const dir = tempDir();
    writeEntries(dir, 0, 20, 25);
    expect(() => replayChangelogs(dir, 10, () => {})).toThrow(/versions 11\.\.19 are missing/);
  });

  it('skips entries at or below the dump version and files wholly below it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, changelogFile(3)), 'garbage that is never read\n');
    writeEntries(dir, 2, 1, 10);
    writeEntries(dir, 1, 11, 20);
    writeEntries(dir, 0, 21, 22);
    const seen: number[] = [];
    const result = replayChangelogs(dir, 15, (e) => seen.push(e.version));
    expect(seen).toEqual([16, 17, 18, 19, 20, 21, 22]);
    expect(result.lastVersion).toBe(22);
  });
});
