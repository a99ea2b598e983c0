import { appendFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEntry } from '@tsmfs/metastore';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MlChangelog } from './ml-changelog.js';

const log = pino({ level: 'silent' });
const ts = { sec: 1_700_000_000, nsec: 0 };
const lines = (from: number, to: number): string => {
  let s = '';
  for (let v = from; v <= to; v++) s += encodeEntry(v, { op: 'purge', ts, inode: v });
  return s;
};

describe('metalogger changelog files', () => {
  it('resumes from the last version on disk, cutting a torn last line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-mlcl-'));
    writeFileSync(join(dir, 'changelog_ml.1.tsmfs'), lines(1, 10));
    writeFileSync(join(dir, 'changelog_ml.0.tsmfs'), lines(11, 15) + lines(16, 16).slice(0, 20));
    const cl = new MlChangelog(dir, 5, true, log);
    await cl.open();
    expect(cl.lastVersion).toBe(15);
    await cl.append(lines(16, 17), 16, 17);
    await cl.close();
    expect(readFileSync(join(dir, 'changelog_ml.0.tsmfs'), 'utf8')).toBe(lines(11, 17));
  });

  it('refuses a batch that would leave a hole or repeat a version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-mlcl-'));
    const cl = new MlChangelog(dir, 5, false, log);
    await cl.open();
    await cl.append(lines(1, 3), 1, 3);
    await expect(cl.append(lines(5, 6), 5, 6)).rejects.toThrow(/does not continue version 3/);
    await expect(cl.append(lines(3, 4), 3, 4)).rejects.toThrow(/does not continue version 3/);
    await cl.close();
  });

  it('rotates like the master (empty live file kept, BACK_LOGS kept), restarts at a dump, sets a diverged history aside', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-mlcl-'));
    const cl = new MlChangelog(dir, 2, false, log);
    await cl.open();
    for (let i = 0; i < 4; i++) {
      await cl.append(lines(cl.lastVersion + 1, cl.lastVersion + 2), cl.lastVersion + 1, cl.lastVersion + 2);
      await cl.rotate();
    }
    await cl.rotate(); // empty changelog_ml.0: not shifted
    expect(readdirSync(dir).sort()).toEqual(['changelog_ml.0.tsmfs', 'changelog_ml.1.tsmfs', 'changelog_ml.2.tsmfs']);
    expect(readFileSync(join(dir, 'changelog_ml.1.tsmfs'), 'utf8')).toBe(lines(7, 8));
    await cl.restartAt(100);
    await cl.append(lines(101, 101), 101, 101);
    const aside = await cl.setAside();
    expect(cl.lastVersion).toBe(0);
    expect(readdirSync(aside).sort()).toEqual(['changelog_ml.0.tsmfs', 'changelog_ml.1.tsmfs', 'changelog_ml.2.tsmfs']);
    appendFileSync(join(dir, 'changelog_ml.0.tsmfs'), '');
    await cl.close();
  });
});
