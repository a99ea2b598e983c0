import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Changelog, DUMP_FILE, MetadataStore, MetadataStoreError, changelogFile, dumpBackupFile } from '@tsmfs/metastore';
import { metadataCodec } from './master.js';
import type { Metadata } from './metadata/metadata.js';
import type { Mutation } from './metadata/mutation.js';
import { Namespace } from './metadata/namespace.js';
import { canonicalState } from './metadata/state-digest.js';

const root = { uid: 0, gid: 0, groups: [0] };
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'tsmfs-store-'));

function recordingLog(lines: Record<string, unknown>[]) {
  return pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
}

/** One master life: load, run `work` through a real namespace and changelog, optionally stop cleanly. */
async function life(dir: string, work: (ns: Namespace) => void, opts: { clean: boolean; log?: pino.Logger } = { clean: true }) {
  const log = opts.log ?? pino({ level: 'silent' });
  const changelog: Changelog = new Changelog({ dir, backLogs: 50, saveMode: 2, startVersion: () => store.metadata.version, log });
  const store: MetadataStore<Metadata, Mutation> = new MetadataStore({
    dir,
    codec: metadataCodec,
    keepPrevious: 1,
    backLogs: 50,
    changelogDurable: (v) => changelog.durable(v),
    log,
  });
  await store.start();
  await changelog.start();
  let t = 1_700_000_000;
  const ns = new Namespace(store.metadata, (m: Mutation) => void changelog.append(m), () => ({ sec: t++, nsec: 0 }));
  work(ns);
  await changelog.durable(changelog.version);
  const state = canonicalState(store.metadata);
  await changelog.stop();
  if (opts.clean) await store.stop();
  return state;
}

/** A store with no changelog behind it: nothing is ever appended, so there is nothing to wait for. */
const alone = { codec: metadataCodec, backLogs: 50, changelogDurable: async () => undefined, log: pino({ level: 'silent' }) };

const mkdirs = (names: string[]) => (ns: Namespace) => {
  for (const name of names) ns.mkdir({ cred: root, parent: 1, name, mode: 0o755, umask: 0o022 });
};

describe('MetadataStore', () => {
  it('creates a new file system on an empty DATA_PATH and dumps it at once', async () => {
    const dir = tempDir();
    const lines: Record<string, unknown>[] = [];
    await life(dir, () => {}, { clean: false, log: recordingLog(lines) });
    expect(readdirSync(dir)).toContain(DUMP_FILE);
    expect(lines.some((l) => /creating a new, empty file system/.test(String(l.msg)))).toBe(true);
  });

  it('rebuilds the same state from dump + changelog after a crash (no shutdown dump)', async () => {
    const dir = tempDir();
    await life(dir, mkdirs(['a', 'b']));
    const before = await life(dir, mkdirs(['c', 'd']), { clean: false });
    const after = await life(dir, () => {}, { clean: false });
    expect(after).toEqual(before);
  });

  it('falls back to the previous dump when the newest fails its checksum, and says so', async () => {
    const dir = tempDir();
    await life(dir, mkdirs(['one']));
    await life(dir, mkdirs(['two']));
    const expected = await life(dir, mkdirs(['three']), { clean: false });
    expect(readdirSync(dir)).toEqual(expect.arrayContaining([DUMP_FILE, dumpBackupFile(1), changelogFile(0), changelogFile(1)]));
    const dump = readFileSync(join(dir, DUMP_FILE));
    dump[Math.floor(dump.length / 2)] ^= 0xff;
    writeFileSync(join(dir, DUMP_FILE), dump);
    const lines: Record<string, unknown>[] = [];
    const state = await life(dir, () => {}, { clean: false, log: recordingLog(lines) });
    expect(state).toEqual(expected);
    const warning = lines.find((l) => l.level === 50 && l.dump === join(dir, DUMP_FILE));
    expect(warning?.msg).toMatch(/damaged; falling back to the previous one/);
  });

  it('after a fallback, sets the damaged dump aside so later rotations keep the good one', async () => {
    const dir = tempDir();
    await life(dir, mkdirs(['one']));
    await life(dir, mkdirs(['two']));
    const dump = readFileSync(join(dir, DUMP_FILE));
    dump[Math.floor(dump.length / 2)] ^= 0xff;
    writeFileSync(join(dir, DUMP_FILE), dump);
    // A clean life after the fallback rotates dumps. If the newest is damaged again,
    // the backup it falls back to must be a good one, not the first damaged file.
    await life(dir, mkdirs(['three']));
    expect(readdirSync(dir)).toContain(`${DUMP_FILE}.damaged`);
    const expected = await life(dir, mkdirs(['four']), { clean: false });
    const again = readFileSync(join(dir, DUMP_FILE));
    again[Math.floor(again.length / 2)] ^= 0xff;
    writeFileSync(join(dir, DUMP_FILE), again);
    expect(await life(dir, () => {}, { clean: false })).toEqual(expected);
  });

  it('refuses to start when no dump verifies', async () => {
    const dir = tempDir();
    await life(dir, mkdirs(['x']));
    writeFileSync(join(dir, DUMP_FILE), 'not a dump');
    writeFileSync(join(dir, dumpBackupFile(1)), 'not a dump either');
    const store = new MetadataStore({ ...alone, keepPrevious: 1, dir });
    await expect(store.start()).rejects.toThrow(MetadataStoreError);
    await expect(store.start()).rejects.toThrow(/no usable metadata dump/);
  });

  it('refuses changelogs without any dump rather than starting an empty file system over them', async () => {
    const dir = tempDir();
    await life(dir, mkdirs(['x']), { clean: false });
    for (const f of readdirSync(dir)) if (f.startsWith('metadata')) rmSync(join(dir, f));
    const store = new MetadataStore({ ...alone, keepPrevious: 1, dir });
    await expect(store.start()).rejects.toThrow(/holds changelogs .* but no metadata dump/);
  });

  it('keeps BACK_META_KEEP_PREVIOUS older dumps', async () => {
    const dir = tempDir();
    const store = new MetadataStore({ ...alone, keepPrevious: 2, dir });
    await store.start();
    for (let i = 0; i < 4; i++) await store.dump();
    expect(readdirSync(dir).filter((f) => f.startsWith('metadata')).sort()).toEqual([DUMP_FILE, dumpBackupFile(1), dumpBackupFile(2)]);
  });
});
