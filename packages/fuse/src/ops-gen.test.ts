import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from './native.js';
import { OP_CODES, OP_SPECS } from './ops.gen.js';

const generator = fileURLToPath(new URL('../codegen/generate.mjs', import.meta.url));

describe('the table of operations (codegen/ops.mjs)', () => {
  it('is what the checked-in C and TypeScript were generated from', () => {
    const r = spawnSync(process.execPath, [generator, '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('gives the addon and the session the same op codes, one spec per request op', () => {
    expect(native.ops).toEqual(OP_CODES);
    for (const [i, spec] of OP_SPECS.entries()) expect(OP_CODES[spec.name]).toBe(i + 1);
  });

  it('decodes named arguments from the inbox layout the C side writes', () => {
    const n = new Float64Array(32);
    n.set([7, 1, 0o777, 1000, 1001, 123, 10, 20, 30, 40, -1], 6);
    const setattr = OP_SPECS[OP_CODES.setattr - 1].decode(n);
    // toSet 1 is MODE alone: the other fields arrive but are not changes.
    expect(setattr).toEqual({ ino: 7, changes: { toSet: 1, mode: 0o777 }, fh: undefined });
    n.set([5, 16 | 32, 0, 0, 0, 0, 1, 999_999_999, -2, 5], 6);
    expect(OP_SPECS[OP_CODES.setattr - 1].decode(n)).toMatchObject({
      changes: { atime: { sec: 1, nsec: 999_999_999 }, mtime: { sec: -2, nsec: 5 } },
    });
    n.set([3, 2, 1, 7, 0], 6);
    expect(OP_SPECS[OP_CODES.getlk - 1].decode(n, undefined, undefined, undefined, 99n)).toEqual({
      ino: 3,
      fh: 2,
      lock: { type: 1, start: 7, length: 0, pid: 0 },
      owner: 99n,
    });
  });

  it('fails the check when a generated file was edited by hand', () => {
    const root = mkdtempSync(join(tmpdir(), 'tsmfs-opsgen-'));
    try {
      const pkg = fileURLToPath(new URL('..', import.meta.url));
      cpSync(join(pkg, 'codegen'), join(root, 'codegen'), { recursive: true });
      mkdirSync(join(root, 'src/native'), { recursive: true });
      for (const f of ['src/ops.gen.ts', 'src/native/ops.gen.h', 'src/native/ops.gen.c']) cpSync(join(pkg, f), join(root, f));
      appendFileSync(join(root, 'src/native/ops.gen.c'), '/* edited */\n');
      const r = spawnSync(process.execPath, [join(root, 'codegen/generate.mjs'), '--check'], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('ops.gen.c is not what codegen/ops.mjs gives');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
