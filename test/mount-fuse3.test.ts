/**
 * What the mount gains from libfuse 3 (issue 11): renameat2's flags reach the master and
 * answer as ext4 does, and `ls -l` is served by READDIRPLUS instead of a LOOKUP per name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { shOk } from './fixture/mount-shell.js';

/** renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) through glibc: "ok" or strerror. */
const RENAME2 = [
  'import ctypes, os, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  "cat = lambda p: open(p).read().strip() if os.path.exists(p) else '-'",
  'for spec in sys.argv[1:]:',
  "    a, b, flags = spec.split(':')",
  '    r = libc.renameat2(-100, a.encode(), -100, b.encode(), int(flags))',
  "    print(spec, os.strerror(ctypes.get_errno()) if r else 'ok', cat(a), cat(b))",
].join('\n');

/** NOREPLACE onto a file and onto a new name, EXCHANGE of two files, onto a missing one, both flags. */
const CASES = ['a:b:1', 'a:c:1', 'c:b:2', 'b:nope:2', 'b:c:3'];

async function renames(dir: string): Promise<string> {
  return shOk(`cd ${dir} && echo A > a && echo B > b && python3 -c "$PY" ${CASES.join(' ')}`, {
    env: { ...process.env, PY: RENAME2 },
  });
}

/** A counter of the mount's `.stats` (0 while the operation has not been seen). */
function opCount(mount: Mount, op: string): number {
  const line = readFileSync(join(mount.path, '.stats'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`op_${op}: `));
  return line ? Number(line.split(': ')[1]) : 0;
}

describe('tsmfs-mount on libfuse 3', () => {
  it('passes renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE through, with ext4 errno', async () => {
    const c = await Cluster.create();
    await c.addChunkservers(1);
    const m = await c.mount();
    const mounted = await renames(m.path);
    expect(mounted).toBe(await renames(makeTempDir('tsmfs-rename2-')));
    expect(mounted).toContain('a:b:1 File exists');
    expect(mounted).toContain('c:b:2 ok');
  });

  it('lists with READDIRPLUS: ls -l of 1,000 new names asks no LOOKUP per name', async () => {
    const c = await Cluster.create();
    // Entry timeouts long enough that the entries READDIRPLUS gave are still valid when
    // ls stats them on a loaded machine.
    const m = await c.mount({ options: ['mfsentrycacheto=60', 'mfsattrcacheto=60'] });
    await shOk(`mkdir ${m.path}/d && cd ${m.path}/d && seq -f 'f%04g' 1000 | xargs touch`);
    // Another mount made them: this kernel has never looked any of them up.
    const fresh = await c.mount({ options: ['mfsentrycacheto=60', 'mfsattrcacheto=60'] });
    const lookups = opCount(fresh, 'lookup');
    expect(await shOk(`ls -l ${fresh.path}/d | grep -c ' f[0-9]'`)).toBe('1000\n');
    // One for d itself; a READDIR mount would ask 1,000 more.
    expect(opCount(fresh, 'lookup') - lookups).toBeLessThanOrEqual(2);
    expect(opCount(fresh, 'readdirplus')).toBeGreaterThan(0);
  });
});
