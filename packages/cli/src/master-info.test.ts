import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotInMountError } from './exit-codes.js';
import { findMount, parseMasterInfo } from './master-info.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsmfs-cli-'));
  dirs.push(d);
  mkdirSync(join(d, 'mnt/a/b'), { recursive: true });
  writeFileSync(join(d, 'mnt/a/b/f'), 'x');
  return d;
}

const INFO = { masters: [{ host: '127.0.0.1', port: 9421 }], sessionId: 42, subdir: '/', mountpoint: '/mnt', version: '0.1.0' };

describe('findMount', () => {
  it('walks up to the directory holding .masterinfo', async () => {
    const d = tree();
    writeFileSync(join(d, 'mnt/.masterinfo'), JSON.stringify(INFO) + '\n');
    const m = await findMount(join(d, 'mnt/a/b/f'));
    expect(m.root).toBe(join(d, 'mnt'));
    expect(m.info.sessionId).toBe(42);
    expect(m.isDirectory).toBe(false);
    expect((await findMount(join(d, 'mnt'))).root).toBe(join(d, 'mnt'));
  });

  it('says clearly when a path is not in a mount', async () => {
    const d = tree();
    await expect(findMount(join(d, 'mnt/a'))).rejects.toThrow(NotInMountError);
    await expect(findMount(join(d, 'mnt/a'))).rejects.toThrow(/not inside a tsmfs mount/);
    await expect(findMount(join(d, 'nope'))).rejects.toThrow(/no such file/);
  });

  it('refuses a .masterinfo that is not one', () => {
    expect(() => parseMasterInfo('{"masters":[]}', 'x')).toThrow(/not a tsmfs .masterinfo/);
    expect(() => parseMasterInfo('garbage', 'x')).toThrow(/not JSON/);
    expect(parseMasterInfo(JSON.stringify(INFO), 'x').masters[0]!.port).toBe(9421);
  });
});
