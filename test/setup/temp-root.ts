/**
 * Vitest's global setup: every temporary directory of a run goes under one root, removed
 * when the run ends. Tests make theirs with os.tmpdir() (mkdtemp of a daemon's data, a
 * config file, a mount point) and many never removed them: ~220 were left in /tmp after
 * a few runs. TMPDIR is set before the workers start, so they and every process a test
 * spawns inherit it. The root is 1777 like /tmp: tests run tools as other users there.
 * Removed with `--one-file-system`: a mount a failed test left behind is not descended into.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  // Vitest runs a global setup once per project as well as at the top: one root for all,
  // not roots nested in roots (chromium's socket path in a third level passed 108 bytes).
  if (process.env.TSMFS_TEST_TMP) return () => undefined;
  const root = mkdtempSync(join(tmpdir(), 'tsmfs-test-run-'));
  chmodSync(root, 0o1777);
  process.env.TMPDIR = root;
  process.env.TSMFS_TEST_TMP = root;
  return () => {
    spawnSync('rm', ['-rf', '--one-file-system', root], { stdio: 'ignore' });
    delete process.env.TSMFS_TEST_TMP;
  };
}
