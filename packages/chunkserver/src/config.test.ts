import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@tsmfs/daemon';
import { describe, expect, it } from 'vitest';
import { chunkserverConfig, parseLabels, parseMasters, parseSize } from './config.js';

describe('chunkserver configuration', () => {
  it('parses sizes as MooseFS writes them', () => {
    expect(parseSize('256MiB', 'K')).toBe(256 * 2 ** 20);
    expect(parseSize('10GB', 'K')).toBe(10e9);
    expect(parseSize('1.5 GiB', 'K')).toBe(1.5 * 2 ** 30);
    expect(parseSize('1048576', 'K')).toBe(1048576);
    expect(parseSize('0', 'K')).toBe(0);
    expect(() => parseSize('lots', 'HDD_LEAVE_SPACE_DEFAULT')).toThrow(/HDD_LEAVE_SPACE_DEFAULT: 'lots' is not a size/);
  });

  it('reads MASTER_HOST as one address or an HA list', () => {
    expect(parseMasters('mfsmaster', 9420)).toEqual([{ host: 'mfsmaster', port: 9420 }]);
    expect(parseMasters('10.0.0.1:9500, m2 ,[::1]:9420', 9420)).toEqual([
      { host: '10.0.0.1', port: 9500 },
      { host: 'm2', port: 9420 },
      { host: '::1', port: 9420 },
    ]);
    expect(() => parseMasters('a:b:c', 9420)).toThrow(ConfigError);
    expect(() => parseMasters('host:0', 9420)).toThrow(ConfigError);
  });

  it('reads LABELS as a list of names', () => {
    expect(parseLabels('')).toEqual([]);
    expect(parseLabels('A, ssd ,rack_2')).toEqual(['A', 'ssd', 'rack_2']);
    expect(() => parseLabels('bad label')).toThrow(/LABELS: 'bad label'/);
  });

  it('docs/chunkserver.md lists every key with its default', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/chunkserver.md'), 'utf8');
    for (const [k, spec] of Object.entries(chunkserverConfig)) {
      expect(doc).toContain(`| \`${k}\` | ${spec.type}`);
      expect(doc).toContain(`\`${spec.default === '' ? '""' : String(spec.default)}\``);
    }
  });
});
