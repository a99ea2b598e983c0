import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { live } from './live.js';

/** A new temp dir, removed by stopEverything({ removeTempDirs: true }). */
export function makeTempDir(prefix = 'tsmfs-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  live.tempDirs.add(dir);
  return dir;
}
