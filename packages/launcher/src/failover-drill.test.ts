import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DrillOp, checkDrill } from './failover-drill.js';

/** The checker against directories made by hand: it must see each kind of failure. */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'tsmfs-drill-check-'));
  dirs.push(root);
  mkdirSync(join(root, 'w0'));
  for (const [path, content] of Object.entries(files)) writeFileSync(join(root, path), content);
  return root;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let seq = 0;
const op = (kind: DrillOp['kind'], name: string, more: Partial<DrillOp> = {}): DrillOp => ({ worker: 0, seq: seq++, kind, name, invokedAt: 0, doneAt: 1, outcome: 'ok', ...more });
const write = (name: string, content: string, more: Partial<DrillOp> = {}) => op('write', name, { sha: sha(content), size: content.length, ...more });

describe('checkDrill', () => {
  it('passes a directory that is what the acknowledged operations made', async () => {
    const root = tree({ 'w0/b': 'one', 'w0/c': 'three' });
    const report = await checkDrill(root, [write('a', 'one'), op('rename', 'a', { to: 'b' }), write('a', 'two'), op('unlink', 'a'), write('c', 'three')]);
    expect(report).toEqual({ acknowledged: 5, errors: [], lost: [], misapplied: [], corrupt: [], partial: [] });
  });

  it('sees a lost write, an unlink applied twice, a rename applied where none was, a torn file and a half-done unknown rename', async () => {
    const root = tree({ 'w0/a': 'one', 'w0/c': 'thr', 'w0/d': 'four', 'w0/e': 'five', 'w0/r': 'pp' });
    const report = await checkDrill(root, [
      write('a', 'one'),
      write('a', 'two'), // lost: a still has 'one'
      write('b', 'b1'),
      op('unlink', 'b'),
      write('b', 'b2'), // gone: the unlink applied again after it (by state alone, a lost write)
      write('p', 'pp'),
      op('rename', 'p', { to: 'q' }), // but the file is at r, a name it never had
      write('c', 'three'), // torn: 'thr' was never written
      write('d', 'four'),
      write('e', 'five'),
      op('rename', 'd', { to: 'e', outcome: 'unknown', error: 'timeout' }), // d and e both still there with d's content at d, e's at e: before — fine
      write('f', 'six'),
      op('rename', 'f', { to: 'g', outcome: 'failed', error: 'EIO' }), // f gone, g absent: neither before nor after
    ]);
    expect(report.lost).toEqual([
      expect.stringMatching(/^w0\/a: 3 B .*, expected 3 B/),
      expect.stringMatching(/^w0\/b: absent, expected 2 B/),
      expect.stringMatching(/^w0\/q: absent, expected 2 B/),
    ]);
    expect(report.misapplied).toEqual([expect.stringMatching(/^w0\/r: 2 B .*, expected absent/)]);
    expect(report.corrupt).toEqual([expect.stringMatching(/^w0\/c: 3 B/)]);
    expect(report.partial).toEqual([expect.stringMatching(/rename f → g: neither before nor after/)]);
    expect(report.errors.length).toBe(2);
  });
});
