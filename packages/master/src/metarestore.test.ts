import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeEntry } from '@tsmfs/metastore';
import { masterClock } from './master.js';
import { createEmptyMetadata } from './metadata/metadata.js';
import { decodeDump, encodeDump } from './metadata/metadata-dump.js';
import { Namespace } from './metadata/namespace.js';
import { canonicalState } from './metadata/state-digest.js';
import { RestoreError, findRestoreInputs, restore } from './metarestore.js';

const cred = { uid: 0, gid: 0, groups: [] };


describe('metarestore', () => {
  it('dump + overlapping master and metalogger changelogs = the live state, each entry once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-mr-'));
    const md = createEmptyMetadata(masterClock());
    const lines: string[] = [];
    let version = 0;
    const ns = new Namespace(md, (m) => lines.push(encodeEntry(++version, m)), masterClock);
    for (let i = 0; i < 40; i++) ns.mknod({ cred, parent: 1, name: `f${i}`, type: 'file', mode: 0o644, umask: 0o022, rdev: 0 });
    writeFileSync(join(dir, 'metadata_ml.tsmfs'), encodeDump(md));
    for (let i = 0; i < 60; i++) ns.mkdir({ cred, parent: 1, name: `d${i}`, mode: 0o755, umask: 0o022 });
    for (let i = 0; i < 20; i++) ns.unlink({ cred, parent: 1, name: `f${i}` });
    writeFileSync(join(dir, 'changelog_ml.1.tsmfs'), lines.slice(0, 70).join(''));
    writeFileSync(join(dir, 'changelog_ml.0.tsmfs'), lines.slice(70).join('') + '121|deadbeef|{"op":'); // torn tail
    writeFileSync(join(dir, 'changelog.0.tsmfs'), lines.slice(50, 100).join(''));
    const warnings: string[] = [];
    const found = findRestoreInputs(dir);
    const r = restore({ ...found, out: join(dir, 'metadata.tsmfs'), warn: (w) => warnings.push(w) });
    expect(r).toMatchObject({ dumpVersion: 40, version: 120, applied: 80 });
    expect(warnings).toEqual([expect.stringMatching(/changelog_ml\.0\.tsmfs:51: ignoring a torn last line/)]);
    expect(canonicalState(decodeDump(readFileSync(join(dir, 'metadata.tsmfs'))))).toEqual(canonicalState(md));
  });

  it('refuses a hole naming the range, and a damaged line that is not a live tail, writing nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-mr-'));
    const md = createEmptyMetadata(masterClock());
    const lines: string[] = [];
    let version = 0;
    const ns = new Namespace(md, (m) => lines.push(encodeEntry(++version, m)), masterClock);
    writeFileSync(join(dir, 'metadata.tsmfs'), encodeDump(md));
    for (let i = 0; i < 30; i++) ns.mkdir({ cred, parent: 1, name: `d${i}`, mode: 0o755, umask: 0o022 });
    const out = join(dir, 'out.tsmfs');
    writeFileSync(join(dir, 'changelog.1.tsmfs'), lines.slice(0, 10).join(''));
    writeFileSync(join(dir, 'changelog.0.tsmfs'), lines.slice(15).join(''));
    const inputs = findRestoreInputs(dir);
    expect(() => restore({ ...inputs, out })).toThrow(RestoreError);
    expect(() => restore({ ...inputs, out })).toThrow(/versions 11\.\.15 are missing: .*changelog\.0\.tsmfs:1 continues with version 16 after version 10/);
    const damaged = lines.slice(0, 10).join('').replace('"d3"', '"dX"');
    writeFileSync(join(dir, 'changelog.1.tsmfs'), damaged);
    expect(() => restore({ ...inputs, out })).toThrow(/changelog\.1\.tsmfs:4: damaged changelog entry \(checksum mismatch\)/);
    expect(existsSync(out)).toBe(false);
    expect(() => findRestoreInputs(mkdtempSync(join(tmpdir(), 'tsmfs-mr-')))).toThrow(/no metadata dump in/);
  });
});
