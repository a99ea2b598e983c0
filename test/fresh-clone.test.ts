/**
 * What a fresh clone gives after scripts/setup.sh alone (.ci/run starts from one): npm ci
 * links every command of every package's `bin` map, which it can only do when the target
 * is a committed file (dist/ does not exist yet then), and each answers
 * `npx --no-install NAME --help` from that link, never from the npm registry.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

interface Bin {
  name: string;
  /** The bin's file, from the repository root. */
  target: string;
}

type BinMap = Record<string, string>;

const manifests = readdirSync(join(ROOT, 'packages')).map((pkg) => ({
  pkg,
  bin: (JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as { bin?: BinMap }).bin ?? {},
}));
const bins: Bin[] = manifests.flatMap(({ pkg, bin }) => Object.entries(bin).map(([name, target]) => ({ name, target: join('packages', pkg, target) })));

describe('a fresh clone after scripts/setup.sh', () => {
  it('has a bin map with the commands the README names', () => {
    const names = bins.map((b) => b.name);
    for (const name of ['tsmfs-master', 'tsmfs-chunkserver', 'tsmfs-metalogger', 'tsmfs-metarestore', 'tsmfs-mount', 'tsmfs', 'tsmfs-cli']) expect(names).toContain(name);
  });

  it('has the bin maps in package-lock.json that the packages have (npm ci links from the lock)', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { bin?: BinMap }> };
    for (const { pkg, bin } of manifests) expect(lock.packages[`packages/${pkg}`]?.bin ?? {}, pkg).toEqual(bin);
  });

  it('links every bin to a committed file', () => {
    const committed = new Set(execFileSync('git', ['ls-files', 'packages'], { cwd: ROOT, encoding: 'utf8' }).split('\n'));
    expect(bins.filter((b) => !committed.has(b.target)).map((b) => `${b.name} -> ${b.target} is not committed`)).toEqual([]);
    const linked = (b: Bin): string | undefined => {
      try {
        return realpathSync(join(ROOT, 'node_modules/.bin', b.name));
      } catch {
        return undefined;
      }
    };
    expect(bins.filter((b) => linked(b) !== join(ROOT, b.target)).map((b) => `${b.name} is not linked to ${b.target}`)).toEqual([]);
  });

  // One at a time: each starts npm and a daemon's --help, and the machine is shared.
  it.each(bins)('npx --no-install $name --help prints its usage', async ({ name }) => {
    const run = promisify(execFile);
    const { stdout } = await run('npx', ['--no-install', name, '--help'], { cwd: ROOT, timeout: 60_000 });
    expect(stdout).toMatch(new RegExp(`^Usage: ${name} `, 'm'));
  });
});
