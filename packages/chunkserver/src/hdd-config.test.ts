import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tsmfs/daemon';
import { describe, expect, it } from 'vitest';
import { loadHddConfig, parseHddConfig } from './hdd-config.js';

describe('hdd config (mfshdd.cfg)', () => {
  it('reads one path a line, skips comments and blanks, and honours the removal mark', () => {
    const text = ['# disks of this chunkserver', '/mnt/hd1', '', '   /mnt/hd2/  # trailing comment', '*/mnt/hd3', '* /mnt/hd4', '\t'].join('\n');
    expect(parseHddConfig(text, 'hdd.cfg')).toEqual([
      { path: '/mnt/hd1', markedForRemoval: false, where: 'hdd.cfg:2' },
      { path: '/mnt/hd2', markedForRemoval: false, where: 'hdd.cfg:4' },
      { path: '/mnt/hd3', markedForRemoval: true, where: 'hdd.cfg:5' },
      { path: '/mnt/hd4', markedForRemoval: true, where: 'hdd.cfg:6' },
    ]);
  });

  it.each([
    ['relative/path', /hdd.cfg:2: 'relative\/path' is not an absolute path/],
    ['*', /hdd.cfg:2: '\*' must be followed by a disk path/],
    ['/mnt/hd1 -10GiB', /hdd.cfg:2: .*one path a line/],
    ['/mnt/hd0/', /hdd.cfg:2: disk \/mnt\/hd0 is already listed at hdd.cfg:1/],
  ])('refuses %j naming file and line', (line, message) => {
    expect(() => parseHddConfig(`/mnt/hd0\n${line}\n`, 'hdd.cfg')).toThrow(ConfigError);
    expect(() => parseHddConfig(`/mnt/hd0\n${line}\n`, 'hdd.cfg')).toThrow(message);
  });

  it('a missing file or one listing no disk stops the daemon with a clear message', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsmfs-hddcfg-'));
    try {
      await expect(loadHddConfig(join(dir, 'none.cfg'))).rejects.toThrow(/none.cfg: cannot read the hdd configuration \(ENOENT\)/);
      await writeFile(join(dir, 'empty.cfg'), '# nothing yet\n');
      await expect(loadHddConfig(join(dir, 'empty.cfg'))).rejects.toThrow(/empty.cfg: no disks listed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
