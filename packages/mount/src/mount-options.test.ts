import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountConfig, parseMountSpec, readOptionsFile } from './mount-options.js';

function file(text: string): string {
  const p = join(mkdtempSync(join(tmpdir(), 'tsmfs-opts-')), 'tsmfsmount.cfg');
  writeFileSync(p, text);
  return p;
}

describe('mount options', () => {
  it('reads mfsmount.cfg: comments, comma-separated or one per line, one mount point line', () => {
    const p = file('# defaults\nnosuid,nodev\nmfsmaster=m1,m2  # two masters\n\n  mfsattrcacheto=3\n/mnt/tsmfs\n');
    expect(readOptionsFile(p)).toEqual({ options: ['nosuid,nodev', 'mfsmaster=m1,m2', 'mfsattrcacheto=3'], mountpoint: '/mnt/tsmfs' });
  });

  it('refuses a second mount point line, options separated by spaces, a missing file, naming file and line', () => {
    expect(() => readOptionsFile(file('/a\n/b\n'))).toThrow(/tsmfsmount\.cfg:2: a second default mount point/);
    expect(() => readOptionsFile(file('ro nodev\n'))).toThrow(/tsmfsmount\.cfg:1: options are separated by commas/);
    expect(() => readOptionsFile('/nonexistent/tsmfsmount.cfg')).toThrow('options file /nonexistent/tsmfsmount.cfg: ENOENT');
  });

  it('reads HOST[:PORT]:[PATH], with a list of masters', () => {
    expect(parseMountSpec('mfsmaster:')).toEqual({ host: 'mfsmaster', port: undefined, subdir: undefined });
    expect(parseMountSpec('m1,m2,m3:9521:/projects/a')).toEqual({ host: 'm1,m2,m3', port: '9521', subdir: '/projects/a' });
    expect(parseMountSpec('10.0.0.1:/')).toEqual({ host: '10.0.0.1', port: undefined, subdir: '/' });
    expect(() => parseMountSpec('mfsmaster')).toThrow('not HOST[:PORT]:[PATH]');
    expect(() => parseMountSpec('m:9421:sub')).toThrow("must start with '/'");
    expect(() => parseMountSpec(':/x')).toThrow('no host');
  });

  it('the command line wins over the file: the file\'s lines come first, the last one of a key counts', () => {
    const c = mountConfig('/m', { option: ['mfsattrcacheto=3,mfsmaster=a', 'mfsattrcacheto=7'], port: '9500' });
    expect(c.attrTimeoutSec).toBe(7);
    expect(c.masters).toEqual([{ host: 'a', port: 9500 }]);
    expect(c.fuseOptions).toEqual([]);
  });

  it('-o mfscachemode takes MooseFS\'s four modes and their other names (any case), AUTO by default; mfscachefiles is YES', () => {
    const mode = (option: string[]) => mountConfig('/m', { option }).cacheMode;
    expect(mode([])).toBe('AUTO');
    expect([mode(['mfscachemode=no']), mode(['mfscachemode=NONE']), mode(['mfscachemode=never'])]).toEqual(['NO', 'NO', 'NO']);
    expect([mode(['mfscachemode=Yes']), mode(['mfscachemode=ALWAYS']), mode(['mfscachefiles'])]).toEqual(['YES', 'YES', 'YES']);
    expect(mode(['mfscachemode=DIRECT'])).toBe('DIRECT');
    expect(() => mode(['mfscachemode=sometimes'])).toThrow('-o mfscachemode=sometimes: not a cache mode (AUTO, NO, YES or DIRECT)');
    expect(mountConfig('/m', { option: ['mfscachemode=YES'] }).fuseOptions).toEqual([]);
  });
});
